"""The backup pipeline's writer thread: order, error propagation, interrupts, no partial version."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from promkit.core import crypto
from promkit.core.storage import LocalStorage
from promkit.volume.archive import Prefetch, WriterThread, pack
from promkit.volume.names import new_version
from promkit.volume.repository import Repository

PW = SecretStr("pw")
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crypto.WEAK_KDF_ENV, "1")


def pipeline_threads() -> list[str]:
    """The backup pipeline's threads still alive (other tests' job pools are not ours)."""
    names = ("promkit-prefetch", "promkit-writer")
    return [t.name for t in threading.enumerate() if t.name in names]


class Sink:
    def __init__(self, fail_at: int | None = None, gate: threading.Event | None = None) -> None:
        self.parts: list[bytes] = []
        self.fail_at = fail_at
        self.gate = gate

    def write(self, data: bytes) -> int:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_at is not None and len(self.parts) >= self.fail_at:
            raise OSError("disk full")
        self.parts.append(bytes(data))
        return len(data)


def test_writer_thread_writes_everything_in_order() -> None:
    sink = Sink()
    w = WriterThread(sink, depth=2)
    pieces = [os.urandom(1000) for _ in range(50)]
    for p in pieces:
        assert w.write(p) == 1000
    w.write(memoryview(b"tail"))
    w.write(b"")
    w.finish()
    assert sink.parts == [*pieces, b"tail"]
    assert "promkit-writer" not in pipeline_threads()
    with pytest.raises(ValueError):
        w.write(b"late")


def test_writer_thread_error_reaches_the_producer_even_when_the_queue_is_full() -> None:
    sink = Sink(fail_at=3)
    w = WriterThread(sink, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for _ in range(1000):  # would block forever on the full queue if the error were lost
            w.write(b"x" * 100)
    with pytest.raises(OSError, match="disk full"):
        w.finish()
    assert len(sink.parts) == 3


def test_writer_thread_error_surfaces_at_finish() -> None:
    w = WriterThread(Sink(fail_at=0))
    w.write(b"only")
    with pytest.raises(OSError, match="disk full"):
        w.finish()


def test_writer_thread_stop_drops_queued_data_and_ends_the_thread() -> None:
    gate = threading.Event()
    sink = Sink(gate=gate)
    w = WriterThread(sink, depth=4)
    for i in range(4):
        w.write(bytes([i]))
    stopper = threading.Thread(target=w.stop)
    stopper.start()
    while not w._stop.is_set():  # stop() has been asked while the sink is still blocked
        time.sleep(0.001)
    gate.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert "promkit-writer" not in pipeline_threads()
    assert len(sink.parts) < 4  # the thread stopped instead of draining everything


def _tar_pieces(n: int, fail: BaseException | None = None) -> Iterator[bytes]:
    for _ in range(n):
        yield os.urandom(MIB // 2) + b"text " * (MIB // 10)
    if fail is not None:
        raise fail


def _closing_tracked(pieces: Iterator[bytes], closed: list[bool]) -> Iterator[bytes]:
    """``pieces``, appending True to ``closed`` once the consumer closes or finishes it."""
    try:
        yield from pieces
    finally:
        closed.append(True)


def _backup(repo: Repository, source: Any, sink_wrapper: Any = None) -> None:
    version = new_version()
    with repo.data_writer("db", version) as fh:
        pack(source, sink_wrapper(fh) if sink_wrapper else fh, password=PW)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("fail", [KeyboardInterrupt(), OSError("archive stream broke")])
def test_pack_interrupted_or_failing_source_leaves_nothing(
    tmp_path: Path, fail: BaseException
) -> None:
    repo = Repository(LocalStorage(tmp_path / "repo"))
    with pytest.raises(type(fail)):
        _backup(repo, _tar_pieces(12, fail))
    assert repo.names() == []
    assert _files(tmp_path / "repo") == []
    assert pipeline_threads() == []


def test_pack_storage_failure_propagates_and_leaves_nothing(tmp_path: Path) -> None:
    repo = Repository(LocalStorage(tmp_path / "repo"))
    closed: list[bool] = []
    source = _closing_tracked(_tar_pieces(40), closed)

    class Failing:
        def __init__(self, fh: Any) -> None:
            self.fh, self.n = fh, 0

        def write(self, data: bytes) -> int:
            self.n += 1
            if self.n > 3:
                raise OSError("no space left on device")
            return int(self.fh.write(data))

    with pytest.raises(OSError, match="no space left"):
        _backup(repo, source, Failing)
    assert closed == [True]  # the archive stream was closed, not left hanging
    assert repo.names() == []
    assert _files(tmp_path / "repo") == []
    assert pipeline_threads() == []


@pytest.mark.parametrize("which", [Prefetch, WriterThread])
def test_pack_interrupted_as_a_pipeline_thread_starts_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: Any
) -> None:
    """A signal that lands just after a pipeline thread started (CI caught SIGTERM there: the
    orphaned reader kept Docker's archive stream open and removing the helper hung)."""
    real_start = which.start

    def start_then_interrupt(self: Any) -> None:
        real_start(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(which, "start", start_then_interrupt)
    closed: list[bool] = []
    source = _closing_tracked(_tar_pieces(40), closed)

    repo = Repository(LocalStorage(tmp_path / "repo"))
    with pytest.raises(KeyboardInterrupt):
        _backup(repo, source)
    deadline = time.monotonic() + 10
    while pipeline_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pipeline_threads() == []
    assert closed == [True]  # the archive stream was closed
    assert _files(tmp_path / "repo") == []
