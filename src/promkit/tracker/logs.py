"""The service's log output: one line per record on stderr, written in blocks.

Every ingestion request writes a JSON access-log line. A plain ``StreamHandler`` flushes each
line with its own ``write`` system call and ``logging`` looks up the caller's source line for
every record; at thousands of requests a second that is a measurable share of the request.
Here lines collect in a 64 KiB buffer that is written when full, at least once a second (a
daemon thread), at once for warnings and errors, and at exit, so the log stays timely
without costing a system call per request.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from typing import TextIO

FLUSH_SECONDS = 1.0
BUFFER_BYTES = 64 * 1024


class BlockLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines to ``stream`` (stderr by default), flushed in blocks (see the module doc)."""

    def __init__(self, stream: TextIO | None = None, interval: float = FLUSH_SECONDS) -> None:
        target = stream if stream is not None else _block_buffered_stderr()
        super().__init__(target)
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), name="promkit-log-flush", daemon=True
        )
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                if record.levelno >= logging.WARNING:
                    self.stream.flush()
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """Append one INFO line without building a ``LogRecord`` (the access log's path)."""
        with self.lock:  # type: ignore[union-attr]
            self.stream.write(line + "\n")

    def _flush_every(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        super().close()


def _block_buffered_stderr() -> TextIO:
    """stderr's file descriptor behind a 64 KiB buffer (``sys.stderr`` flushes every line)."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced, e.g. under a test runner
        return sys.stderr
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(
        io.BufferedWriter(raw, BUFFER_BYTES), encoding="utf-8", errors="replace"
    )


def configure_service_logging(level: int = logging.INFO) -> BlockLineHandler:
    """Root logging for ``tracker serve``: message-only lines through a block handler.

    Access lines go straight to the handler (``direct_access_lines``) unless the access
    logger is turned down (``promkit.tracker.access`` above INFO)."""
    # Records of this service never print their source location, so do not look it up
    # (the optimisation the logging HOWTO documents), nor thread or process details.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BlockLineHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    from promkit.tracker import middleware  # the access log lives there

    middleware.direct_access_lines(handler.write_line)
    return handler


__all__ = ["BlockLineHandler", "configure_service_logging"]
