"""Session-scoped real servers. In CI a server that cannot start is a failure, never a skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.servers import (
    IN_CI,
    ServerUnavailable,
    VMServer,
    start_victoria_metrics,
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
