"""The backup stream: tar -> zstd|gzip -> optional encryption -> storage, and back, verified.

Nothing is held whole in memory or written to local disk: each stage is a file-like
wrapper around the next, moving 1 MiB pieces. SHA-256 and sizes are taken of the tar (what
the volume held) and of the stored object (what the storage keeps), and both are checked
on the way back.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, Protocol

import zstandard
from pydantic import SecretStr

from promkit.core.crypto import DecryptingReader, EncryptingWriter, EncryptionKey, is_encrypted
from promkit.core.errors import DataError, IntegrityError, UsageError
from promkit.volume.manifest import Manifest

Compression = Literal["zstd", "gzip"]
PIECE = 1 << 20
ZSTD_LEVEL = 3
GZIP_LEVEL = 6
Progress = Callable[[int], None]


class _Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


@dataclass(frozen=True)
class PackResult:
    tar_size: int
    tar_sha256: str
    stored_size: int
    stored_sha256: str


class _HashingWriter:
    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self._sink.write(data)
        self.hash.update(data)
        n = len(memoryview(data))
        self.size += n
        return n


class _HashingReader:
    def __init__(self, source: BinaryIO, progress: Progress | None) -> None:
        self._source = source
        self._progress = progress
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.hash.update(data)
        self.size += len(data)
        if self._progress and data:
            self._progress(len(data))
        return data

    def drain(self) -> None:
        while self.read(PIECE):
            pass


def pack(
    chunks: Iterable[bytes],
    sink: _Sink,
    *,
    compression: Compression = "zstd",
    password: SecretStr | EncryptionKey | None = None,
    threads: int = 0,
    on_source_done: Callable[[], None] | None = None,
    progress: Progress | None = None,
    prefetch: bool = True,
) -> PackResult:
    """Stream a tar (``chunks``) into ``sink``; ``on_source_done`` runs as soon as the
    source is exhausted, before the compressor and upload are flushed.

    Three threads share the work so that both cores are busy: the prefetch thread receives
    the tar and hashes it, this thread compresses (zstd releases the GIL), and a writer
    thread encrypts, hashes and stores the compressed stream. Queues of 8 MiB join them,
    so memory stays flat whatever the volume size.
    """
    if compression not in ("zstd", "gzip"):
        raise UsageError(f"unknown compression {compression!r}", hint="Use zstd or gzip.")
    stored = _HashingWriter(sink)
    # The tar is hashed in the prefetch thread, overlapping compression and upload here.
    hashed = _HashedPieces(chunks)
    source: Iterable[bytes] = hashed
    encryptor: EncryptingWriter | None = None
    writer: WriterThread | None = None
    ok = False
    try:
        # Everything after this point is inside try: an interrupt anywhere (even while the
        # KDF runs) stops the reader thread, which closes the archive stream.
        if prefetch:
            # Assigned before its thread starts: an interrupt at any point leaves something
            # the finally below can stop (an orphaned reader would hold the archive stream
            # open, and the engine then blocks removing the helper forever).
            source = Prefetch(hashed, start=False)
            source.start()
        if password is not None:
            encryptor = EncryptingWriter(stored, password)
        target: Any = encryptor if encryptor is not None else stored
        if prefetch:
            writer = WriterThread(target, start=False)
            writer.start()
            target = writer
        compressor: Any
        if compression == "zstd":
            # Single-threaded on purpose: zstd worker threads fed 1 MiB writes buffer ~100 MB
            # more; the writer thread gives the overlap instead. write_size: hand the writer
            # 1 MiB pieces, not zstd's default 128 KiB (fewer queue hand-offs per byte).
            cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads, write_checksum=True)
            compressor = cctx.stream_writer(target, closefd=False, write_size=PIECE)
        else:
            compressor = gzip.GzipFile(fileobj=target, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
        for chunk in source:
            compressor.write(chunk)
            if progress:
                progress(len(chunk))
        if on_source_done:
            on_source_done()
        compressor.close()
        if writer is not None:
            writer.finish()
        if encryptor is not None:
            encryptor.close()
        ok = True
    finally:
        if isinstance(source, Prefetch):
            source.close()
        else:
            hashed.close()
        if writer is not None and not ok:
            writer.stop()
        if not ok and encryptor is not None:
            encryptor.abort()
    return PackResult(hashed.size, hashed.hash.hexdigest(), stored.size, stored.hash.hexdigest())


class WriterThread:
    """A file-like front for ``sink`` whose writes happen in a background thread.

    ``write`` queues the data (at most ``depth`` pieces wait, so memory is bounded) and
    raises at once if the thread has failed; ``finish()`` waits until everything is written
    and re-raises the thread's error; ``stop()`` (for error paths) makes the thread drop
    what is queued and exit without writing more. Written data must not be modified later
    (the compressors hand over fresh bytes objects).
    """

    def __init__(self, sink: _Sink, depth: int = 8, *, start: bool = True) -> None:
        self._sink = sink
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name="promkit-writer", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._queue.get()
                if data is None:
                    return
                self._sink.write(data)
        except BaseException as exc:
            self._error = exc
            self._stop.set()
        finally:
            # Unblock a producer waiting on a full queue.
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._stop.is_set() or self._finished:
            raise ValueError("write to a stopped or finished WriterThread")

    def _put(self, item: bytes | None) -> None:
        while True:
            self._check()
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def write(self, data: Any) -> int:
        n = len(memoryview(data))
        if n:
            self._put(bytes(data) if not isinstance(data, bytes) else data)
        return n

    def flush(self) -> None:
        """Nothing to do: ordering is kept and ``finish()`` waits for everything."""

    def finish(self) -> None:
        """Wait until all queued data is written; raise the writer's error if it failed."""
        self._put(None)
        self._finished = True
        self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)


class _HashedPieces:
    """Pass pieces through, taking their SHA-256 and total size."""

    def __init__(self, source: Iterable[bytes]) -> None:
        self._source = source
        self.hash = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._source:
            self.hash.update(piece)
            self.size += len(piece)
            yield piece

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class Prefetch:
    """Iterate ``source`` in a background thread, ``depth`` pieces ahead, so that receiving
    from Docker (which releases the GIL) overlaps hashing, compression and upload.

    The thread owns the source: ``close()`` (or exhaustion) makes it close the source
    itself, which for an archive stream closes the connection.
    """

    def __init__(
        self, source: Iterable[bytes] | _HashedPieces, depth: int = 8, *, start: bool = True
    ) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._run, name="promkit-prefetch", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self._thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for piece in self._source:
                if not self._put(("data", piece)):
                    return
            self._put(("end", None))
        except BaseException as exc:
            self._put(("error", exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            kind, value = self._queue.get()
            if kind == "data":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started: the thread closes the source
            self._thread.join(timeout=30)
        else:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()


class TarStream:
    """The verified tar of a stored backup, as an iterator of pieces.

    Construction reads only the encryption header: a wrong password fails here. Iterating
    streams the rest and withholds the final piece until the stored object's and the tar's
    sizes and SHA-256 match the manifest, so a consumer never sees a complete, unverified tar.
    """

    def __init__(
        self,
        source: BinaryIO,
        manifest: Manifest,
        password: SecretStr | None,
        progress: Progress | None = None,
    ) -> None:
        self.manifest = manifest
        self._raw = _HashingReader(source, progress)
        plain: Any = self._raw
        if manifest.encrypted:
            if password is None:
                raise UsageError(
                    f"backup {manifest.id} is encrypted; a password is needed",
                    hint="Set PROMKIT_VOLUME_PASSWORD, use --password-file, or run on a terminal.",
                )
            plain = DecryptingReader(self._raw, password)
        self._plain = plain
        self.tar_size = 0

    def _decompressed(self) -> Any:
        if self.manifest.compression == "zstd":
            return zstandard.ZstdDecompressor().stream_reader(
                self._plain, read_size=PIECE, closefd=False
            )
        return gzip.GzipFile(fileobj=self._plain, mode="rb")

    def __iter__(self) -> Iterator[bytes]:
        tar_hash = hashlib.sha256()
        held = b""
        reader = self._decompressed()
        try:
            first = True
            while True:
                piece = reader.read(PIECE)
                if first and not self.manifest.encrypted and is_encrypted(piece[:8]):
                    raise DataError("backup data is encrypted but its manifest says it is not")
                first = False
                if not piece:
                    break
                tar_hash.update(piece)
                self.tar_size += len(piece)
                if held:
                    yield held
                held = piece
        except (zstandard.ZstdError, zlib.error, OSError, EOFError) as exc:
            raise IntegrityError(
                f"backup {self.manifest.id} is damaged: cannot decompress ({exc})",
                hint="Run `promkit volume verify`; restore another version.",
            ) from None
        self._raw.drain()
        m = self.manifest
        if self._raw.size != m.stored_size or self._raw.hash.hexdigest() != m.stored_sha256:
            raise IntegrityError(
                f"backup {m.id}: stored object does not match its manifest "
                f"({self._raw.size} bytes read, {m.stored_size} expected; checksum mismatch)",
                hint="The object was modified or truncated; restore another version.",
            )
        if self.tar_size != m.tar_size or tar_hash.hexdigest() != m.tar_sha256:
            raise IntegrityError(
                f"backup {m.id}: the archive's SHA-256 does not match its manifest",
                hint="The object was modified or truncated; restore another version.",
            )
        if held:
            yield held
