"""The import's chunk producer: bundle lines → rewritten JSON lines → gzip chunks.

A thread reads and rewrites lines (``LineRewriter``: labels, shift, trim, per-point value
fixes) into chunks of about ``chunk_bytes`` of JSON lines, each gzip-compressed on its own;
a small queue keeps the next chunk ready while the sender posts the current one and bounds
memory. Each chunk carries the source byte offset after its last line, which the sender's
checkpoint records so that a resumed run skips what was acknowledged.
"""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from promkit.bundle.alignment import LineResult, LineRewriter, plain_lines
from promkit.bundle.reader import BundleReader
from promkit.bundle.verify import SentTracker
from promkit.core.errors import PromkitError

__all__ = ["DONE", "Chunk", "ChunkProducer"]


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
class Chunk:
    index: int
    body: bytes
    end_offset: int
    lines: int
    samples: int
    time_range: tuple[int, int] | None


DONE = object()  # the producer's end-of-stream marker
_FIRST_CHUNK = 256 << 10


class ChunkProducer:
    """Reads, rewrites and compresses chunks on a thread; the queue bounds memory."""

    def __init__(
        self,
        reader: BundleReader,
        rewriter: LineRewriter,
        *,
        chunk_bytes: int,
        compress_level: int,
        start_offset: int,
        start_chunk: int,
        tracker: SentTracker,
    ) -> None:
        self.reader = reader
        self.rewriter = rewriter
        self.chunk_bytes = chunk_bytes
        self.compress_level = compress_level
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
            self._put(DONE)
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

    def _chunks(self) -> Iterator[Chunk]:
        """Whole blocks of plain lines go out byte for byte (checked by one regex pass);
        other blocks, and every block when labels or timestamps change, line by line."""
        batch = _Batch(self.start_chunk, self.chunk_bytes, self.compress_level)
        resume = self.start_offset
        piece = min(self.chunk_bytes, _FIRST_CHUNK)
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

    def __init__(self, index: int, chunk_bytes: int, compress_level: int) -> None:
        self.index = index
        self.first = index
        self.chunk_bytes = chunk_bytes
        self.compress_level = compress_level
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
        return self.size >= min(self.chunk_bytes, ramp)

    def take(self) -> Chunk:
        body = _gzip(self.parts, self.compress_level)
        chunk = Chunk(self.index, body, self.end_offset, self.lines, self.samples, None)
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
