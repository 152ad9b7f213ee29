"""Containers that use a volume: stopped only while it is read, restarted on every path."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from promkit.core.errors import NotFoundError
from promkit.core.storage import LocalStorage
from promkit.volume.backup import BackupRequest, run_backup
from promkit.volume.containers import RestartError
from promkit.volume.repository import Repository

from .conftest import Volumes

pytestmark = pytest.mark.integration


def status(container: Any) -> str:
    container.reload()
    return str(container.status)


class WatchedStorage(LocalStorage):
    """Local storage that records container states when the upload is committed, and can
    fail after the first write."""

    def __init__(self, root: Any, container: Any, fail: bool = False) -> None:
        super().__init__(root)
        self.container = container
        self.fail = fail
        self.status_at_commit: str | None = None

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with super().writer(key) as fh:
            if self.fail and key.endswith(".data"):
                fh.write(b"partial")
                raise OSError("network went away")
            yield fh
            if key.endswith(".data"):
                self.status_at_commit = status(self.container)


@pytest.fixture
def busy_volume(volumes: Volumes) -> tuple[str, Any]:
    volume = volumes.new()
    volumes.put(volume, {"f": os.urandom(3 << 20)})
    return volume, volumes.container(volume, labels={"pkt.stop": "yes"})


@pytest.mark.parametrize("selector", ["auto", "label=pkt.stop=yes", "by-name"])
def test_volume_backup_stops_users_only_while_reading(
    client: Any, busy_volume: tuple[str, Any], tmp_path: Any, selector: str
) -> None:
    volume, container = busy_volume
    seen: list[str] = []
    storage = WatchedStorage(tmp_path / "repo", container)
    repo = Repository(storage)
    sel = container.name if selector == "by-name" else selector

    def progress(_n: int) -> None:
        if not seen:
            seen.append(status(container))

    manifest = run_backup(
        client, repo, BackupRequest(volume=volume, name="db", stop_containers=[sel]),
        progress=progress,
    )  # fmt: skip
    assert seen == ["exited"]
    assert storage.status_at_commit == "running"  # restarted before the upload was finalised
    assert status(container) == "running"
    assert manifest.stopped_containers == [container.name]


def test_volume_backup_failing_midway_restarts_and_leaves_no_version(
    client: Any, busy_volume: tuple[str, Any], tmp_path: Any
) -> None:
    volume, container = busy_volume
    storage = WatchedStorage(tmp_path / "repo", container, fail=True)
    repo = Repository(storage)
    with pytest.raises(OSError, match="network went away"):
        run_backup(client, repo, BackupRequest(volume, "db", stop_containers=["auto"]))
    assert status(container) == "running"
    assert storage.list() == []
    assert repo.version_ids("db") == []


def test_volume_backup_interrupted_restarts_containers(
    client: Any, busy_volume: tuple[str, Any], tmp_path: Any
) -> None:
    volume, container = busy_volume
    repo = Repository(LocalStorage(tmp_path / "repo"))

    def ctrl_c(_n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backup(
            client, repo, BackupRequest(volume, "db", stop_containers=["auto"]), progress=ctrl_c
        )
    assert status(container) == "running"
    assert repo.storage.list() == []
    leftovers = client.containers.list(all=True, filters={"label": "promkit.helper"})
    assert leftovers == []


def test_volume_backup_reports_a_failed_restart(
    client: Any, busy_volume: tuple[str, Any], tmp_path: Any
) -> None:
    volume, container = busy_volume
    repo = Repository(LocalStorage(tmp_path / "repo"))
    removed: list[bool] = []

    def remove_it(_n: int) -> None:
        if not removed:
            container.remove(force=True)
            removed.append(True)

    with pytest.raises(RestartError, match=container.name):
        run_backup(
            client, repo, BackupRequest(volume, "db", stop_containers=["auto"]), progress=remove_it
        )


def test_volume_unknown_container_stops_nothing(
    client: Any, busy_volume: tuple[str, Any], tmp_path: Any
) -> None:
    volume, container = busy_volume
    repo = Repository(LocalStorage(tmp_path / "repo"))
    with pytest.raises(NotFoundError, match="no-such-container"):
        run_backup(
            client,
            repo,
            BackupRequest(volume, "db", stop_containers=[container.name, "no-such-container"]),
        )
    assert status(container) == "running"
    assert repo.storage.list() == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_volume_cli_backup_killed_by_signal_restarts_containers(
    client: Any, volumes: Volumes, tmp_path: Any, sig: signal.Signals
) -> None:
    volume = volumes.new()
    # Random data through gzip: slow enough (tens of MB/s) to signal while the volume is read.
    volumes.put(volume, {f"r{i}": os.urandom(32 << 20) for i in range(4)})
    container = volumes.container(volume)
    env = dict(os.environ, PROMKIT_TESTONLY_WEAKEN_KDF="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "promkit", "volume", "backup", "--volume", volume, "--name", "s",
         "--compression", "gzip", "--stop-containers", "auto", "--repo", str(tmp_path / "r")],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while status(container) != "exited":
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"container never stopped: {proc.communicate()}")
        time.sleep(0.05)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert status(container) == "running"
    assert not list((tmp_path / "r").rglob("*.json"))
    assert not list((tmp_path / "r").rglob("*.data"))
