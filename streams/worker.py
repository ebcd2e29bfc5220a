"""Running the Faust app inside our own event loop, with a clean, deterministic stop.

`creditsync run` and `creditsync worker` use it with a stop signal (Ctrl-C / SIGTERM); tests
use it with a completion condition plus a hard timeout, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from streams.app import CreditStreams
from streams.errors import WorkerCrashed
from streams.stage_state import declare_topics

Condition = Callable[[], bool | Awaitable[bool]]


async def run_worker(
    streams: CreditStreams,
    *,
    stop: asyncio.Event | None = None,
    until: Condition | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.2,
) -> bool:
    """Run until `stop` is set, `until()` is true, or `timeout` passes; always stop the app.

    Returns True when it ended by `stop` or `until`, False on timeout."""
    app = streams.app
    if streams.stage_loop is not None:
        changelogs = [t for s in streams.stage_loop.stages for t in s.tables.topics()]
        await asyncio.to_thread(
            declare_topics,
            streams.config.bootstrap,
            changelogs,
            streams.config.partitions,
            compacted=True,
        )
    await app.start()

    def crashed() -> bool:
        if app.crashed:
            raise WorkerCrashed(f"the stream worker crashed: {app.crash_reason!r}")
        return False

    try:
        return await _wait(stop, until, timeout, poll_seconds, crashed)
    finally:
        # A crashed app can hang in stop(); the caller must still get the crash, not a hang.
        try:
            await asyncio.wait_for(app.stop(), 60)
        finally:
            for out in streams.outputs:
                await asyncio.to_thread(out.close)


async def _wait(
    stop: asyncio.Event | None,
    until: Condition | None,
    timeout: float | None,
    poll: float,
    crashed: Callable[[], bool],
) -> bool:
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while (deadline is None or loop.time() < deadline) and not crashed():
        if stop is not None and stop.is_set():
            return True
        if until is not None:
            result = until()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            if result:
                return True
        wait = poll if deadline is None else min(poll, max(0.0, deadline - loop.time()))
        if stop is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
        else:
            await asyncio.sleep(wait)
    return False
