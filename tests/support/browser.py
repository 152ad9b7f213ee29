"""Headless Chromium (Debian's ``chromium``) driven by Playwright, and web apps served for it.

Reuse from any e2e test module by importing the fixtures (listing them in ``__all__`` keeps
ruff from calling them unused; ``pytest_plugins = ["support.browser"]`` works too but warns
that the module was imported before assertion rewriting)::

    from support.browser import ConsoleServer, browser, console, page, page_errors, \
        playwright_instance, save_screenshot
    __all__ = ["browser", "console", "page", "page_errors", "playwright_instance"]

    def test_x(console: ConsoleServer, page: Page) -> None:
        page.goto(console.url)
        ...
        save_screenshot(page, "x-step-1")

Never run ``playwright install``: the browser is the Debian package, launched through
``executable_path``. Apps run in-process under uvicorn on a socket bound to a free loopback
port, in a thread; ``ThreadedServer`` works for any ASGI app (console, tracker, ...).
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api._context_manager import PlaywrightContextManager
from starlette.types import ASGIApp

from support.servers import IN_CI, ServerUnavailable

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise ServerUnavailable("chromium is not installed (run scripts/install-system-deps.sh)")
    return path


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/e2e/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = ARTIFACTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --------------------------------------------------------------------------- serving apps


async def asgi_body(receive: Any) -> bytes:
    """The whole request body an ASGI app receives."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port, for :class:`ThreadedServer`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class ThreadedServer:
    """An ASGI app served by uvicorn in a daemon thread on a socket we bound (``http``: the
    HTTP protocol, uvicorn's name or class)."""

    app: ASGIApp
    sock: socket.socket
    http: Any = "auto"
    options: dict[str, Any] = field(default_factory=dict)  # more uvicorn.Config arguments
    server: uvicorn.Server = field(init=False)
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            http=self.http,
            **self.options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, *, ready_path: str = "/", timeout: float = 20.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise ServerUnavailable("the app's uvicorn thread exited during startup")
            try:
                if httpx.get(self.url.rstrip("/") + ready_path, timeout=2.0).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise ServerUnavailable(f"app not ready at {self.url} after {timeout}s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class ConsoleServer:
    """The real ``promkit ui`` app (real TSDB validation) on a free loopback port."""

    http: ThreadedServer
    token: str
    output_dir: Path

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def port(self) -> int:
        return self.http.port

    def stop(self) -> None:
        self.http.stop()


class DelayedExportTransport(httpx.HTTPTransport):
    """A real HTTP transport that waits before each ``/api/v1/export`` request.

    The server still answers everything; the delay only makes an export slow enough for a
    browser test to see it running and cancel it, whatever the speed of the machine.
    """

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/v1/export"):
            time.sleep(self.delay_s)
        return super().handle_request(request)


def start_console(output_dir: Path, *, export_delay_s: float = 0.0) -> ConsoleServer:
    from promkit.bundle.app import ConsoleSettings, create_app
    from promkit.core.connection import Connection, ConnectionConfig
    from promkit.core.tsdb import TSDBClient
    from promkit.core.web import ListenAddress, LocalUIPolicy, bind_listen_socket

    def slow_client(config: ConnectionConfig) -> TSDBClient:
        return TSDBClient(
            Connection.from_config(config), transport=DelayedExportTransport(export_delay_s)
        )

    bound = bind_listen_socket(ListenAddress("127.0.0.1", 0), fallback=False)
    policy = LocalUIPolicy.for_address(bound.address)
    app = create_app(
        ConsoleSettings(policy=policy, output_dir=output_dir),
        client_factory=slow_client if export_delay_s > 0 else None,
    )
    http = ThreadedServer(app, bound.sock).start(ready_path="/api/health")
    return ConsoleServer(http, policy.token.get_secret_value(), output_dir)


# --------------------------------------------------------------------------- fixtures


def _unavailable(exc: Exception) -> None:
    if IN_CI:
        pytest.fail(f"browser unavailable in CI: {exc}", pytrace=False)
    pytest.skip(f"browser unavailable: {exc}")


class _Shared:
    """One Playwright driver and one Chromium at a time, shared by reference count.

    Every module that imports the fixtures gets its own copy of each fixture, and Playwright's
    sync API refuses a second driver while one runs ("using Playwright Sync API inside the
    asyncio loop"); so the copies share one driver and one browser here, and the last copy to
    be torn down closes them. The fixtures are module-scoped: a driver left running keeps an
    event loop in the main thread, which breaks any later test that calls ``asyncio.run``.
    """

    manager: PlaywrightContextManager | None = None
    playwright: Playwright | None = None
    browser: Browser | None = None
    playwright_users = 0
    browser_users = 0


def _acquire_playwright() -> Playwright:
    if _Shared.playwright is None:
        _Shared.manager = sync_playwright()
        _Shared.playwright = _Shared.manager.start()
    _Shared.playwright_users += 1
    return _Shared.playwright


def _release_playwright() -> None:
    _Shared.playwright_users -= 1
    if _Shared.playwright_users == 0 and _Shared.playwright is not None:
        _Shared.playwright.stop()
        _Shared.playwright = _Shared.manager = None


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    yield _acquire_playwright()
    _release_playwright()


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if _Shared.browser is None:
        try:
            _Shared.browser = playwright_instance.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
            )
        except Exception as exc:  # missing binary or a launch failure
            _unavailable(exc)
            raise
    _Shared.browser_users += 1
    yield _Shared.browser
    _Shared.browser_users -= 1
    if _Shared.browser_users == 0:
        _Shared.browser.close()
        _Shared.browser = None


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    server = start_console(tmp_path_factory.mktemp("console-output"))
    yield server
    server.stop()


@dataclass
class PageErrors:
    """JavaScript errors and console errors seen by a page; tests assert it stays empty."""

    messages: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        # Chromium logs every HTTP error answer as "Failed to load resource"; the page
        # handles those itself, so only real script errors count.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.messages.append(f"console: {msg.text}")

    def on_page_error(self, exc: Exception) -> None:
        self.messages.append(f"pageerror: {exc}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Browser, page_errors: PageErrors) -> Iterator[Page]:
    """A fresh desktop-sized (1280x800) page; resize with ``page.set_viewport_size(PHONE)``."""
    context = browser.new_context(viewport=DESKTOP)
    new_page = context.new_page()
    new_page.set_default_timeout(15_000)
    new_page.on("console", page_errors.on_console)
    new_page.on("pageerror", page_errors.on_page_error)
    yield new_page
    context.close()


__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "DESKTOP",
    "PHONE",
    "ConsoleServer",
    "PageErrors",
    "ThreadedServer",
    "browser",
    "chromium_path",
    "console",
    "page",
    "page_errors",
    "playwright_instance",
    "save_screenshot",
    "start_console",
]
