"""The write-combining transport in front of uvicorn's protocol (a recording transport)."""

from __future__ import annotations

import asyncio
from typing import Any

from promkit.core.http_server import FLUSH_BYTES, CoalescingTransport, _run_at_once


class Recorder:
    """An asyncio transport that records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closing
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_write_buffer_size(self) -> int:
        return 7

    def pause_reading(self) -> None:
        self.paused = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def run(steps: Any) -> Recorder:
    async def main() -> Recorder:
        recorder = Recorder()
        front = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
        await steps(front, recorder)
        return recorder

    return asyncio.run(main())


def test_writes_of_one_loop_step_reach_the_socket_as_one() -> None:
    async def steps(front: CoalescingTransport, recorder: Recorder) -> None:
        front.write(b"HTTP/1.1 200 OK\r\n\r\n")
        front.write(b"")
        front.write(b"{}")
        assert recorder.writes == []  # nothing before the step ends
        assert front.get_write_buffer_size() == 21 + 7
        await asyncio.sleep(0)
        assert recorder.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        front.write(b"next")
        await asyncio.sleep(0)

    assert run(steps).writes == [b"HTTP/1.1 200 OK\r\n\r\n{}", b"next"]


def test_large_writes_go_out_at_once_so_flow_control_sees_them() -> None:
    async def steps(front: CoalescingTransport, recorder: Recorder) -> None:
        front.write(b"h" * 10)
        front.write(b"b" * FLUSH_BYTES)
        assert recorder.writes == [b"h" * 10 + b"b" * FLUSH_BYTES]
        front.writelines([b"x", bytearray(b"y")])
        await asyncio.sleep(0)
        assert recorder.writes[-1] == b"xy"

    run(steps)


def test_close_flushes_first_abort_drops_and_closed_sockets_get_nothing() -> None:
    async def steps(front: CoalescingTransport, recorder: Recorder) -> None:
        front.write(b"last words")
        front.write_eof()
        front.write(b"bye")
        front.close()
        assert recorder.writes == [b"last words", b"<eof>", b"bye"]
        assert recorder.closing
        front.write(b"after close")  # dropped, as asyncio's own transports do
        await asyncio.sleep(0)
        assert recorder.writes[-1] == b"bye"

    run(steps)

    async def aborting(front: CoalescingTransport, recorder: Recorder) -> None:
        front.write(b"never sent")
        front.abort()
        await asyncio.sleep(0)
        assert recorder.aborted and recorder.writes == []

    run(aborting)


def test_everything_else_is_the_real_transport() -> None:
    async def steps(front: CoalescingTransport, recorder: Recorder) -> None:
        front.pause_reading()
        assert recorder.paused
        assert front.get_extra_info("peername") == ("127.0.0.1", 1234)
        assert not front.is_closing()

    run(steps)


def test_a_reused_mutable_buffer_is_sent_as_it_was_when_written() -> None:
    async def steps(front: CoalescingTransport, recorder: Recorder) -> None:
        buffer = bytearray(b"first")
        front.write(buffer)
        buffer[:] = b"SECOND"
        front.write(memoryview(buffer))
        await asyncio.sleep(0)

    assert run(steps).writes == [b"firstSECOND"]


def test_run_at_once_runs_a_coroutine_that_does_not_suspend() -> None:
    seen: list[str] = []

    async def plain() -> None:
        seen.append("ran")

    async def suspends() -> None:
        await asyncio.sleep(0)
        seen.append("never")

    assert _run_at_once(plain()) is True
    assert _run_at_once(suspends()) is False  # closed, not left pending
    assert seen == ["ran"]
