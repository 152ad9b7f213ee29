"""Rate limits shared through a real Redis: two app instances count against one budget."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.process import IN_CI, ManagedProcess, ServerUnavailable, free_port, require_binary

pytestmark = pytest.mark.integration


def _accepts(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    return probe


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    try:
        binary = require_binary("redis-server")
        port = free_port()
        proc = ManagedProcess(
            name="redis",
            argv=[binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(tmp_path)],
            log_path=tmp_path / "redis.log",
        )  # fmt: skip
        proc.start()
        proc.wait_ready(_accepts(port))
    except ServerUnavailable as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield f"redis://127.0.0.1:{port}/0"
    proc.stop()


def test_redis_rate_limit_is_shared_by_instances(
    make_client: Callable[..., TestClient], redis_url: str
) -> None:
    first = make_client(redis_url=redis_url, auth_rate_limit=3)
    second = make_client(redis_url=redis_url, auth_rate_limit=3)
    body = {"email": "nobody@example.com", "password": "wrong password"}
    codes = [
        (first if i % 2 else second).post("/api/v1/auth/signin", json=body).status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
