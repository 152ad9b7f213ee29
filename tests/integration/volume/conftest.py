"""Fixtures for volume tests against the real Docker engine (tests/conftest.py's docker_engine)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from pydantic import SecretStr

from promkit.cli import main
from promkit.core import crypto
from promkit.core.storage import LocalStorage
from promkit.volume.engine import STAGING_LABEL, ensure_helper_image
from promkit.volume.repository import Repository

# Every file kind the round trip must keep: owners, modes, links, times, dotfiles, empty dirs.
FILL_ALL_KINDS = r"""
set -e
cd /data
echo hello > plain.txt
chown 1234:2345 plain.txt && chmod 640 plain.txt
echo hidden > .dotfile
echo weird > ..double-dot
mkdir -p dir/sub/empty && chmod 750 dir/sub
echo nested > dir/sub/file && chown 42:43 dir/sub/file
ln -s plain.txt symlink
ln -s /nonexistent dangling
ln plain.txt hardlink
chmod 4755 dir/sub/file
dd if=/dev/urandom of=dir/random.bin bs=1024 count=3000 2>/dev/null
touch -d '2001-02-03 04:05:06' plain.txt dir/sub/empty
"""

# One line per entry: path, type, uid, gid, mode, link count, mtime, size, content hash / target.
LISTING = r"""
cd /data && find . -mindepth 1 | sort | while read -r p; do
  if [ -L "$p" ]; then extra="-> $(readlink "$p")"
  elif [ -f "$p" ]; then extra="$(md5sum < "$p" | cut -c1-32)"
  else extra="-"; fi
  if [ -d "$p" ] && [ ! -L "$p" ]; then
    echo "$p $(stat -c '%F %u %g %a %h' "$p") $extra"
  else
    echo "$p $(stat -c '%F %u %g %a %h %Y %s' "$p") $extra"
  fi
done
"""


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crypto.WEAK_KDF_ENV, "1")


@pytest.fixture
def client(docker_engine: Any) -> Any:
    return docker_engine.client


class Volumes:
    def __init__(self, client: Any, image: str) -> None:
        self.client = client
        self.image = image
        self.created: list[str] = []
        self.containers: list[Any] = []

    def new(self, script: str | None = None) -> str:
        name = f"pkt-{uuid.uuid4().hex[:10]}"
        self.client.volumes.create(name)
        self.created.append(name)
        if script:
            self.run(name, script)
        return name

    def adopt(self, name: str) -> str:
        self.created.append(name)
        return name

    def run(self, volume: str, script: str) -> str:
        out = self.client.containers.run(
            self.image,
            ["sh", "-c", script],
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            network_mode="none",
            remove=True,
        )
        return bytes(out).decode()

    def listing(self, volume: str) -> str:
        """Observed by busybox inside a container: independent of the archive API."""
        return self.run(volume, LISTING)

    def _helper(self, volume: str) -> Any:
        # promkit's empty helper image: creating from it is ~15x faster than busybox on vfs.
        return self.client.containers.create(
            ensure_helper_image(self.client),
            ["never-started"],
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            network_mode="none",
        )

    def put(self, volume: str, files: dict[str, bytes]) -> None:
        """Fill a volume quickly (archive API, no container start)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(f"data/{path}")
                info.size, info.mode, info.mtime = len(data), 0o644, 1_000_000_000
                tar.addfile(info, io.BytesIO(data))
        helper = self._helper(volume)
        try:
            assert helper.put_archive("/", buf.getvalue())
        finally:
            helper.remove(force=True)

    def snapshot(self, volume: str) -> list[tuple[Any, ...]]:
        """Every entry's name, type, owner, mode, mtime, link and content hash (archive API)."""
        helper = self._helper(volume)
        try:
            stream, _ = helper.get_archive("/data")
            raw = io.BytesIO(b"".join(stream))
        finally:
            helper.remove(force=True)
        out = []
        with tarfile.open(fileobj=raw, mode="r") as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m) if m.isfile() else None
                digest = hashlib.sha256(f.read()).hexdigest() if f else ""
                out.append((m.name, m.type, m.uid, m.gid, m.mode, m.linkname, digest))
        return sorted(out)

    def container(self, volume: str, *, labels: dict[str, str] | None = None) -> Any:
        c = self.client.containers.run(
            self.image,
            ["sleep", "3600"],
            volumes={volume: {"bind": "/data", "mode": "rw"}},
            network_mode="none",
            detach=True,
            labels=labels or {},
            stop_signal="SIGKILL",  # busybox sleep as PID 1 ignores SIGTERM
            name=f"pkt-{uuid.uuid4().hex[:10]}",
        )
        self.containers.append(c)
        return c

    def staging_volumes(self) -> list[str]:
        return [v.name for v in self.client.volumes.list(filters={"label": STAGING_LABEL})]

    def cleanup(self) -> None:
        for c in self.containers:
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True)
        self.containers.clear()
        for name in self.created:
            with contextlib.suppress(docker.errors.APIError):
                self.client.volumes.get(name).remove(force=True)


@pytest.fixture
def volumes(client: Any, busybox_image: str) -> Iterator[Volumes]:
    v = Volumes(client, busybox_image)
    yield v
    v.cleanup()


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository(LocalStorage(tmp_path / "repo"))


@pytest.fixture
def password() -> SecretStr:
    return SecretStr("s3cret-pass")


Confirm = Callable[[Any], bool]


def never_confirm(_plan: Any) -> bool:
    raise AssertionError("restore asked for confirmation")


# --------------------------------------------------------------------------- the CLI in-process

PASSWORD = "cli-pass-123"


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


Runner = Callable[..., Result]


@pytest.fixture
def promkit(capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch) -> Runner:
    """Run ``promkit volume ...`` in-process through the real entry point (exit codes, error
    printing), with its own environment and no terminal on stdin."""

    def run(*args: str, env: dict[str, str], check_rc: int | None = 0) -> Result:
        with monkeypatch.context() as m:
            for key in list(os.environ):
                m.delenv(key)
            for key, value in env.items():
                m.setenv(key, value)
            m.setattr(sys, "stdin", io.StringIO(""))
            try:
                main(["volume", *args])
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
        out, err = capsysbinary.readouterr()
        done = Result(rc, out.decode(), err.decode())
        if check_rc is not None:
            assert done.returncode == check_rc, (done.returncode, done.stdout, done.stderr)
        return done

    return run


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PROMKIT_", "STORAGE_"))
    }
    env[crypto.WEAK_KDF_ENV] = "1"
    env["PROMKIT_VOLUME_PASSWORD"] = PASSWORD
    env["PROMKIT_VOLUME_REPO"] = str(tmp_path / "repo")
    return env
