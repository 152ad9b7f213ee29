"""Child processes for real test servers: free loopback ports, readiness deadline, stop by PID."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class ServerUnavailable(RuntimeError):
    """A server binary is missing or did not become ready."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerUnavailable(f"{name} is not installed (run scripts/install-system-deps.sh)")
    return path


def _primary_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


@dataclass
class ManagedProcess:
    """A child process started for a test session and stopped by PID."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None  # run as this system user (PostgreSQL refuses root)
    stop_signal: int = signal.SIGTERM
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
            user=self.user,
            group=_primary_group(self.user) if self.user is not None else None,
            extra_groups=[] if self.user is not None else None,
            start_new_session=True,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``probe`` until it returns True; fail with the log tail on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServerUnavailable(f"{self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.1)
        self.stop()
        raise ServerUnavailable(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, self.stop_signal)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)


def http_ok(url: str, **kwargs: Any) -> Callable[[], bool]:
    def probe() -> bool:
        return httpx.get(url, timeout=2.0, **kwargs).status_code < 500

    return probe
