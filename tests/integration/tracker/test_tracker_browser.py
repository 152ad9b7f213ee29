"""tracker.js in headless Chromium: a site on another origin includes the generated snippet;
page views, SPA navigation, load timing, JS errors and data-track clicks reach /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from promkit.tracker.app import create_app
from promkit.tracker.settings import TrackerSettings
from support.browser import (
    PageErrors,
    ThreadedServer,
    browser,
    loopback_socket,
    page,
    page_errors,
    playwright_instance,
)

from .conftest import TEST_SECRET

__all__ = ["browser", "page", "page_errors", "playwright_instance"]
pytestmark = pytest.mark.e2e

CONFIGS: list[dict[str, Any]] = [
    {"name": "Page Views", "metric_type": "counter", "labels": [{"name": "page"}]},
    {"name": "signup clicks", "metric_name": "signup_clicks", "metric_type": "counter",
     "labels": [{"name": "plan"}]},
    {"name": "load", "metric_name": "page_load_time", "metric_type": "histogram",
     "labels": [{"name": "page"}]},
    {"name": "errors", "metric_name": "javascript_errors", "metric_type": "counter",
     "labels": [{"name": "page"}, {"name": "kind"}]},
    {"name": "cart", "metric_name": "cart_items", "metric_type": "gauge"},
]  # fmt: skip


class Stack:
    """The tracker (in-process uvicorn) and a user with metric configs and a key."""

    def __init__(self, tmp: Path) -> None:
        settings = TrackerSettings(
            database_url=f"sqlite:///{tmp / 'tracker.db'}", jwt_secret=TEST_SECRET,
            bcrypt_cost=4, dev=True, auth_rate_limit=0, api_rate_limit=0,
        )  # fmt: skip
        self.http = ThreadedServer(create_app(settings), loopback_socket()).start(
            ready_path="/health"
        )
        self.url = self.http.url.rstrip("/")
        creds = {"email": "web@example.com", "password": "correct horse"}
        httpx.post(f"{self.url}/api/v1/auth/signup", json=creds).raise_for_status()
        session = httpx.post(f"{self.url}/api/v1/auth/signin", json=creds).json()["data"]
        self.user_id = session["user"]["id"]
        self.auth = {"Authorization": f"Bearer {session['accessToken']}"}
        for config in CONFIGS:
            r = httpx.post(f"{self.url}/api/v1/metric-configs", json=config, headers=self.auth)
            r.raise_for_status()
        generated = httpx.post(f"{self.url}/api/v1/code-generation", json={}, headers=self.auth)
        self.key = generated.json()["data"]["api_key"]
        self.key_id = generated.json()["data"]["apiKeyId"]

    def snippet(self, auto_track: bool = True, custom_events: bool = True) -> str:
        body = {"api_key": self.key, "auto_track": auto_track, "custom_events": custom_events}
        r = httpx.post(f"{self.url}/api/v1/code-generation", json=body, headers=self.auth)
        html: str = r.json()["data"]["html"]
        return html

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"{self.url}/metrics").text
        return {
            (s.name, frozenset((k, v) for k, v in s.labels.items() if k != "user_id")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def wait_for(self, name: str, want: float, timeout: float = 20, **labels: str) -> None:
        key = (name, frozenset(labels.items()))
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.samples().get(key)
            if seen == want:
                return
            time.sleep(0.2)
        raise AssertionError(f"{name}{labels}: wanted {want}, saw {seen}; all: {self.samples()}")

    def stop(self) -> None:
        self.http.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def site() -> Iterator[Callable[[str], str]]:
    """A web site on its own origin; ``publish(html)`` returns the page URL."""
    pages: dict[str, str] = {}

    async def serve(request: Any) -> HTMLResponse:
        return HTMLResponse(pages.get("current", "<p>none</p>"))

    server = ThreadedServer(
        Starlette(routes=[Route("/{path:path}", serve)]), loopback_socket()
    ).start()

    def publish(body: str) -> str:
        pages["current"] = (
            f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"
        )
        return server.url

    yield publish
    server.stop()


BUTTON = '<button id="buy" data-track="signup_clicks" data-label-plan="pro">Buy</button>'


def test_browser_snippet_sends_page_view_and_data_track_click(
    stack: Stack, site: Callable[[str], str], page: Page, page_errors: PageErrors
) -> None:
    url = site(BUTTON + stack.snippet())
    page.goto(url)
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.click("#buy")
    page.goto("about:blank")  # pagehide: the batch leaves by beacon, key in the URL
    stack.wait_for("user_metric_page_views_total", 1, page="/")
    stack.wait_for("user_metric_signup_clicks_total", 1, plan="pro")
    assert page_errors.messages == []


def test_browser_spa_navigation_load_time_and_errors(
    stack: Stack, site: Callable[[str], str], page: Page
) -> None:
    own_handler = "<script>window.onerror = function () { window.ownHandlerRan = true; };</script>"
    url = site(own_handler + stack.snippet())
    page.goto(url)
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.evaluate("history.pushState({}, '', '/checkout')")
    page.evaluate("setTimeout(function () { throw new Error('boom ' + Math.random()); }, 0)")
    page.wait_for_function("window.ownHandlerRan === true")  # the page's handler still runs
    page.wait_for_timeout(300)  # load timing is read a tick after the load event
    page.evaluate("window.metricsTracker.flush()")
    stack.wait_for("user_metric_page_views_total", 1, page="/checkout")
    stack.wait_for("user_metric_javascript_errors_total", 1, page="/checkout", kind="error")
    samples = stack.samples()
    load = [v for (name, labels), v in samples.items() if name == "user_hist_page_load_time_sum"]
    count = [v for (name, _), v in samples.items() if name == "user_hist_page_load_time_count"]
    assert count == [1.0] and load[0] > 0  # a real, positive duration


def test_browser_auto_track_off_still_works(
    stack: Stack, site: Callable[[str], str], page: Page, page_errors: PageErrors
) -> None:
    url = site(BUTTON + stack.snippet(auto_track=False))
    page.goto(url)
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.click("#buy")
    assert page.evaluate("window.metricsTracker.set('cart_items', 3)") is True
    assert page.evaluate("window.metricsTracker.track('not_defined', 1)") is False
    page.evaluate("window.metricsTracker.flush()")
    stack.wait_for("user_metric_signup_clicks_total", 1, plan="pro")
    stack.wait_for("user_metric_cart_items", 3)
    assert ("user_metric_page_views_total", frozenset({("page", "/")})) not in stack.samples()
    assert page_errors.messages == []


def test_browser_commands_queued_before_load_are_replayed(
    stack: Stack, site: Callable[[str], str], page: Page
) -> None:
    early = "<script>window.metricsTracker=[['set','cart_items',7]];</script>"
    page.goto(site(early + stack.snippet(auto_track=False)))
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.evaluate("window.metricsTracker.flush()")
    stack.wait_for("user_metric_cart_items", 7)


def test_browser_client_errors_are_not_retried(
    stack: Stack, site: Callable[[str], str], page: Page
) -> None:
    posts: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and "/api/v1/metrics" in request.url:
            posts.append(request.url)

    page.on("request", on_request)
    page.goto(site(stack.snippet(auto_track=False)))
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    httpx.patch(
        f"{stack.url}/api/v1/api-keys/{stack.key_id}", json={"is_active": False}, headers=stack.auth
    ).raise_for_status()
    page.evaluate("window.metricsTracker.set('cart_items', 1); window.metricsTracker.flush()")
    page.wait_for_timeout(2500)  # the first retry would come after 1 s
    assert len(posts) == 1


def test_browser_snippet_added_after_load_still_counts_the_page_view(
    stack: Stack, site: Callable[[str], str], page: Page, page_errors: PageErrors
) -> None:
    """Like a React useEffect: the snippet runs after the load event has fired."""
    code = stack.snippet()[len("<script>") : -len("</script>")]
    late = (
        "<script>window.addEventListener('load', function () {"
        f" setTimeout(function () {{ {code}; }}, 200); }});</script>"
    )
    page.goto(site(late))
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.wait_for_timeout(300)
    page.evaluate("window.metricsTracker.flush()")
    stack.wait_for("user_metric_page_views_total", 1, page="/")
    samples = stack.samples()
    loads = [v for (n, _), v in samples.items() if n == "user_hist_page_load_time_count"]
    assert loads == [1.0]  # the load timing is read even though load fired earlier
    assert page_errors.messages == []


def test_browser_key_limited_to_the_site_origin_still_delivers(
    stack: Stack, site: Callable[[str], str], page: Page
) -> None:
    url = site(BUTTON + stack.snippet())
    origin = url.rstrip("/")
    httpx.patch(
        f"{stack.url}/api/v1/api-keys/{stack.key_id}",
        json={"allowed_origins": [origin]},
        headers=stack.auth,
    ).raise_for_status()
    page.goto(url)
    page.wait_for_function("window.metricsTracker && !Array.isArray(window.metricsTracker)")
    page.click("#buy")
    page.evaluate("window.metricsTracker.flush()")  # fetch carries the Origin header
    stack.wait_for("user_metric_signup_clicks_total", 1, plan="pro")
    page.click("#buy")
    page.goto("about:blank")  # so does the pagehide beacon
    stack.wait_for("user_metric_signup_clicks_total", 2, plan="pro")
