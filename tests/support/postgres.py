"""A throwaway PostgreSQL 15 cluster for tests (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from support.process import (
    ManagedProcess,
    ServerUnavailable,
    free_port,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")  # /usr/local/bin/postgres may be something else


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL 15 cluster owned by the ``postgres`` system user.

    Superuser ``postgres`` connects over the unix socket in ``socket_dir`` (trust); the test
    role ``user``/``password`` (CREATEDB) connects over TCP on ``127.0.0.1:port`` with
    scram-sha-256. ``create_database()`` gives a fresh database and its SQLAlchemy URL.
    """

    process: ManagedProcess
    port: int
    socket_dir: Path
    user: str = "promkit"
    password: str = "promkit-test-pw"

    def url(self, dbname: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit psycopg connection as superuser (over the unix socket)."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        )

    def create_database(self, name: str | None = None) -> str:
        dbname = name or f"t_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{dbname}" OWNER "{self.user}"')
        return dbname

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def start_postgres(base_dir: Path) -> PostgresServer:
    for tool in ("initdb", "postgres"):
        if not (PG_BIN / tool).exists():
            raise ServerUnavailable(f"{PG_BIN / tool} missing (install postgresql-15)")
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerUnavailable("no 'postgres' system user (install postgresql)") from exc
    # The pytest temp dir is root-only (0700); the cluster needs a dir postgres can enter.
    root = Path(tempfile.mkdtemp(prefix="promkit-pg-"))
    os.chown(root, pw.pw_uid, pw.pw_gid)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root)}
    as_postgres: dict[str, Any] = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    init = subprocess.run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        ],
        capture_output=True,
        env=env,
        cwd=root,
        check=False,
        **as_postgres,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"initdb failed: {init.stderr.decode(errors='replace')}")
    port = free_port()
    proc = ManagedProcess(
        name="postgres",
        argv=[
            str(PG_BIN / "postgres"),
            "-D",
            str(root / "data"),
            "-p",
            str(port),
            "-k",
            str(root),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
        ],
        log_path=base_dir / f"postgres-{port}.log",
        env=env,
        cwd=root,
        user="postgres",
        stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for pooled clients
    )
    proc.start()
    server = PostgresServer(process=proc, port=port, socket_dir=root)

    def probe() -> bool:
        with server.admin() as conn:
            conn.execute("SELECT 1")
        return True

    try:
        proc.wait_ready(probe)
    except ServerUnavailable:
        shutil.rmtree(root, ignore_errors=True)
        raise
    with server.admin() as conn:
        conn.execute(f"CREATE ROLE \"{server.user}\" LOGIN CREATEDB PASSWORD '{server.password}'")
    return server
