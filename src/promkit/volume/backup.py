"""``promkit volume backup``: volume -> archive API -> tar -> zstd|gzip -> [AEAD] -> storage."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from promkit import __version__
from promkit.core.crypto import DEFAULT_CHUNK_SIZE, EncryptionKey
from promkit.volume.archive import Compression, Progress, pack
from promkit.volume.containers import StoppedContainers, resolve_containers, signals_as_interrupts
from promkit.volume.engine import (
    MOUNT,
    ensure_helper_image,
    get_volume,
    helper_container,
    read_volume,
)
from promkit.volume.manifest import EncryptionInfo, Manifest
from promkit.volume.names import check_name, new_version
from promkit.volume.repository import Repository


@dataclass(frozen=True)
class BackupRequest:
    volume: str
    name: str
    compression: Compression = "zstd"
    password: SecretStr | None = None
    stop_containers: Sequence[str] = field(default_factory=tuple)
    helper_image: str | None = None


def run_backup(
    client: Any,
    repo: Repository,
    req: BackupRequest,
    *,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> Manifest:
    """Back up ``req.volume`` as a new version of ``req.name``; returns the committed manifest.

    Containers named in ``req.stop_containers`` are stopped only while the volume is read
    and restarted as soon as the tar stream ends (before the upload is finalised), and
    always on errors and signals. The manifest is written last; on failure the partial
    data object is removed and no version appears.
    """
    say = log or (lambda _msg: None)
    check_name(req.name)
    # scrypt (~0.4 s, GIL released) runs while the engine is asked for the volume, the
    # helper and the containers, instead of after them on the critical path.
    kdf = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promkit-kdf")
    try:
        key = kdf.submit(EncryptionKey, req.password) if req.password is not None else None
        return _backup(client, repo, req, key, progress, say)
    finally:
        kdf.shutdown(wait=False, cancel_futures=True)


def _backup(
    client: Any,
    repo: Repository,
    req: BackupRequest,
    key: Future[EncryptionKey] | None,
    progress: Progress | None,
    say: Callable[[str], None],
) -> Manifest:
    volume = get_volume(client, req.volume)
    image = ensure_helper_image(client, req.helper_image)
    containers = resolve_containers(client, req.volume, req.stop_containers)
    version = new_version()
    with (
        signals_as_interrupts(),
        helper_container(client, image, {req.volume: MOUNT}, read_only=True) as helper,
        StoppedContainers(containers, log=say) as stopped,
    ):
        say(f"backing up volume {req.volume} to {repo.url} as {req.name}@{version}")
        with repo.data_writer(req.name, version) as sink:
            # pack owns the archive stream: its reader thread closes it on every path.
            result = pack(
                read_volume(helper),
                sink,
                compression=req.compression,
                password=key.result() if key is not None else None,
                on_source_done=stopped.restart,
                progress=progress,
            )
        manifest = Manifest(
            name=req.name,
            version=version,
            volume=req.volume,
            created_at=datetime.now(UTC),
            tool_version=__version__,
            compression=req.compression,
            encryption=EncryptionInfo(chunk_size=DEFAULT_CHUNK_SIZE) if req.password else None,
            data_key=repo.data_key(req.name, version),
            tar_size=result.tar_size,
            tar_sha256=result.tar_sha256,
            stored_size=result.stored_size,
            stored_sha256=result.stored_sha256,
            volume_driver=volume.attrs.get("Driver"),
            volume_labels=volume.attrs.get("Labels") or {},
            hostname=socket.gethostname(),
            stopped_containers=stopped.names,
        )
        repo.commit(manifest)
    return manifest
