"""The web app's forgotten-password pages in headless Chromium: a reset link requested in
the browser arrives at a real SMTP server, opens the reset page, and the new password signs
in. Invalid links, server rules, rate limits, a phone screen and keyboard-only use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings
from support.browser import (
    PHONE,
    PageErrors,
    ThreadedServer,
    browser,
    loopback_socket,
    page,
    page_errors,
    playwright_instance,
    save_screenshot,
)
from support.smtp import MailSink, smtp_sink

from .conftest import TEST_SECRET

__all__ = ["browser", "page", "page_errors", "playwright_instance"]
pytestmark = pytest.mark.e2e

EMAIL = "reset@example.com"
OLD = "old password 1"
NEW = "new password 2"


class MailStack:
    """The tracker in-process, sending reset mail to a real SMTP sink; its public URL is
    its own loopback address, so the mailed link opens this tracker's web app."""

    def __init__(self, tmp: Path, sink: MailSink, auth_rate_limit: int = 0) -> None:
        sock = loopback_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.sink = sink
        settings = TrackerSettings(
            database_url=f"sqlite:///{tmp / 'tracker.db'}", jwt_secret=TEST_SECRET,
            bcrypt_cost=4, dev=True, auth_rate_limit=auth_rate_limit, api_rate_limit=0,
            smtp_url=sink.url(), public_url=self.url,
        )  # fmt: skip
        self.http = ThreadedServer(create_app(settings), sock).start(ready_path="/health")

    def sign_up(self, email: str, password: str) -> None:
        body = {"email": email, "password": password}
        httpx.post(f"{self.url}/api/v1/auth/signup", json=body).raise_for_status()

    def signs_in(self, email: str, password: str) -> bool:
        body = {"email": email, "password": password}
        return httpx.post(f"{self.url}/api/v1/auth/signin", json=body).status_code == 200

    def link(self, nth: int = 1) -> str:
        mail = self.sink.wait(nth)[nth - 1]
        found = re.search(
            re.escape(self.url) + r"/app/#/reset\?token=[A-Za-z0-9_-]+", str(mail.get_content())
        )
        assert found, mail.get_content()
        return found.group(0)

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[MailStack]:
    with smtp_sink() as sink:
        s = MailStack(tmp_path, sink)
        yield s
        s.stop()


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"horizontal scrolling at 390 px: {width}"


def test_reset_page_walk_from_forgot_link_to_sign_in(
    stack: MailStack, page: Page, page_errors: PageErrors
) -> None:
    stack.sign_up(EMAIL, OLD)
    page.goto(stack.url + "/app/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_focused()
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_focused()
    page.get_by_label("Email").fill(EMAIL)
    save_screenshot(page, "tracker-reset-1-forgot")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_focused()
    expect(page.get_by_text("If an account with this email exists")).to_be_visible()
    save_screenshot(page, "tracker-reset-2-sent")

    link = stack.link()
    token = link.split("token=", 1)[1]
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_focused()
    assert page.url == stack.url + "/app/#/reset"  # the token left the address bar
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert token not in page.content()

    # client-side checks, then a server rule (bcrypt's 72 bytes) shown on its field
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("Confirm new password").fill(NEW + "x")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("The two passwords do not match.")).to_be_visible()
    expect(page.get_by_label("Confirm new password")).to_be_focused()
    long = "é" * 40  # 40 characters, 80 bytes
    page.get_by_label("New password", exact=True).fill(long)
    page.get_by_label("Confirm new password").fill(long)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("at most 72 bytes")).to_be_visible()
    expect(page.get_by_label("New password", exact=True)).to_be_focused()
    page.set_viewport_size(PHONE)
    _no_horizontal_scroll(page)
    save_screenshot(page, "tracker-reset-3-form-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("Confirm new password").fill(NEW)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_focused()
    save_screenshot(page, "tracker-reset-4-changed")
    assert not stack.signs_in(EMAIL, OLD)

    page.get_by_role("link", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(NEW)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page_errors.messages == []


def test_reset_page_with_an_invalid_or_missing_token_offers_a_new_link(
    stack: MailStack, page: Page, page_errors: PageErrors
) -> None:
    page.goto(stack.url + "/app/#/reset?token=not-a-real-token")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_focused()
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("Confirm new password").fill(NEW)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Link invalid or expired")).to_be_focused()
    expect(page.get_by_text("This link is invalid or expired, request a new one.")).to_be_visible()
    page.set_viewport_size(PHONE)
    _no_horizontal_scroll(page)
    save_screenshot(page, "tracker-reset-5-invalid-phone")
    page.get_by_role("link", name="Request a new link").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_focused()

    page.goto(stack.url + "/app/#/reset")  # e.g. reloaded after the token was taken
    expect(page.get_by_role("heading", name="Link invalid or expired")).to_be_focused()
    assert page_errors.messages == []


def test_forgot_page_keyboard_only_and_unknown_email_gets_the_same_answer(
    stack: MailStack, page: Page, page_errors: PageErrors
) -> None:
    page.goto(stack.url + "/app/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    forgot = page.get_by_role("link", name="Forgot password?")
    for _ in range(6):  # Tab from the heading past the form to the link
        page.keyboard.press("Tab")
        if forgot.evaluate("el => el === document.activeElement"):
            break
    expect(forgot).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Reset your password")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("nobody@example.com")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Check your email")).to_be_focused()
    expect(page.get_by_text("If an account with this email exists")).to_be_visible()
    page.keyboard.press("Tab")
    back = page.get_by_role("link", name="Back to sign in")
    expect(back).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    assert stack.sink.messages == []  # no account, no mail; the page could not tell
    assert page_errors.messages == []


def test_forgot_page_shows_the_rate_limit_message(
    tmp_path: Path, page: Page, page_errors: PageErrors
) -> None:
    with smtp_sink() as sink:
        stack = MailStack(tmp_path, sink, auth_rate_limit=1)
        try:
            page.goto(stack.url + "/app/#/forgot")
            page.get_by_label("Email").fill("someone@example.com")
            page.get_by_role("button", name="Send reset link").click()
            expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
            page.get_by_role("link", name="Back to sign in").click()
            page.get_by_role("link", name="Forgot password?").click()
            page.get_by_label("Email").fill("someone@example.com")
            page.get_by_role("button", name="Send reset link").click()
            alert = page.get_by_role("alert")
            expect(alert).to_contain_text("too many")
            expect(alert).to_contain_text("Retry-After")
            expect(page.get_by_label("Email")).to_have_value("someone@example.com")
            save_screenshot(page, "tracker-reset-6-rate-limited")
        finally:
            stack.stop()
    assert page_errors.messages == []


def test_reset_link_opened_while_signed_in_ends_the_session(
    stack: MailStack, page: Page, page_errors: PageErrors
) -> None:
    stack.sign_up(EMAIL, OLD)
    page.goto(stack.url + "/app/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(OLD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    httpx.post(
        f"{stack.url}/api/v1/auth/password-reset-request", json={"email": EMAIL}
    ).raise_for_status()
    page.goto(stack.link())
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_focused()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW)
    page.get_by_label("Confirm new password").fill(NEW)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_focused()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    page.goto(stack.url + "/app/#/keys")  # a new page load finds no session to restore
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page_errors.messages == []
