"""Docker access for volume backups: volumes, the helper image, helper containers, archive I/O.

A volume is read and written through Docker's archive API (GET/PUT ``/containers/{id}/
archive``) on a helper container that is created but never started, so backup runs no
process and needs no binary in the helper image. Only emptying a restore target runs
something (``rm`` of busybox). The helper image is made locally with ``docker import`` when
absent; nothing is ever pulled.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import shutil
import struct
import tarfile
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promkit.core.errors import ConnectError, NotFoundError, UpstreamError

HELPER_IMAGE = "promkit/volume-helper:1"
HELPER_LABEL = "promkit.helper"
SHELL_LABEL = "promkit.helper.shell"
STAGING_LABEL = "promkit.staging"
MOUNT = "/data"
PIECE = 1 << 20
# Applets the restore wipe needs; the image carries nothing else.
_APPLETS = ("sh", "rm")


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    driver: str
    created_at: str | None
    size: int | None
    labels: dict[str, str]
    containers: list[str] = field(default_factory=list)


def connect(base_url: str | None = None) -> Any:
    """A ``docker.DockerClient`` from ``base_url`` or the environment (DOCKER_HOST...)."""
    import docker
    import docker.errors

    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=300)
            if base_url
            else docker.from_env(timeout=300)
        )
        client.ping()
    except docker.errors.DockerException as exc:
        raise ConnectError(
            f"cannot connect to the Docker engine: {str(exc).splitlines()[0][:200]}",
            hint="Is dockerd running and DOCKER_HOST right? You may need root or the docker group.",
        ) from None
    return client


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    import docker.errors
    import requests

    try:
        yield
    except docker.errors.NotFound as exc:
        raise NotFoundError(f"{what}: {_explain(exc)}") from None
    except docker.errors.APIError as exc:
        raise UpstreamError(f"{what}: {_explain(exc)}") from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ConnectError(f"{what}: {str(exc)[:200]}") from None


def _explain(exc: Any) -> str:
    return str(getattr(exc, "explanation", None) or exc)[:300]


# --------------------------------------------------------------------------- volumes


def get_volume(client: Any, name: str) -> Any:
    import docker.errors

    try:
        return client.volumes.get(name)
    except docker.errors.NotFound:
        raise NotFoundError(
            f"Docker volume {name!r} not found", hint="See `promkit volume volumes`."
        ) from None


def volume_exists(client: Any, name: str) -> bool:
    try:
        get_volume(client, name)
    except NotFoundError:
        return False
    return True


def create_volume(
    client: Any, name: str, *, driver: str = "local", labels: dict[str, str] | None = None
) -> Any:
    with docker_errors(f"cannot create volume {name}"):
        return client.volumes.create(name=name, driver=driver, labels=labels or {})


def users_of(client: Any, volume: str) -> list[Any]:
    """Containers (running or not) that mount ``volume``, excluding promkit helpers."""
    with docker_errors("cannot list containers"):
        found = client.containers.list(all=True, filters={"volume": volume})
    return [c for c in found if HELPER_LABEL not in (c.labels or {})]


def list_volumes(client: Any) -> list[VolumeInfo]:
    with docker_errors("cannot list volumes"):
        usage = {v["Name"]: v for v in (client.api.df().get("Volumes") or [])}
        volumes = client.volumes.list()
    out = []
    for vol in volumes:
        attrs = vol.attrs
        size = (usage.get(vol.name, {}).get("UsageData") or {}).get("Size")
        out.append(
            VolumeInfo(
                name=vol.name,
                driver=attrs.get("Driver", ""),
                created_at=attrs.get("CreatedAt"),
                size=size if isinstance(size, int) and size >= 0 else None,
                labels=attrs.get("Labels") or {},
                containers=sorted(c.name for c in users_of(client, vol.name)),
            )
        )
    return sorted(out, key=lambda v: v.name)


# --------------------------------------------------------------------------- helper image


def _static_busybox() -> Path | None:
    """The host's busybox if it is statically linked (it must run in an empty image)."""
    found = shutil.which("busybox")
    if not found:
        return None
    path = Path(found).resolve()
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return None
    if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
        return None
    (phoff,) = struct.unpack_from("<Q", head, 32)
    phentsize, phnum = struct.unpack_from("<HH", head, 54)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 4 <= len(head) and struct.unpack_from("<I", head, off)[0] == 3:  # PT_INTERP
            return None
    return path


def helper_rootfs(busybox: Path | None) -> bytes:
    """A tiny root file system: ``/data``, ``/tmp`` and, when given, busybox ``sh``/``rm``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory, mode in (("data", 0o755), ("tmp", 0o1777), ("bin", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        if busybox is not None:
            tar.add(busybox, arcname="bin/busybox", recursive=False)
            for applet in _APPLETS:
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
                tar.addfile(link)
    return buf.getvalue()


def ensure_helper_image(client: Any, image: str | None = None) -> str:
    """The helper image to use: ``image`` if given (must exist locally), else promkit's own,
    imported from a generated root file system when absent. Never pulls."""
    import docker.errors

    if image:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise NotFoundError(
                f"helper image {image!r} is not present locally (promkit never pulls images)",
                hint=f"Load or pull it yourself, or omit --helper-image to use {HELPER_IMAGE}.",
            ) from None
        return image
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(HELPER_IMAGE)
        return HELPER_IMAGE
    busybox = _static_busybox()
    repository, tag = HELPER_IMAGE.rsplit(":", 1)
    changes = [f"LABEL {HELPER_LABEL}=1", f"LABEL {SHELL_LABEL}={'1' if busybox else '0'}"]
    with docker_errors("cannot create the helper image"):
        client.api.import_image_from_data(
            helper_rootfs(busybox), repository=repository, tag=tag, changes=changes
        )
        client.images.get(HELPER_IMAGE)
    return HELPER_IMAGE


def image_has_shell(client: Any, image: str) -> bool:
    with docker_errors(f"cannot inspect image {image}"):
        labels = client.images.get(image).labels or {}
    return bool(labels.get(SHELL_LABEL, "1") == "1")


# --------------------------------------------------------------------------- helper containers


@contextlib.contextmanager
def helper_container(
    client: Any, image: str, mounts: dict[str, str], *, read_only: bool = False
) -> Iterator[Any]:
    """A created, never started container with ``{volume: mount point}``; removed on exit."""
    binds = {
        vol: {"bind": path, "mode": "ro" if read_only else "rw"} for vol, path in mounts.items()
    }
    with docker_errors("cannot create a helper container"):
        container = client.containers.create(
            image,
            command=["/promkit-helper-never-started"],
            name=f"promkit-helper-{secrets.token_hex(4)}",
            labels={HELPER_LABEL: "1"},
            volumes=binds,
            network_mode="none",
        )
    try:
        yield container
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)


def read_volume(container: Any) -> Generator[bytes, None, None]:
    """The tar of the helper's ``/data`` (entries ``data/...``), in pieces.

    Uses the API client's request directly (the SDK's ``get_archive`` hides the response):
    closing this generator early closes the connection, which makes the engine abort the
    archive; otherwise removing the helper afterwards blocks until a timeout.
    """
    api = container.client.api
    with docker_errors("cannot read the volume through the archive API"):
        # requests asks for gzip by default and the engine then compresses the whole archive
        # on the fly at ~15 MB/s; identity streams raw tar as fast as the disk gives it.
        response = api._get(
            api._url("/containers/{0}/archive", container.id),
            params={"path": MOUNT},
            headers={"Accept-Encoding": "identity"},
            stream=True,
        )
        try:
            api._raise_for_status(response)
            api._disable_socket_timeout(api._get_raw_response_socket(response))
            fp = getattr(getattr(response.raw, "_fp", None), "fp", None)
            if response.headers.get("Transfer-Encoding") == "chunked" and fp is not None:
                yield from _dechunked(fp)
            else:
                # raw.read(n) returns full 1 MiB pieces (iter_content yields the engine's
                # ~32 KiB HTTP chunks: 30x more Python work per byte downstream).
                while piece := response.raw.read(PIECE, decode_content=False):
                    yield piece
        finally:
            response.close()


def _dechunked(fp: Any) -> Iterator[bytes]:
    """The body of a chunked HTTP response read from its buffered socket file ``fp``, in
    fresh 1 MiB pieces.

    The engine sends 32 KiB chunks; http.client + urllib3 read each into its own bytes
    object and join them (two copies and ~10 Python calls per chunk). Here the payload is
    received straight into the piece that is handed on (``readinto``), the framing lines
    are read from ``fp``'s small buffer.
    """
    piece = bytearray(PIECE)
    view = memoryview(piece)
    pos = 0
    while True:
        line = fp.readline(1024)
        if not line.endswith(b"\n"):
            raise UpstreamError("the Docker engine's archive stream ended early")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise UpstreamError("the Docker engine sent a malformed archive stream") from None
        if size == 0:
            break
        while size:
            n = fp.readinto(view[pos : pos + min(size, PIECE - pos)])
            if not n:
                raise UpstreamError("the Docker engine's archive stream ended early")
            pos += n
            size -= n
            if pos == PIECE:
                view.release()
                yield piece  # type: ignore[misc]
                piece = bytearray(PIECE)
                view = memoryview(piece)
                pos = 0
        if fp.readline(3) != b"\r\n":
            raise UpstreamError("the Docker engine sent a malformed archive stream")
    while fp.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
        pass
    if pos:
        view.release()
        del piece[pos:]
        yield piece  # type: ignore[misc]


def write_volume(container: Any, chunks: Iterable[bytes], *, at: str = "/") -> None:
    """Extract a tar into the helper at ``at``: entries ``data/...`` at ``/`` (the default)
    land in the mounted volume."""
    with docker_errors("cannot write the volume through the archive API"):
        if not container.put_archive(at, chunks):
            raise UpstreamError("the Docker engine refused the archive")


def volume_is_empty(container: Any) -> bool:
    """Whether the helper's ``/data`` holds nothing but itself (reads only the first headers)."""
    members = 0
    with (
        contextlib.closing(read_volume(container)) as pieces,
        tarfile.open(fileobj=_IterReader(pieces), mode="r|") as tar,
    ):
        for _member in tar:
            members += 1
            if members > 1:
                break
    return members <= 1


class _IterReader(io.RawIOBase):
    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._pieces)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def run_helper(client: Any, image: str, mounts: dict[str, str], command: list[str]) -> None:
    """Run ``command`` in a throwaway container (no network); fail on a non-zero exit."""
    binds = {vol: {"bind": path, "mode": "rw"} for vol, path in mounts.items()}
    with docker_errors("cannot run the helper container"):
        container = client.containers.create(
            image,
            command=command,
            name=f"promkit-helper-{secrets.token_hex(4)}",
            labels={HELPER_LABEL: "1"},
            volumes=binds,
            network_mode="none",
        )
        try:
            container.start()
            status = container.wait(timeout=3600)
            code = int(status.get("StatusCode", 1))
            if code != 0:
                logs = container.logs(stdout=True, stderr=True).decode(errors="replace")
                raise UpstreamError(
                    f"helper command {' '.join(command[:2])} failed with exit code {code}: "
                    f"{logs.strip()[-300:]}"
                )
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
