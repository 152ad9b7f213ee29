"""Stopping the containers that use a volume while it is read or replaced, and always restarting.

Selection happens before anything is stopped (an unknown name stops nothing). Every
container that was running is restarted as soon as the caller says the volume is no longer
needed (``restart()``), and in any case on exit: after errors, Ctrl-C and SIGTERM (turned
into ``KeyboardInterrupt`` while an operation runs). A restart failure is an error.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

from promkit.core.errors import NotFoundError, UpstreamError, UsageError
from promkit.volume.engine import docker_errors, users_of

AUTO = "auto"
MIN_ID_PREFIX = 12


class RestartError(UpstreamError):
    """A container stopped for the operation could not be started again."""

    default_hint = "Start it by hand (`docker start <name>`) and check its logs."


def resolve_containers(client: Any, volume: str, selectors: Sequence[str]) -> list[Any]:
    """Containers named by ``selectors``: ``auto`` (all that mount ``volume``),
    ``label=key[=value]``, a name, a full ID or an unambiguous ID prefix (>= 12 chars)."""
    chosen: dict[str, Any] = {}
    wanted = [s.strip() for item in selectors for s in item.split(",") if s.strip()]
    if not wanted:
        return []
    with docker_errors("cannot list containers"):
        everything = client.containers.list(all=True)
    for sel in wanted:
        if sel == AUTO:
            found = users_of(client, volume)
        elif sel.startswith("label="):
            label = sel[len("label=") :]
            with docker_errors("cannot list containers"):
                found = client.containers.list(all=True, filters={"label": label})
            if not found:
                raise NotFoundError(f"no container has label {label!r}")
        else:
            found = _by_name_or_id(everything, sel)
        for container in found:
            chosen[container.id] = container
    return sorted(chosen.values(), key=lambda c: c.name)


def _by_name_or_id(everything: Sequence[Any], sel: str) -> list[Any]:
    by_name = [c for c in everything if c.name == sel.lstrip("/")]
    if by_name:
        return by_name
    by_id = [c for c in everything if c.id == sel]
    if by_id:
        return by_id
    if len(sel) >= MIN_ID_PREFIX:
        prefixed = [c for c in everything if c.id.startswith(sel)]
        if len(prefixed) == 1:
            return prefixed
        if len(prefixed) > 1:
            raise UsageError(f"container ID prefix {sel!r} is ambiguous")
    raise NotFoundError(
        f"container {sel!r} not found",
        hint="Give a container name, a full ID, label=KEY=VALUE, or auto.",
    )


class StoppedContainers:
    """Stop the running ones of ``containers``; restart them at the latest on exit."""

    def __init__(
        self, containers: Sequence[Any], *, log: Callable[[str], None] | None = None
    ) -> None:
        self._containers = list(containers)
        self._log = log or (lambda _msg: None)
        self.stopped: list[Any] = []
        self.failures: list[str] = []
        self._restarted = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.stopped]

    def __enter__(self) -> StoppedContainers:
        try:
            for container in self._containers:
                with docker_errors(f"cannot stop container {container.name}"):
                    container.reload()
                    if container.status not in {"running", "restarting"}:
                        self._log(f"container {container.name} is not running; left as is")
                        continue
                    # Recorded before the stop call: an interrupt that lands while the engine
                    # is stopping it must still restart it (starting a running one is a no-op).
                    self.stopped.append(container)
                    self._log(f"stopping container {container.name}")
                    container.stop()  # the container's own stop timeout (compose's grace)
        except BaseException:
            self.restart()
            raise
        return self

    def restart(self) -> None:
        """Start every container this object stopped (once; later calls do nothing).

        A second Ctrl-C does not cut the restarts short; it is re-raised afterwards."""
        if self._restarted:
            return
        self._restarted = True
        interrupted: BaseException | None = None
        for container in self.stopped:
            try:
                with docker_errors(f"cannot restart container {container.name}"):
                    container.start()
                self._log(f"restarted container {container.name}")
            except Exception as exc:
                self.failures.append(f"{container.name}: {exc}")
            except BaseException as exc:  # KeyboardInterrupt: finish restarting first
                interrupted = exc
                with contextlib.suppress(Exception):
                    container.start()
        if interrupted is not None:
            raise interrupted

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restart()
        if self.failures:
            error = RestartError("could not restart: " + "; ".join(self.failures))
            if exc is not None:
                raise error from exc
            raise error


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` like Ctrl-C does, so
    ``finally`` blocks (restarts, cleanup) run. Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
