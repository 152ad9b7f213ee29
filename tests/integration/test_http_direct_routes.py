"""uvicorn with direct routes (answered inside the HTTP protocol), over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from promkit.core.http_server import Answer, DirectRoute, DirectRouteHttpProtocol
from support.browser import ThreadedServer, asgi_body, loopback_socket

MAX_BODY = 1000
KEEP_ALIVE_SECONDS = 1


class App:
    """An echo app ("app:<body>") with one direct route, ``POST /direct``."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.direct_routes = {("POST", "/direct"): DirectRoute(self.answer, MAX_BODY)}

    def answer(self, scope: dict[str, Any], body: bytes) -> Answer | None:
        if body == b"decline":
            return None
        if body == b"boom":
            raise RuntimeError("broken route")
        headers = [(b"content-type", b"text/plain"), (b"x-client", scope["client"][0].encode())]
        return 200, headers, b"direct:" + body + b"?" + scope["query_string"]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        self.calls.append(scope["path"])
        body = await asgi_body(receive)
        if scope["path"] == "/slow":
            await asyncio.sleep(0.3)
        elif scope["path"] == "/long":  # longer than the keep-alive timeout
            await asyncio.sleep(1.5 * KEEP_ALIVE_SECONDS)
        answer = b"app:" + body
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def app() -> App:
    return App()


@pytest.fixture(scope="module")
def server(app: App) -> Iterator[str]:
    options = {"timeout_keep_alive": KEEP_ALIVE_SECONDS}
    http = ThreadedServer(app, loopback_socket(), http=DirectRouteHttpProtocol, options=options)
    yield http.start(ready_path="/ready").url.rstrip("/")
    http.stop()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def read_answers(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` whole responses (each with a content-length) from ``sock``."""
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                answers.append(head + sep + rest[:length])
                data = rest[length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, (answers, data)
        data += chunk
    return answers


def test_direct_route_is_answered_without_the_app(server: str, app: App) -> None:
    before = len(app.calls)
    with httpx.Client(base_url=server) as client:
        for i in range(100):
            r = client.post(f"/direct?n={i}", content=b"b%d" % i)
            assert r.status_code == 200 and r.content == b"direct:b%d?n=%d" % (i, i)
        assert r.headers["content-length"] == str(len(r.content))
        assert r.headers["x-client"] == "127.0.0.1"
        assert r.headers["server"] == "uvicorn" and "date" in r.headers
        assert r.headers.get("connection") is None  # kept alive
        # The app's own routes still work on the same connection, in between.
        assert client.post("/other", content=b"x").content == b"app:x"
        assert client.post("/direct", content=b"y").content == b"direct:y?"
        assert client.get("/direct").content == b"app:"  # another method: the app's
    assert app.calls[before:] == ["/other", "/direct"]


def test_a_declined_request_reaches_the_app_with_its_body(server: str, app: App) -> None:
    r = httpx.post(f"{server}/direct", content=b"decline")
    assert r.status_code == 200 and r.content == b"app:decline"
    assert app.calls[-1] == "/direct"


@pytest.mark.parametrize("size", [MAX_BODY + 1, 300_000])
def test_a_body_over_the_route_limit_goes_to_the_app_whole(server: str, size: int) -> None:
    body = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    r = httpx.post(f"{server}/direct", content=body, timeout=30)
    assert r.status_code == 200 and r.content == b"app:" + body


def test_a_chunked_body_is_collected_for_the_route(server: str) -> None:
    r = httpx.post(f"{server}/direct", content=iter([b"a" * 10, b"b" * 10, b"c"]))
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.content == b"direct:" + b"a" * 10 + b"b" * 10 + b"c?"


def last_answer(server: str, request: bytes) -> bytes:
    """The one answer to ``request``, checking that the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(request)
        (answer,) = read_answers(sock, 1)
        assert b"connection: close\r\n" in answer
        assert sock.recv(100) == b""
    return answer


def test_a_failing_route_answers_500_and_closes(server: str) -> None:
    request = b"POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nboom"
    answer = last_answer(server, request)
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert httpx.post(f"{server}/direct", content=b"ok").content == b"direct:ok?"


def test_http_1_0_gets_its_answer_and_the_connection_closed(server: str) -> None:
    answer = last_answer(server, b"POST /direct HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
    assert answer.endswith(b"\r\n\r\ndirect:hi?")


def test_expect_100_continue_takes_the_app_path(server: str) -> None:
    head = b"POST /direct HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"body")
        (answer,) = read_answers(sock, 1)
    assert answer.endswith(b"app:body")


def test_pipelined_requests_keep_their_order(server: str) -> None:
    request = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d"
    paths = [b"/slow", b"/direct", b"/other", b"/direct", b"/direct"]
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"".join(request % (path, i) for i, path in enumerate(paths)))
        answers = read_answers(sock, len(paths))
    bodies = [a.split(b"\r\n\r\n", 1)[1] for a in answers]
    # Requests behind one in flight are queued for the app, which answers them in order.
    assert bodies == [b"app:%d" % i for i in range(len(paths))]
    mixed = [(b"/direct", 0), (b"/other", 1), (b"/direct", 2)]
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"".join(request % pair for pair in mixed))
        answers = read_answers(sock, len(mixed))
    bodies = [a.split(b"\r\n\r\n", 1)[1] for a in answers]
    assert bodies[:2] == [b"direct:0?", b"app:1"] and bodies[2] in (b"direct:2?", b"app:2")


def test_forwarded_client_from_a_trusted_proxy(server: str) -> None:
    r = httpx.post(f"{server}/direct", content=b"p", headers={"X-Forwarded-For": "10.1.2.3"})
    assert r.headers["x-client"] == "10.1.2.3"


@pytest.mark.parametrize(("path", "answer"), [(b"/direct", b"direct:k?"), (b"/other", b"app:k")])
def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    server: str, path: bytes, answer: bytes
) -> None:
    request = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nk" % path
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        # Busy for more than twice the timeout: every request is answered on this connection.
        until = time.monotonic() + 2.5 * KEEP_ALIVE_SECONDS
        while time.monotonic() < until:
            sock.sendall(request)
            assert read_answers(sock, 1)[0].endswith(answer)
            time.sleep(0.3 * KEEP_ALIVE_SECONDS)
        idle_from = time.monotonic()
        assert sock.recv(100) == b""  # then closed by the server once idle
        idle = time.monotonic() - idle_from
    assert 0.5 * KEEP_ALIVE_SECONDS < idle < 5 * KEEP_ALIVE_SECONDS


def test_concurrent_clients_mixing_both_paths(server: str) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> bytes:
        path = "/direct" if i % 2 else "/other"
        return (await client.post(path, content=b"%d" % i)).content

    async def main() -> list[bytes]:
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            return await asyncio.gather(*(one(client, i) for i in range(200)))

    expected = [(b"direct:%d?" if i % 2 else b"app:%d") % i for i in range(200)]
    assert asyncio.run(main()) == expected


def test_a_request_longer_than_the_keep_alive_timeout_is_not_cut(server: str) -> None:
    request = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nk"
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(request % b"/direct")  # arms the idle timer when answered
        assert read_answers(sock, 1)[0].endswith(b"direct:k?")
        time.sleep(0.5 * KEEP_ALIVE_SECONDS)
        sock.sendall(request % b"/long")  # the timer fires while this one is served
        assert read_answers(sock, 1)[0].endswith(b"app:k")
        sock.sendall(request % b"/direct")  # and the connection is still open after it
        assert read_answers(sock, 1)[0].endswith(b"direct:k?")


def test_forwarded_client_is_ignored_from_an_untrusted_peer() -> None:
    options = {"forwarded_allow_ips": ["10.0.0.1", "10.0.0.2"]}  # not the loopback client
    http = ThreadedServer(App(), loopback_socket(), http=DirectRouteHttpProtocol, options=options)
    url = http.start(ready_path="/ready").url.rstrip("/")
    try:
        forwarded = {"X-Forwarded-For": "10.1.2.3"}
        r = httpx.post(f"{url}/direct", content=b"p", headers=forwarded)
        assert r.content == b"direct:p?" and r.headers["x-client"] == "127.0.0.1"
    finally:
        http.stop()
