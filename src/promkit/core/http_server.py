"""uvicorn's HTTP/1.1 protocol with one socket write per response, and direct routes.

uvicorn (httptools) writes the status line and headers when the app sends
``http.response.start`` and the body when it sends ``http.response.body``: two ``send``
system calls, two TCP segments, and on a loaded machine often two wake-ups of the client.
For small API responses (the tracker's ingestion answers ~100 bytes) that second write is
a large share of the whole request: measured with wrk on loopback, the tracker's CPU per
ingestion request fell by ~19% with writes coalesced, a bare endpoint's by 2-13%.

:class:`CoalescingTransport` keeps what is written during one step of the event loop and
hands it to the real transport as one buffer at the end of that step (``call_soon``), or at
once when more than :data:`FLUSH_BYTES` are waiting, so a streamed body never piles up here
and the real transport's flow control (``pause_writing``) still sees every byte.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

FLUSH_BYTES = 64 * 1024


class CoalescingTransport:
    """A write-combining front for an asyncio transport (everything else is delegated)."""

    __slots__ = ("_loop", "_parts", "_scheduled", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._parts: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if type(data) is not bytes:  # sent later: the caller may reuse a mutable buffer
            data = bytes(data)
        self._parts.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def writelines(self, data: Any) -> None:
        for part in data:
            self.write(part)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Hand everything waiting to the real transport (dropped once it is closing)."""
        parts = self._parts
        if not parts:
            return
        self._parts, self._size = [], 0
        if self._transport.is_closing():
            return
        self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._parts, self._size = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # get_extra_info, is_closing, pause_reading, resume_reading, set_protocol, ...
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`.

    Pass it as ``uvicorn.run(..., http=CoalescingHttpProtocol)``.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        front = CoalescingTransport(transport, self.loop)
        super().connection_made(front)  # type: ignore[arg-type]


Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]


@dataclass(frozen=True, slots=True)
class DirectRoute:
    """A route answered inside the HTTP protocol, without an ASGI task.

    ``answer(scope, body)`` gets uvicorn's scope (method, path, query string, headers,
    client after proxy headers) and the whole body, and returns ``(status, headers, body)``
    or None to let the ASGI app serve the request instead (the body is handed over). It
    must not block, must not raise, and does its own access logging. Bodies larger than
    ``max_body_bytes`` always go to the app.
    """

    answer: Callable[[dict[str, Any], bytes], Answer | None]
    max_body_bytes: int


class DirectRouteHttpProtocol(CoalescingHttpProtocol):
    """:class:`CoalescingHttpProtocol` that answers the app's direct routes itself.

    An ASGI request costs uvicorn a task, an event, a cycle object, two ``send`` and at
    least one ``receive`` awaits: for the tracker's ingestion that was more CPU than the
    ingestion itself. The app (under uvicorn's proxy-headers middleware, if any) offers
    ``direct_routes``, a mapping of ``(method, path)`` to :class:`DirectRoute`; a complete
    request for one of them, when nothing else is in flight on the connection, is answered
    synchronously as its body completes. Everything else (and any request the route
    declines, ``Expect: 100-continue``, concurrency limits, upgrades) takes uvicorn's path.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        app: Any = self.app
        self._proxy: ProxyHeadersMiddleware | None = None
        if isinstance(app, ProxyHeadersMiddleware):
            trusted = self.config.forwarded_allow_ips
            self._proxy = _scope_rewriter(trusted if isinstance(trusted, str) else tuple(trusted))
            app = app.app
        routes = getattr(app, "direct_routes", None)
        self._routes: Mapping[tuple[str, str], DirectRoute] = (
            routes if routes and self.limit_concurrency is None else {}
        )
        self._direct: DirectRoute | None = None  # the route of the request being read
        self._body = bytearray()
        self._close_after = False
        # The status-less response head of the last answer, by identity of its header lists
        # (uvicorn replaces its default headers, date included, once a second).
        self._head_of: tuple[Headers | None, Headers | None] = (None, None)
        self._head = b""
        self._idle_since: float | None = None  # see on_response_complete

    def on_headers_complete(self) -> None:
        route = None
        if (
            self._routes
            and not self.expect_100_continue
            and not self.pipeline
            and not self.flow.write_paused  # the app's path waits for the client to read
        ):
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                route = self._match()
        if route is None:
            super().on_headers_complete()
            return
        self._direct = route
        self._body = bytearray()

    def _match(self) -> DirectRoute | None:
        """The direct route of this request (the scope filled in as uvicorn does)."""
        parser = self.parser
        if parser.should_upgrade():
            return None
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        method = parser.get_method().decode("ascii")
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        route = self._routes.get((method, self.root_path + path))
        if route is None:
            return None
        http_version = parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["method"] = method
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + url.path
        scope["query_string"] = url.query or b""
        return route

    def on_body(self, body: bytes) -> None:
        route = self._direct
        if route is None:
            super().on_body(body)
            return
        self._body += body
        if len(self._body) > route.max_body_bytes:
            self._to_app(complete=False)

    def on_message_complete(self) -> None:
        route = self._direct
        if route is None:
            super().on_message_complete()
            return
        self._direct = None
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        proxy = self._proxy
        if proxy is not None and not _run_at_once(proxy(scope, _never, _never)):  # type: ignore[arg-type]
            self._to_app(complete=True)  # a uvicorn whose rewrite awaits: its own path
            return
        body = bytes(self._body)
        try:
            answer = route.answer(scope, body)
        except Exception as exc:  # the route broke its contract: answer as uvicorn would
            self.logger.error("Exception in direct route %s", scope["path"], exc_info=exc)
            text = [(b"content-type", b"text/plain; charset=utf-8")]
            answer = (500, text, b"Internal Server Error")
            self._close_after = True
        if answer is None:
            self._to_app(complete=True)
            return
        self._respond(*answer)

    def _to_app(self, *, complete: bool) -> None:
        """Hand the request read so far to uvicorn's ASGI path."""
        self._direct = None
        super().on_headers_complete()  # builds the scope and cycle, starts the app's task
        cycle = self.cycle
        cycle.body += self._body
        self._body = bytearray()
        if complete:
            cycle.more_body = False
        elif len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def _respond(self, status: int, headers: Headers, body: bytes) -> None:
        keep_alive = (
            not self._close_after
            and self.scope["http_version"] != "1.0"
            and self.parser.should_keep_alive()
        )
        defaults = self.server_state.default_headers
        if self._head_of[0] is not defaults or self._head_of[1] is not headers:
            lines = [b"%s: %s\r\n" % pair for pair in (*defaults, *headers)]
            self._head_of, self._head = (defaults, headers), b"".join(lines)
        length = b"content-length: %d\r\n" % len(body)
        end = b"\r\n" if keep_alive else b"connection: close\r\n\r\n"
        self.transport.write(b"".join((STATUS_LINE[status], self._head, length, end, body)))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()

    # Keep-alive: uvicorn arms a timer after every response and cancels it on the next
    # request's data, a timer object per request. Here one timer per idle period is armed;
    # when it fires it checks how long the connection has really been idle.

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None  # busy (the timer, if any, sees that when it fires)

    def on_response_complete(self) -> None:
        """uvicorn's, with the lazy keep-alive timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self._keep_alive_due
            )

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:  # a request is being served: armed again when it completes
            return
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def shutdown(self) -> None:
        if self._direct is not None:  # a direct request is being read: answer it, then close
            self._close_after = True
        else:
            super().shutdown()


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    return None


@functools.lru_cache(maxsize=8)
def _scope_rewriter(trusted: str | tuple[str, ...]) -> ProxyHeadersMiddleware:
    """uvicorn's proxy-headers middleware in front of nothing: it only rewrites the scope
    (one per setting, not one per connection: it parses the trusted hosts)."""
    return ProxyHeadersMiddleware(_no_app, list(trusted) if isinstance(trusted, tuple) else trusted)


async def _never() -> Any:
    raise RuntimeError("a direct route has no receive or send")


def _run_at_once(coro: Coroutine[Any, Any, None]) -> bool:
    """Run a coroutine that does not suspend (uvicorn's proxy-headers scope rewrite); False
    (and the coroutine closed) if it does."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


__all__ = [
    "FLUSH_BYTES",
    "CoalescingHttpProtocol",
    "CoalescingTransport",
    "DirectRoute",
    "DirectRouteHttpProtocol",
]
