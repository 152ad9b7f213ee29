"""The Docker engine for tests (via scripts/dockerd.sh) and a tiny local busybox image.

Nothing is pulled: the image is ``docker import``-ed from a rootfs holding Debian's static
``/bin/busybox`` plus one symlink per applet. The engine has no bridge network, so every
container must be created with ``network_mode="none"``.

Several pytest sessions may share one engine (parallel developers, parallel CI jobs): each
session holds a lease file while it uses the engine, and the session whose ``start`` call
launched dockerd stops it at the end only if no other live session holds a lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from support.process import ServerUnavailable

DOCKERD_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dockerd.sh"
BUSYBOX_IMAGE = "promkit-test/busybox:latest"


def _state_dir() -> Path:
    return Path(os.environ.get("PROMKIT_DOCKERD_STATE_DIR", "/tmp/promkit-dockerd"))


@dataclass
class DockerEngine:
    """A Docker engine that answers: ``base_url`` (``DOCKER_HOST`` or the default socket) and a
    ready ``client``. ``started_here`` says whether this session launched dockerd."""

    base_url: str
    client: docker.DockerClient
    started_here: bool


@contextlib.contextmanager
def _leases_locked() -> Iterator[Path]:
    leases = _state_dir() / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    with (_state_dir() / "leases.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield leases


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_script(command: str) -> str:
    if shutil.which("dockerd") is None and shutil.which("docker") is None:
        raise ServerUnavailable("docker.io is not installed (run scripts/install-system-deps.sh)")
    done = subprocess.run(
        ["bash", str(DOCKERD_SCRIPT), command], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ServerUnavailable(f"scripts/dockerd.sh {command} failed:\n{done.stderr.strip()}")
    return done.stdout.strip()


def start_docker_engine() -> DockerEngine:
    """Take a lease, start dockerd if no engine answers, and connect a client."""
    with _leases_locked() as leases:
        (leases / str(os.getpid())).touch()
    try:
        started = _run_script("start").startswith("started")
        base_url = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        client = docker.DockerClient(base_url=base_url, timeout=120)
        client.ping()
    except (ServerUnavailable, docker.errors.DockerException) as exc:
        release_docker_engine(None)
        raise ServerUnavailable(str(exc)) from exc
    return DockerEngine(base_url=base_url, client=client, started_here=started)


def release_docker_engine(engine: DockerEngine | None) -> None:
    """Drop this session's lease; stop dockerd if this session started it and no other live
    session still holds a lease."""
    if engine is not None:
        engine.client.close()
    with _leases_locked() as leases:
        (leases / str(os.getpid())).unlink(missing_ok=True)
        others = []
        for lease in leases.iterdir():
            if lease.name.isdigit() and _pid_alive(int(lease.name)):
                others.append(lease)
            else:
                lease.unlink(missing_ok=True)  # left behind by a crashed session
        if engine is not None and engine.started_here and not others:
            _run_script("stop")


def _busybox_rootfs() -> bytes:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise ServerUnavailable("/bin/busybox missing (install busybox-static)")
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in ("bin", "data", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox", recursive=False)
        for applet in applets:
            if applet == "busybox" or "/" in applet:
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(link)
    return buf.getvalue()


def ensure_busybox_image(client: docker.DockerClient) -> str:
    """``promkit-test/busybox:latest``: built once with ``docker import``, reused afterwards.
    Its Cmd is ``/bin/sh``; ``/data`` exists (a handy volume mount point)."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(BUSYBOX_IMAGE)
        return BUSYBOX_IMAGE
    repository, tag = BUSYBOX_IMAGE.rsplit(":", 1)
    client.api.import_image_from_data(
        _busybox_rootfs(), repository=repository, tag=tag, changes=['CMD ["/bin/sh"]']
    )
    client.images.get(BUSYBOX_IMAGE)  # raises if the import did not produce the tag
    return BUSYBOX_IMAGE
