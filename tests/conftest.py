"""Session-scoped real servers. In CI a server that cannot start is a failure, never a skip.

Every fixture is lazy: a server starts only when a test asks for it, once per session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from support.docker_image import (
    DockerEngine,
    ensure_busybox_image,
    release_docker_engine,
    start_docker_engine,
)
from support.servers import (
    IN_CI,
    GCSServer,
    PostgresServer,
    PrometheusServer,
    S3Server,
    ServerUnavailable,
    VMAuthServer,
    VMServer,
    start_gcs,
    start_postgres,
    start_prometheus,
    start_s3,
    start_victoria_metrics,
    start_vmauth,
)

# gcsfs reads this once, at import time; with the default ("true") every call against the
# GCS emulator first waits ~60 s on a gRPC probe. Set before any test imports gcsfs.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


T = TypeVar("T")


def _unavailable(exc: ServerUnavailable) -> NoReturn:
    if IN_CI:
        pytest.fail(f"required server unavailable in CI: {exc}", pytrace=False)
    pytest.skip(f"server unavailable: {exc}")


def _started(start: Callable[[], T]) -> T:
    """``start()``; a server that cannot start fails the test in CI and skips it elsewhere."""
    try:
        return start()
    except ServerUnavailable as exc:
        _unavailable(exc)


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def vm(servers_dir: Path) -> Iterator[VMServer]:
    """One VictoriaMetrics single-node for the whole session. Use unique metric names."""
    server = _started(lambda: start_victoria_metrics(servers_dir))
    yield server
    server.stop()


@pytest.fixture
def vm_factory(servers_dir: Path) -> Iterator[Callable[..., VMServer]]:
    """Start extra, empty VictoriaMetrics instances (stopped at the end of the test)."""
    started: list[VMServer] = []

    def make(*extra_args: str) -> VMServer:
        server = _started(lambda: start_victoria_metrics(servers_dir, extra_args=extra_args))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def vmauth(servers_dir: Path, vm: VMServer) -> Iterator[VMAuthServer]:
    """vmauth in front of the session ``vm`` with basic/bearer users and managed-style tenant
    routes; see ``VMAuthServer`` for the route table and the exact error answers."""
    server = _started(lambda: start_vmauth(servers_dir, vm))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus(servers_dir: Path) -> Iterator[PrometheusServer]:
    """Prometheus accepting remote write at ``.remote_write_url``, scraping itself every 1 s."""
    server = _started(lambda: start_prometheus(servers_dir))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(servers_dir: Path) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL 15 cluster; prefer the per-test ``postgres_db`` fixture."""
    server = _started(lambda: start_postgres(servers_dir))
    yield server
    server.stop()


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database; yields its SQLAlchemy URL
    ``postgresql+psycopg://promkit:<pw>@127.0.0.1:<port>/<db>``, dropped afterwards."""
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def s3_server(servers_dir: Path) -> Iterator[S3Server]:
    """moto S3 server; ``make_bucket()`` per test, ``storage_options`` for s3fs."""
    server = _started(lambda: start_s3(servers_dir))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server(servers_dir: Path) -> Iterator[GCSServer]:
    """In-memory GCS emulator with bucket ``.bucket``; ``storage_options`` for gcsfs."""
    server = _started(lambda: start_gcs(servers_dir))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A Docker engine (``scripts/dockerd.sh start`` if none answers): ``.base_url`` and a
    ``docker.DockerClient`` as ``.client``. Containers must use ``network_mode="none"``."""
    engine = _started(start_docker_engine)
    yield engine
    release_docker_engine(engine)


@pytest.fixture(scope="session")
def busybox_image(docker_engine: DockerEngine) -> str:
    """Tag of a tiny local busybox image (``docker import``, nothing pulled); Cmd ``/bin/sh``."""
    return _started(lambda: ensure_busybox_image(docker_engine.client))
