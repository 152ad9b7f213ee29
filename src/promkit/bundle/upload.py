"""The import pipeline: bundle lines → rewrite → gzip chunks → ``/api/v1/import``.

A producer thread reads and rewrites lines (``LineRewriter``: labels, shift, trim, per-point
value fixes) into chunks of about ``chunk_bytes`` of JSON lines, each gzip-compressed on its
own; the calling thread POSTs them one by one (a small queue keeps the next chunk ready while
the server ingests the current one). The sink owns the retries: 429, 5xx and network errors
are retried with capped exponential backoff and jitter; any other 4xx fails at once.

After every acknowledged chunk the checkpoint (``checkpoint.json`` in the job's staging
directory) records the chunk index and the source byte offset after its last line, together
with the resolved shift and cutoff. A resumed run (same bundle, target and options) skips to
that offset, sending nothing twice, and replays the skipped lines only through the counters.

Tenants: the import URL comes from ``Connection`` (``/insert/<t>/prometheus`` for a cluster,
the managed/vmauth path as given); the tenant also travels as ``X-Vm-AccountID``,
``X-Vm-ProjectID`` and ``X-Vm-TenantID`` headers for proxies that route by header.
"""

from __future__ import annotations

import hashlib
import math
import queue
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from promkit.bundle.alignment import LineResult, LineRewriter, ShiftMode, ShiftSpec, plain_lines
from promkit.bundle.reader import BundleReader
from promkit.bundle.verify import SentTracker, Verification, verify_import
from promkit.core.connection import Connection
from promkit.core.errors import (
    AuthError,
    ConnectError,
    DataError,
    PromkitError,
    UnsupportedError,
    UpstreamError,
)
from promkit.core.tsdb import TSDBClient

__all__ = [
    "ImportContext",
    "ImportOptions",
    "ImportPlan",
    "ImportResult",
    "RetryPolicy",
    "import_fingerprint",
    "import_runner",
    "run_upload",
    "tenant_headers",
]

CHECKPOINT_VERSION = 1


class ImportContext(Protocol):
    """Progress/cancel/checkpoint hooks; ``promkit.core.jobs.JobContext`` provides them."""

    staging_dir: Path

    def check_canceled(self) -> None: ...
    def set_total(self, total_windows: int) -> None: ...
    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None: ...
    def window_done(
        self,
        index: int,
        *,
        samples: int = 0,
        lines: int = 0,
        time_range: tuple[int, int] | None = None,
    ) -> None: ...
    def save_checkpoint(self, data: dict[str, Any]) -> None: ...
    def load_checkpoint(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * (2.0**attempt))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class ImportOptions:
    shift_ms: int = 0
    cutoff_ms: int | None = None
    add_labels: tuple[tuple[str, str], ...] = ()
    drop_labels: tuple[str, ...] = ()
    chunk_bytes: int = 4 << 20
    compress_level: int = 1
    retry: RetryPolicy = RetryPolicy()


class ImportResult(BaseModel):
    bundle: str
    import_url: str
    tenant_id: str | None
    shift_ms: int
    cutoff_ms: int | None
    chunks: int
    resumed_from_chunk: int = 0
    bytes_sent: int = 0
    lines: int = 0
    bad_lines: int = 0
    samples_sent: int = 0
    nan_points: int = 0
    dropped_retention: int = 0
    skipped_values: int = 0
    retries: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    checksum_verified: bool = False
    bad_line_examples: list[str] = []
    verification: Verification | None = None


def tenant_headers(conn: Connection) -> dict[str, str]:
    """Tenant headers for proxies that route by header (VictoriaMetrics routes by path)."""
    tenant = conn.tenant_id
    if not tenant or tenant == "multitenant":
        return {}
    account, _, project = tenant.partition(":")
    return {
        "X-Vm-AccountID": account,
        "X-Vm-ProjectID": project or "0",
        "X-Vm-TenantID": tenant,
    }


def import_fingerprint(reader: BundleReader, conn: Connection, spec: str, opts: str) -> str:
    """Identifies one import (bundle file, target, options) for checkpoint reuse."""
    st = reader.info.path.stat()
    parts = [
        str(reader.info.path.resolve()),
        str(st.st_size),
        str(st.st_mtime_ns),
        conn.import_base_url,
        conn.tenant_id or "",
        spec,
        opts,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Counts:
    lines: int = 0
    bad_lines: int = 0
    samples: int = 0
    nan: int = 0
    dropped: int = 0
    skipped: int = 0
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True)
class _Chunk:
    index: int
    body: bytes
    end_offset: int
    lines: int
    samples: int
    time_range: tuple[int, int] | None


_DONE = object()
_FIRST_CHUNK = 256 << 10


class _Producer:
    """Reads, rewrites and compresses chunks on a thread; the queue bounds memory."""

    def __init__(
        self,
        reader: BundleReader,
        rewriter: LineRewriter,
        opts: ImportOptions,
        *,
        start_offset: int,
        start_chunk: int,
        tracker: SentTracker,
    ) -> None:
        self.reader = reader
        self.rewriter = rewriter
        self.opts = opts
        self.start_offset = start_offset
        self.start_chunk = start_chunk
        self.tracker = tracker
        self.counts = _Counts()
        self.examples: list[str] = []
        self.queue: queue.Queue[object] = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="promkit-import-read", daemon=True)

    def _put(self, item: object) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            for chunk in self._chunks():
                if self.stop.is_set():
                    return
                self._put(chunk)
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)

    def _rewrite(self, line: bytes) -> LineResult | None:
        c = self.counts
        c.lines += 1
        try:
            res = self.rewriter.rewrite(line)
        except PromkitError as exc:
            c.bad_lines += 1
            if len(self.examples) < 5:
                self.examples.append(f"line {c.lines}: {exc.message}")
            return None
        c.dropped += res.dropped_retention
        c.skipped += res.skipped_values
        if res.line is None:
            return None
        c.samples += res.kept
        c.nan += res.nan
        self.tracker.add(res)
        return res

    def _plain(self, found: list[tuple[bytes, bytes, bytes]]) -> int:
        """Count and track lines that go out as they are; return their samples."""
        c = self.counts
        track = self.tracker.add_plain
        samples = nan = 0
        for metric, values, stamps in found:
            samples += values.count(b",") + 1
            nan += values.count(b"NaN")
            track(metric, values, stamps)
        c.lines += len(found)
        c.samples += samples
        c.nan += nan
        return samples

    def _chunks(self) -> Iterator[_Chunk]:
        """Whole blocks of plain lines go out byte for byte (checked by one regex pass);
        other blocks, and every block when labels or timestamps change, line by line."""
        batch = _Batch(self.start_chunk, self.opts)
        resume = self.start_offset
        piece = min(self.opts.chunk_bytes, _FIRST_CHUNK)
        for block, start in _pieces(self.reader.blocks(), piece):
            end = start + len(block)
            whole = end <= resume or start >= resume  # no straddling of the resume point
            found = plain_lines(block) if self.rewriter.identity and whole else None
            if found is not None:
                n = self._plain(found)
                if end > resume:
                    batch.add(block if block.endswith(b"\n") else block + b"\n", len(found), n, end)
            else:
                for line, line_end in _split(block, start):
                    res = self._rewrite(line)
                    if res is None or res.line is None or line_end <= resume:
                        continue  # skipped, or acknowledged in an earlier run: counted only
                    batch.add(res.line, 1, res.kept, line_end)
                    if batch.full():
                        yield batch.take()
            if batch.full():
                yield batch.take()
        if batch.parts:
            yield batch.take()


class _Batch:
    """The JSON lines of the next chunk."""

    def __init__(self, index: int, opts: ImportOptions) -> None:
        self.index = index
        self.first = index
        self.opts = opts
        self.parts: list[bytes] = []
        self.size = self.lines = self.samples = self.end_offset = 0

    def add(self, data: bytes, lines: int, samples: int, end_offset: int) -> None:
        self.parts.append(data)
        self.size += len(data)
        self.lines += lines
        self.samples += samples
        self.end_offset = end_offset

    def full(self) -> bool:
        # small chunks first, so the server starts working while the next ones are built
        ramp = _FIRST_CHUNK << min(self.index - self.first, 10)
        return self.size >= min(self.opts.chunk_bytes, ramp)

    def take(self) -> _Chunk:
        body = _gzip(self.parts, self.opts.compress_level)
        chunk = _Chunk(self.index, body, self.end_offset, self.lines, self.samples, None)
        self.index += 1
        self.parts = []
        self.size = self.lines = self.samples = 0
        return chunk


def _pieces(blocks: Iterator[tuple[bytes, int]], size: int) -> Iterator[tuple[bytes, int]]:
    """Blocks cut at line ends into pieces of about ``size`` bytes (at most one chunk)."""
    for block, start in blocks:
        pos = 0
        while len(block) - pos > size:
            nl = block.find(b"\n", pos + size)
            if nl < 0:
                break
            yield block[pos : nl + 1], start + pos
            pos = nl + 1
        if pos < len(block):
            yield (block[pos:] if pos else block), start + pos


def _split(block: bytes, start: int) -> Iterator[tuple[bytes, int]]:
    """The non-blank lines of a block with the stream offset after each."""
    pos = 0
    n = len(block)
    while pos < n:
        nl = block.find(b"\n", pos)
        stop = n if nl < 0 else nl
        after = n if nl < 0 else nl + 1
        line = block[pos:stop]
        if line.endswith(b"\r"):
            line = line[:-1]
        if line and not line.isspace():
            yield line, start + after
        pos = after


def _gzip(lines: list[bytes], level: int) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(b"".join(lines)) + comp.flush()


class _Sender:
    def __init__(
        self,
        conn: Connection,
        client: TSDBClient,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.conn = conn
        self.tsdb = client
        self.policy = policy
        self.sleep = sleep
        self.url = conn.api_url("import", base=conn.import_base_url)
        self.http = conn.client(transport=transport)
        self.headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            **tenant_headers(conn),
        }
        self.retries = 0

    def close(self) -> None:
        self.http.close()

    def post(self, body: bytes, check_canceled: Callable[[], None]) -> None:
        attempt = 0
        while True:
            error = self._try(body)
            if error is None:
                return
            retryable, exc = error
            if not retryable or attempt + 1 >= self.policy.attempts:
                raise exc
            self.retries += 1
            self.sleep(self.policy.delay(attempt))
            attempt += 1
            check_canceled()

    def _try(self, body: bytes) -> tuple[bool, PromkitError] | None:
        where = self.conn.import_base_url
        try:
            response = self.http.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as exc:
            reason = self.tsdb.scrub(str(exc)) or type(exc).__name__
            return True, ConnectError(
                f"import to {where} failed: {reason}",
                hint="check that the server is running and reachable; the import resumes "
                "from the last acknowledged chunk when run again",
            )
        status = response.status_code
        if status < 300:
            return None
        text = self.tsdb.scrub(response.text.strip())[:300]
        detail = f"HTTP {status}{': ' + text if text else ''}"
        if status == 429 or status >= 500:
            return True, UpstreamError(
                f"import to {where} failed after retries: {detail}",
                hint="the server is overloaded or down; run the import again to resume",
            )
        if status in (401, 403):
            return False, AuthError(f"credentials refused by {self.conn.origin} ({detail})")
        if status == 404 or "missing route" in text or "unsupported path" in text:
            return False, UnsupportedError(
                f"{where} has no import API ({detail})",
                hint="import needs VictoriaMetrics: single-node, vminsert "
                "(/insert/<tenant>/prometheus) or vmauth with an import route",
            )
        return False, DataError(f"the server rejected the imported data: {detail}")


def run_upload(
    reader: BundleReader,
    conn: Connection,
    client: TSDBClient,
    opts: ImportOptions,
    ctx: ImportContext,
    *,
    fingerprint: str,
    tracker: SentTracker | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> tuple[ImportResult, SentTracker]:
    """Send the whole bundle (or the rest of it after a checkpoint). Raises on failure with
    the checkpoint saved, so running it again resumes."""
    tracker = tracker or SentTracker()
    checkpoint = ctx.load_checkpoint()
    start_chunk = start_offset = 0
    shift_ms, cutoff_ms = opts.shift_ms, opts.cutoff_ms
    if checkpoint and checkpoint.get("fingerprint") == fingerprint:
        start_chunk = int(checkpoint.get("chunks", 0))
        start_offset = int(checkpoint.get("offset", 0))
        shift_ms = int(checkpoint.get("shift_ms", shift_ms))
        cutoff_ms = checkpoint.get("cutoff_ms", cutoff_ms)
    rewriter = LineRewriter(
        shift_ms=shift_ms,
        cutoff_ms=cutoff_ms,
        add_labels=dict(opts.add_labels),
        drop_labels=opts.drop_labels,
    )
    total_guess = reader.info.declared_bytes or reader.info.file_bytes
    ctx.set_total(max(start_chunk + 1, math.ceil(total_guess / opts.chunk_bytes)))
    producer = _Producer(
        reader,
        rewriter,
        opts,
        start_offset=start_offset,
        start_chunk=start_chunk,
        tracker=tracker,
    )
    sender = _Sender(conn, client, opts.retry, sleep, transport)
    result = ImportResult(
        bundle=str(reader.info.path),
        import_url=sender.url,
        tenant_id=conn.tenant_id,
        shift_ms=shift_ms,
        cutoff_ms=cutoff_ms,
        chunks=start_chunk,
        resumed_from_chunk=start_chunk,
    )

    def save(chunks: int, offset: int) -> None:
        ctx.save_checkpoint(
            {
                "version": CHECKPOINT_VERSION,
                "fingerprint": fingerprint,
                "chunks": chunks,
                "offset": offset,
                "shift_ms": shift_ms,
                "cutoff_ms": cutoff_ms,
            }
        )

    if start_chunk == 0:
        save(0, 0)
    producer.thread.start()
    try:
        while True:
            ctx.check_canceled()
            item = producer.queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, _Chunk)
            sender.post(item.body, ctx.check_canceled)
            result.bytes_sent += len(item.body)
            result.chunks = item.index + 1
            save(item.index + 1, item.end_offset)
            ctx.window_done(
                item.index, samples=item.samples, lines=item.lines, time_range=item.time_range
            )
    finally:
        producer.stop.set()
        producer.thread.join(timeout=5)
        sender.close()
        result.retries = sender.retries
    c = producer.counts
    result.lines, result.bad_lines = c.lines, c.bad_lines
    result.samples_sent, result.nan_points = c.samples, c.nan
    result.dropped_retention, result.skipped_values = c.dropped, c.skipped
    result.first_ms, result.last_ms = tracker.first_ms, tracker.last_ms
    result.bad_line_examples = producer.examples
    result.checksum_verified = reader.verified
    ctx.set_total(result.chunks)
    return result, tracker


@dataclass(frozen=True)
class ImportPlan:
    """Everything ``promkit import run`` decides before the first byte moves."""

    shift: ShiftSpec = field(default_factory=ShiftSpec)
    retention_ms: int | None = None
    add_labels: dict[str, str] = field(default_factory=dict)
    drop_labels: tuple[str, ...] = ()
    chunk_bytes: int = 4 << 20
    compress_level: int = 1
    retry: RetryPolicy = RetryPolicy()
    verify: bool = True
    verify_timeout_s: float = 60.0

    def key(self) -> str:
        """The options that change what is sent (part of the checkpoint fingerprint)."""
        return repr(
            (
                self.shift,
                self.retention_ms is not None,
                sorted(self.add_labels.items()),
                self.drop_labels,
            )
        )


def scan_range(reader: BundleReader) -> tuple[int | None, int | None]:
    """The first and last timestamp of the bundle (one pass; checks the checksum too)."""
    lo: int | None = None
    hi: int | None = None
    rewrite = LineRewriter().rewrite
    for line, _ in reader.lines():
        try:
            res = rewrite(line)
        except PromkitError:
            continue
        rng = res.time_range()
        if rng is not None:
            lo = rng[0] if lo is None else min(lo, rng[0])
            hi = rng[1] if hi is None else max(hi, rng[1])
    return lo, hi


def import_runner(
    reader: BundleReader,
    conn: Connection,
    plan: ImportPlan,
    *,
    verify_conn: Connection | None = None,
    now_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Callable[[ImportContext], ImportResult]:
    """A ``JobManager`` runner: (pre-pass if needed) → upload → verification.

    A bundle whose checksum is known only from ``metadata.json`` (no verified sidecar) is
    hashed in a first pass, so a damaged bundle is refused before anything is sent.
    """

    def run(ctx: ImportContext) -> ImportResult:
        fingerprint = import_fingerprint(reader, conn, plan.key(), str(plan.chunk_bytes))
        checkpoint = ctx.load_checkpoint()
        resuming = bool(checkpoint and checkpoint.get("fingerprint") == fingerprint)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        first = last = None
        if not resuming:
            if plan.shift.mode in (ShiftMode.NOW, ShiftMode.ALIGN):
                first, last = scan_range(reader)
            elif reader.info.expected_sha256 and not reader.info.sidecar_verified:
                for _ in reader.chunks():
                    ctx.check_canceled()
        shift_ms = plan.shift.resolve(first, last, now_ms=now)
        cutoff_ms = None if plan.retention_ms is None else now - plan.retention_ms
        declared = reader.info.time_range_ms  # promkit bundles: every sample lies inside
        if cutoff_ms is not None and declared and declared[0] + shift_ms >= cutoff_ms:
            cutoff_ms = None  # nothing can fall out: skip the per-line check
        opts = ImportOptions(
            shift_ms=shift_ms,
            cutoff_ms=cutoff_ms,
            add_labels=tuple(plan.add_labels.items()),
            drop_labels=plan.drop_labels,
            chunk_bytes=plan.chunk_bytes,
            compress_level=plan.compress_level,
            retry=plan.retry,
        )
        with TSDBClient(conn, transport=transport) as client:
            result, tracker = run_upload(
                reader,
                conn,
                client,
                opts,
                ctx,
                fingerprint=fingerprint,
                sleep=sleep,
                transport=transport,
            )
        (ctx.staging_dir / "checkpoint.json").unlink(missing_ok=True)
        if plan.verify:
            with TSDBClient(verify_conn or conn, transport=transport) as vclient:
                result.verification = verify_import(
                    vclient,
                    tracker,
                    add_labels=plan.add_labels,
                    timeout_s=plan.verify_timeout_s,
                    sleep=sleep,
                )
        return result

    return run
