"""uvicorn with the write-combining protocol, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest

from promkit.core.http_server import FLUSH_BYTES, CoalescingHttpProtocol
from support.browser import ThreadedServer, asgi_body, loopback_socket

BIG = 8 * 1024 * 1024


async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def,type-arg]
    if scope["type"] != "http":
        return
    body = await asgi_body(receive)
    path = scope["path"]
    if path == "/stream":  # many chunks without ever yielding to the loop
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"s" * 4096
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    answer = b"echo:" + body
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    http = ThreadedServer(app, loopback_socket(), http=CoalescingHttpProtocol).start()
    yield http.url.rstrip("/")
    http.stop()


def test_many_requests_on_one_keep_alive_connection(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        for i in range(200):
            r = client.post("/echo", content=b"n%d" % i)
            assert r.status_code == 200 and r.content == b"echo:n%d" % i
        assert client.get("/empty").status_code == 204
        r = client.head("/echo")
        assert r.status_code == 200 and r.content == b""


def test_pipelined_requests_are_answered_in_order(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"".join(request % i for i in range(5)))
        received = b""
        while received.count(b"echo:") < 5:
            data = sock.recv(65536)
            assert data, received
            received += data
    assert [int(x[:1]) for x in received.split(b"echo:")[1:]] == [0, 1, 2, 3, 4]


def test_a_large_streamed_body_arrives_whole(server: str) -> None:
    assert BIG > 4 * FLUSH_BYTES
    with httpx.Client(base_url=server, timeout=30) as client:
        r = client.get("/stream")
    assert r.status_code == 200
    assert len(r.content) == BIG and set(r.content) == {ord("s")}


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(b"body")
        final = b""
        while not final.endswith(b"echo:body"):
            data = sock.recv(65536)
            assert data, final
            final += data
    assert final.startswith(b"HTTP/1.1 200 OK")


def test_concurrent_clients(server: str) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> bytes:
        return (await client.post("/echo", content=b"%d" % i)).content

    async def main() -> list[bytes]:
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            return await asyncio.gather(*(one(client, i) for i in range(100)))

    assert asyncio.run(main()) == [b"echo:%d" % i for i in range(100)]
