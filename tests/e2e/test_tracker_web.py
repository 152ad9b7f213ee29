"""The tracker web app in headless Chromium, against a real VictoriaMetrics fed by the
tracker's remote-write forwarding.

One walk: sign up -> onboarding (definition, key, snippet, test event) -> a web site on
another origin sends events with the snippet -> the dashboard charts the points from VM.
Then a second user signs up in the same browser and sees none of the first user's data.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

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
from support.servers import VMServer

pytestmark = pytest.mark.e2e
__all__ = ["browser", "page", "page_errors", "playwright_instance"]

SECRET = "w" * 48
PASSWORD = "correct horse battery"


class WebStack:
    """The tracker in-process, forwarding its samples by remote write to a private
    VictoriaMetrics and reading the dashboard's history back from it."""

    def __init__(
        self,
        tmp: Path,
        vm_factory: Callable[..., VMServer],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.vm = vm_factory()
        monkeypatch.setenv("PROMKIT_TRACKER_QUERY_URL", self.vm.url)
        settings = TrackerSettings(
            database_url=f"sqlite:///{tmp / 'tracker.db'}", jwt_secret=SECRET, bcrypt_cost=4,
            dev=True, auth_rate_limit=0, api_rate_limit=0, flush_interval_seconds=0.2,
            remote_write_url=f"{self.vm.url}/api/v1/write",
        )  # fmt: skip
        self.http = ThreadedServer(create_app(settings), loopback_socket()).start(
            ready_path="/health"
        )
        self.url = self.http.url.rstrip("/")

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def stack(
    tmp_path: Path, vm_factory: Callable[..., VMServer], monkeypatch: pytest.MonkeyPatch
) -> Iterator[WebStack]:
    s = WebStack(tmp_path, vm_factory, monkeypatch)
    yield s
    s.stop()


@pytest.fixture
def site() -> Iterator[Callable[[str], str]]:
    """A web site on its own origin; ``publish(html)`` returns its URL."""
    pages: dict[str, str] = {}

    async def serve(_request: Any) -> HTMLResponse:
        return HTMLResponse(pages.get("current", "<p>none</p>"))

    server = ThreadedServer(
        Starlette(routes=[Route("/{path:path}", serve)]), loopback_socket()
    ).start()

    def publish(body: str) -> str:
        pages["current"] = (
            f"<!doctype html><html><head><title>shop</title></head><body>{body}</body></html>"
        )
        url: str = server.url
        return url

    yield publish
    server.stop()


def sign_up(page: Page, base: str, email: str) -> None:
    page.goto(base + "/app/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Create one").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Set up tracking")).to_be_visible()


def wait_for_points(page: Page, metric: str, timeout: float = 45) -> int:
    """Refresh the dashboard until the metric's chart has points read from VictoriaMetrics."""
    chart = page.locator(f'article[data-metric="{metric}"] svg.chart')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.get_by_role("button", name="Refresh").click()
        expect(chart).to_be_visible()
        points = int(chart.get_attribute("data-points") or 0)
        if points > 0:
            return points
        page.wait_for_timeout(1000)
    raise AssertionError(f"no points for {metric} after {timeout}s")


def test_tracker_web_walk_from_sign_up_to_chart(
    stack: WebStack, site: Callable[[str], str], page: Page, page_errors: PageErrors
) -> None:
    sign_up(page, stack.url, "ada@example.com")
    save_screenshot(page, "tracker-1-onboarding-metric")

    # 1. a definition, with an inline validation message first
    page.get_by_label("Name", exact=True).fill("Page Views")
    page.get_by_label("Labels").fill("page, bad-label")
    page.get_by_role("button", name="Create metric").click()
    expect(page.locator("#m-labels-error")).to_contain_text("bad-label")
    page.get_by_label("Labels").fill("page")
    page.get_by_role("button", name="Create metric").click()

    # 2. a key, shown once
    expect(page.get_by_role("heading", name="2. Create an API key")).to_be_visible()
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").text_content() or ""
    assert re.fullmatch(r"mk_[0-9a-f]{64}", key)
    save_screenshot(page, "tracker-2-key-shown-once")

    # 3. the snippet for that key, and a test event through real ingestion
    page.get_by_role("button", name="Generate snippet").click()
    snippet = page.locator("#snippet-html").text_content() or ""
    assert key in snippet and "tracker.js" in snippet
    page.get_by_role("button", name="Send test event").click()
    expect(page.locator("#test-result")).to_contain_text("Round trip OK", timeout=15_000)
    save_screenshot(page, "tracker-3-snippet-and-test-event")

    # events from a page on another origin that includes the snippet
    shop = page.context.new_page()
    button = '<button id="buy" data-track="page_views" data-label-page="/buy">Buy</button>'
    shop.goto(site(button + snippet))
    shop.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    shop.click("#buy")
    shop.evaluate("window.metricsTracker.flush()")
    shop.close()

    # the dashboard: stats and a chart with points read from VictoriaMetrics
    page.get_by_role("link", name="Go to the dashboard").click()
    assert wait_for_points(page, "page_views") > 0
    card = page.locator('article[data-metric="page_views"]')
    expect(card.locator(".current")).not_to_have_text("–")
    expect(page.locator("#stat-accepted")).not_to_have_text("0")
    expect(page.locator("#tsdb-hint")).to_have_count(0)
    card.get_by_role("button", name="24 h").click()
    expect(card.get_by_role("button", name="24 h")).to_have_attribute("aria-pressed", "true")
    expect(card.locator('.chart-slot[data-range="24h"] svg.chart')).to_be_visible()
    save_screenshot(page, "tracker-4-dashboard-desktop")
    page.set_viewport_size(PHONE)
    page.wait_for_function(
        """() => {
            const svg = document.querySelector('article[data-metric="page_views"] svg.chart');
            return svg !== null && Number(svg.dataset.width) <= 390;
        }"""
    )  # redrawn for the narrow screen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"horizontal scrolling at 390 px: {width}"
    save_screenshot(page, "tracker-5-dashboard-phone")

    # tokens never in web storage; the refresh cookie is HttpOnly, strict, path-limited
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies["promkit_refresh"]
    assert refresh["httpOnly"] and refresh["sameSite"] == "Strict"
    assert refresh["path"] == "/api/v1/web/session"
    assert "promkit_refresh" not in page.evaluate("document.cookie")

    # a reload keeps the session (cookie refresh), sign-out ends it
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # a second user, same browser: none of the first user's data anywhere
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, stack.url, "bob@example.com")
    page.get_by_label("Name", exact=True).fill("Page Views")
    page.get_by_role("button", name="Create metric").click()
    expect(page.get_by_role("heading", name="2. Create an API key")).to_be_visible()
    for target in ("#/", "#/keys", "#/metrics", "#/code"):
        page.goto(stack.url + "/app/" + target)
        expect(page.locator("main h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        text = page.locator("main").inner_text()
        assert key[:11] not in text and "Website" not in text, target
    page.goto(stack.url + "/app/#/")
    chart = page.locator('article[data-metric="page_views"] svg.chart')
    expect(chart).to_have_attribute("data-points", "0")
    expect(page.locator("#stat-accepted")).to_have_text("0")
    save_screenshot(page, "tracker-6-second-user-dashboard")
    assert page_errors.messages == []


def test_tracker_web_keyboard_only_sign_in(
    stack: WebStack, page: Page, page_errors: PageErrors
) -> None:
    httpx.post(
        stack.url + "/api/v1/auth/signup", json={"email": "kb@example.com", "password": PASSWORD}
    ).raise_for_status()
    page.goto(stack.url + "/app/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("kb@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("invalid email or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_focused()
    start = page.get_by_role("link", name="Start setup")
    for _ in range(15):  # Tab from the heading to the setup link
        page.keyboard.press("Tab")
        if start.evaluate("el => el === document.activeElement"):
            break
    expect(start).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1. Define your first metric")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.keyboard.type("Signups")
    page.keyboard.press("Enter")  # submits the form; then the key step takes the focus
    expect(page.get_by_role("heading", name="2. Create an API key")).to_be_focused()
    assert page_errors.messages == []


@pytest.fixture
def bare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A tracker without a TSDB (live values only); yields its base URL. Indirect
    parametrization sets the access token lifetime in seconds."""
    monkeypatch.delenv("PROMKIT_TRACKER_QUERY_URL", raising=False)
    settings = TrackerSettings(
        database_url=f"sqlite:///{tmp_path / 'tracker.db'}", jwt_secret=SECRET, bcrypt_cost=4,
        dev=True, auth_rate_limit=0, api_rate_limit=0, flush_interval_seconds=0.2,
        access_token_ttl_seconds=getattr(request, "param", 900),
    )  # fmt: skip
    http = ThreadedServer(create_app(settings), loopback_socket()).start(ready_path="/health")
    yield http.url.rstrip("/")
    http.stop()


def test_tracker_web_manage_keys_and_definitions(
    bare: str, page: Page, page_errors: PageErrors
) -> None:
    page.set_viewport_size(PHONE)
    sign_up(page, bare, "mgr@example.com")
    # definitions: server-side validation shown inline, then create / edit / pause / delete
    page.goto(bare + "/app/#/metrics")
    page.get_by_label("Name", exact=True).fill("Cart size")
    page.get_by_label("Type").select_option("gauge")
    page.get_by_label("Histogram buckets").fill("1, 5")
    page.get_by_role("button", name="Create metric").click()
    expect(page.locator("#m-buckets-error")).to_have_text("Buckets are only for histograms.")
    page.get_by_label("Histogram buckets").fill("")
    page.get_by_role("button", name="Create metric").click()
    item = page.locator('li[data-metric="cart_size"]')
    expect(item).to_contain_text("gauge")
    page.get_by_label("Name", exact=True).fill("Other")
    page.get_by_label("Metric name").fill("cart_size")
    page.get_by_role("button", name="Create metric").click()  # a duplicate: 409 from the server
    expect(page.locator("#m-metric-name-error")).to_contain_text("already have a metric")
    item.get_by_role("button", name="Pause").click()
    expect(item.locator(".badge")).to_have_text("paused")
    item.get_by_role("link", name="Edit Cart size").click()
    page.get_by_label("Help text").fill("<b>items</b> in the cart")
    page.get_by_role("button", name="Save changes").click()
    expect(item).to_be_visible()
    item.get_by_role("button", name="Resume").click()
    expect(item.locator(".badge")).to_have_text("active")
    save_screenshot(page, "tracker-7-metrics-phone")

    # keys: create (shown once, copy), rename, deactivate, delete
    page.goto(bare + "/app/#/keys")
    page.get_by_label("Key name").fill("<script>alert(1)</script>")
    page.get_by_role("button", name="Create key").click()
    raw = page.locator("#new-key").text_content() or ""
    assert raw.startswith("mk_")
    key = page.locator("li[data-key]")
    expect(key.locator("h3")).to_have_text("<script>alert(1)</script>")  # text, not markup
    key.get_by_role("button", name=re.compile("^Rename")).click()
    page.get_by_label("New name").fill("Shop")
    page.get_by_role("button", name="Save name").click()
    expect(key.locator("h3")).to_have_text("Shop")
    expect(page.locator("#new-key")).to_have_count(0)  # never shown again
    key.get_by_role("button", name="Deactivate").click()
    expect(key.locator(".badge")).to_have_text("inactive")
    r = httpx.post(
        bare + "/api/v1/metrics",
        json={"metrics": [{"name": "cart_size", "value": 1}]},
        headers={"X-API-Key": raw},
    )
    assert r.status_code == 401  # the deactivated key no longer ingests
    key.get_by_role("button", name="Activate").click()
    expect(key.locator(".badge")).to_have_text("active")

    # the dashboard without a TSDB: live value and a hint
    ok = httpx.post(
        bare + "/api/v1/metrics",
        json={"metrics": [{"name": "cart_size", "value": 7}]},
        headers={"X-API-Key": raw},
    )
    assert ok.status_code == 200, ok.text
    page.goto(bare + "/app/#/")
    card = page.locator('article[data-metric="cart_size"]')
    expect(card.locator(".current")).to_have_text("7")
    expect(page.locator("#tsdb-hint")).to_contain_text("PROMKIT_TRACKER_QUERY_URL")
    expect(card).to_contain_text("Live value only")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download dashboard").click()
    assert "cart_size" in Path(download.value.path()).read_text()

    page.goto(bare + "/app/#/keys")
    key.get_by_role("button", name="Delete").click()
    key.get_by_role("button", name="Confirm: delete").click()
    expect(page.locator("li[data-key]")).to_have_count(0)
    page.goto(bare + "/app/#/metrics")
    item.get_by_role("button", name="Delete").click()
    item.get_by_role("button", name="Confirm: delete").click()
    expect(item).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page_errors.messages == []


@pytest.mark.parametrize("bare", [2], indirect=True)
def test_tracker_web_expired_access_token_is_refreshed_once_silently(
    bare: str, page: Page, page_errors: PageErrors
) -> None:
    refreshes: list[str] = []
    page.on(
        "request",
        lambda req: refreshes.append(req.url) if req.url.endswith("/session/refresh") else None,
    )
    sign_up(page, bare, "ttl@example.com")
    for name in ("One", "Two", "Three"):
        page.goto(bare + "/app/#/metrics")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create metric").click()
        expect(page.locator(f'li[data-metric="{name.lower()}"]')).to_be_visible()
    page.goto(bare + "/app/#/")
    expect(page.locator("article.metric")).to_have_count(3)
    page.wait_for_timeout(2500)  # the in-memory access token expires
    before = len(refreshes)
    for card in page.locator("article.metric").all():  # three API calls at once
        card.get_by_role("button", name="7 d").click()
    for card in page.locator("article.metric").all():
        expect(card.get_by_role("button", name="7 d")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()  # still signed in
    assert len(refreshes) - before >= 1
    page.reload()  # a new page: the session comes back from the cookie
    expect(
        page.get_by_role("link", name="Sign out").or_(page.get_by_role("button", name="Sign out"))
    ).to_be_visible()
    assert page_errors.messages == []
