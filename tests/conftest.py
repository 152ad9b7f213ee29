"""Session-scoped real servers. In CI a server that cannot start is a failure, never a skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.servers import (
    IN_CI,
    ServerUnavailable,
    VMAuthServer,
    VMServer,
    start_victoria_metrics,
    start_vmauth,
)


def _unavailable(exc: ServerUnavailable) -> None:
    if IN_CI:
        pytest.fail(f"required server unavailable in CI: {exc}", pytrace=False)
    pytest.skip(f"server unavailable: {exc}")


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def vm(servers_dir: Path) -> Iterator[VMServer]:
    """One VictoriaMetrics single-node for the whole session. Use unique metric names."""
    try:
        server = start_victoria_metrics(servers_dir)
    except ServerUnavailable as exc:
        _unavailable(exc)
        raise
    yield server
    server.stop()


@pytest.fixture
def vm_factory(servers_dir: Path) -> Iterator[Callable[..., VMServer]]:
    """Start extra, empty VictoriaMetrics instances (stopped at the end of the test)."""
    started: list[VMServer] = []

    def make(*extra_args: str) -> VMServer:
        try:
            server = start_victoria_metrics(servers_dir, extra_args=extra_args)
        except ServerUnavailable as exc:
            _unavailable(exc)
            raise
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def vmauth(servers_dir: Path, vm: VMServer) -> Iterator[VMAuthServer]:
    """vmauth in front of the session ``vm`` with basic/bearer users and managed-style tenant
    routes; see ``VMAuthServer`` for the route table and the exact error answers."""
    try:
        server = start_vmauth(servers_dir, vm)
    except ServerUnavailable as exc:
        _unavailable(exc)
        raise
    yield server
    server.stop()
