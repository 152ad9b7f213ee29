"""The block-buffered log handler: lines in order, warnings at once, everything at close."""

from __future__ import annotations

import io
import logging
import time

from promkit.tracker.logs import BlockLineHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.visible = ""

    def flush(self) -> None:
        self.flushes += 1
        self.visible = self.getvalue()


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.block.{id(handler)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger


def test_block_handler_batches_info_and_flushes_warnings_at_once() -> None:
    stream = CountingStream()
    handler = BlockLineHandler(stream, interval=3600)  # no timer flush during the test
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = _logger(handler)
    for i in range(100):
        log.info("line %d", i)
    assert stream.flushes == 0  # no flush per line
    log.warning("disk full")
    assert stream.flushes == 1
    assert stream.visible.splitlines() == [f"line {i}" for i in range(100)] + ["disk full"]
    log.info("after")
    handler.close()
    assert stream.visible.endswith("disk full\nafter\n")


def test_block_handler_flushes_on_its_interval() -> None:
    stream = CountingStream()
    handler = BlockLineHandler(stream, interval=0.05)
    log = _logger(handler)
    log.info("quiet period")
    deadline = time.monotonic() + 10
    while "quiet period" not in stream.visible and time.monotonic() < deadline:
        time.sleep(0.02)
    handler.close()
    assert stream.visible == "quiet period\n"
