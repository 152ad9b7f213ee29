"""The console's connection page in headless Chromium against a real VictoriaMetrics."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from promkit.core.web import TOKEN_HEADER
from support.browser import (  # the fixtures are imported to register them here
    PHONE,
    ConsoleServer,
    PageErrors,
    browser,
    console,
    page,
    page_errors,
    playwright_instance,
    save_screenshot,
)
from support.servers import VMServer, free_port

pytestmark = pytest.mark.e2e
__all__ = ["browser", "console", "page", "page_errors", "playwright_instance"]


def reported_version(console: ConsoleServer, url: str) -> str | None:
    """The version the console's API reports for ``url`` (what the page must show)."""
    r = httpx.post(
        console.url + "api/validate",
        json={"connection": {"url": url}},
        headers={TOKEN_HEADER: console.token},
        timeout=30,
    )
    r.raise_for_status()
    version: str | None = r.json()["version"]
    return version


def _open(page: Page, console: ConsoleServer) -> None:
    """Open the wizard and walk to its connection step (mode and time range as defaulted)."""
    page.goto(console.url)
    for _ in range(2):
        page.locator("section.step:not([hidden]) button.next").click()
    expect(page.get_by_role("heading", name="Connect to your metrics server")).to_be_visible()


def test_validate_page_shows_flavour_and_version_of_real_vm(
    page: Page, console: ConsoleServer, vm: VMServer, page_errors: PageErrors
) -> None:
    _open(page, console)
    expect(page.locator("#version")).to_have_text(re.compile(r"^v\S+"))
    save_screenshot(page, "validate-1-empty-1280x800")

    page.get_by_label("Server URL").fill(vm.url)
    page.get_by_role("button", name="Test connection").click()

    result = page.locator("#result")
    expect(result.get_by_role("heading", name="Connected")).to_be_visible()
    facts = page.locator("#result-facts")
    expect(facts).to_contain_text("vmsingle")
    expect(facts).to_contain_text(vm.url)
    # The page shows the version the server reports (Debian's 1.79.5 build reports none).
    expected = reported_version(console, vm.url)
    version = facts.locator("dt:text-is('Version') + dd")
    expect(version).to_have_text(expected or "not reported by the server")
    save_screenshot(page, "validate-2-connected-1280x800")

    page.set_viewport_size(PHONE)
    expect(facts).to_contain_text("vmsingle")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"horizontal scrolling at 390px: {width}px wide"
    save_screenshot(page, "validate-3-connected-390x844")
    assert page_errors.messages == []


def test_validate_page_shows_error_and_hint_for_unreachable_url(
    page: Page, console: ConsoleServer, page_errors: PageErrors
) -> None:
    _open(page, console)
    page.get_by_label("Server URL").fill(f"http://127.0.0.1:{free_port()}")
    page.get_by_role("button", name="Test connection").click()

    result = page.locator("#result")
    expect(result.get_by_role("heading", name="Connection failed")).to_be_visible()
    expect(page.locator("#result-error")).to_contain_text("cannot connect")
    expect(page.locator("#result-hint")).to_contain_text("server is running")
    expect(page.locator("#attempts")).to_be_visible()
    save_screenshot(page, "validate-4-unreachable-1280x800")

    page.set_viewport_size(PHONE)
    expect(page.locator("#result-hint")).to_be_visible()
    save_screenshot(page, "validate-5-unreachable-390x844")
    assert page_errors.messages == []


def test_validate_page_is_keyboard_usable_with_visible_focus(
    page: Page, console: ConsoleServer, vm: VMServer
) -> None:
    _open(page, console)
    url = page.get_by_label("Server URL")
    url.focus()
    page.keyboard.type(vm.url)
    # Tab to the auth select, pick "basic" with the keyboard, and the basic fields appear.
    page.keyboard.press("Tab")
    expect(page.locator("#auth-type")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "focused control has no visible outline"
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    page.select_option("#auth-type", "none")
    expect(page.get_by_label("Username")).to_be_hidden()
    # Enter in a text field submits the form.
    url.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-facts")).to_contain_text("vmsingle")
    expect(page.locator("#result")).to_be_focused()


def test_validate_page_renders_server_text_as_text_not_markup(
    page: Page, console: ConsoleServer, page_errors: PageErrors
) -> None:
    _open(page, console)
    hostile = "http://<img src=x onerror=window.__pwned=1>.invalid"
    page.get_by_label("Server URL").fill(hostile)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result-error")).to_contain_text("<img")
    assert page.locator("#result img").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_validate_page_auth_fields_match_the_auth_type(page: Page, console: ConsoleServer) -> None:
    _open(page, console)
    cases = {
        "none": [],
        "basic": ["Username", "Password"],
        "bearer": ["Token"],
        "header": ["Header name", "Header value"],
    }
    all_labels = {label for labels in cases.values() for label in labels}
    for auth_type, visible in cases.items():
        page.select_option("#auth-type", auth_type)
        for label in all_labels:
            field = page.get_by_label(label, exact=True)
            if label in visible:
                expect(field).to_be_visible()
            else:
                expect(field).to_be_hidden()
    for kind in ("password", "token", "header-value"):
        assert page.locator(f"#{kind}").get_attribute("type") == "password"
    page.get_by_label("Verify the server certificate").uncheck()
    expect(page.locator("#tls-warning")).to_be_visible()
