"""The worker's loops on threads of their own, under one stop event; a failed loop stops all.

Each loop (the stages', a sink's, the operations loop, the HTTP server of `creditsync run`)
has a `run(stop)` that blocks until `stop` is set, finishing the batch in hand and committing
it, or raises. The supervisor starts them, waits for a stop (a signal handler sets it), a
condition (tests) or a timeout, then sets `stop` and joins them. A loop that raises, or ends
although nobody stopped it, stops the others the same way and is raised as `WorkerCrashed`
naming the loop: the process exits non-zero and its supervisor (systemd, compose) restarts
it; the restarted loops re-read from their last commits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from streams.errors import WorkerCrashed

log = logging.getLogger(__name__)
# Enough for a loop to finish its batch (a store retry is cut short by the stop).
JOIN_SECONDS = 60.0


class Loop(Protocol):
    def run(self, stop: threading.Event) -> None: ...


class Supervisor:
    """Named loops, each on a thread; `run` returns once they have all stopped."""

    def __init__(
        self, loops: Sequence[tuple[str, Loop]], stop: threading.Event | None = None
    ) -> None:
        self.loops = list(loops)
        self.stop = stop if stop is not None else threading.Event()
        self.failures: list[WorkerCrashed] = []  # in the order the loops failed

    def run(
        self,
        *,
        until: Callable[[], bool] | None = None,
        timeout: float | None = None,
        poll_seconds: float = 0.2,
    ) -> bool:
        """Run until `stop` is set, `until()` is true or `timeout` passes; True unless timed
        out. Raises the first loop's failure (after every loop has stopped)."""
        threads = [self._start(name, loop) for name, loop in self.loops]
        try:
            ended = self._wait(until, timeout, poll_seconds)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(JOIN_SECONDS)
                if thread.is_alive():
                    log.warning("loop %s did not stop within %.0fs", thread.name, JOIN_SECONDS)
        if self.failures:
            raise self.failures[0]
        return ended

    def _start(self, name: str, loop: Loop) -> threading.Thread:
        def target() -> None:
            try:
                loop.run(self.stop)
            except BaseException as exc:
                # Logged once, by whoever ends the process; the traceback for those who ask.
                log.debug("loop %s failed", name, exc_info=True)
                self.failures.append(WorkerCrashed(name, exc))
                self.stop.set()
                return
            if not self.stop.is_set():
                self.failures.append(WorkerCrashed(name, RuntimeError("ended unasked")))
                self.stop.set()

        # Daemon: a loop stuck past JOIN_SECONDS must not keep the process alive.
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _wait(
        self,
        until: Callable[[], bool] | None,
        timeout: float | None,
        poll: float,
    ) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.failures:
            if self.stop.is_set():
                return True
            if until is not None and until():
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.stop.wait(poll if left is None else min(poll, left))
        return True
