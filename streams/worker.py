"""Running the built worker's loops under the supervisor, with a clean, deterministic stop.

`creditsync run` and `creditsync worker` use it with a stop event (set by Ctrl-C / SIGTERM);
tests use it with a completion condition plus a hard timeout, never a sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from streams.app import CreditStreams
from streams.stage_state import declare_topics
from streams.supervisor import Supervisor


def run_worker(
    streams: CreditStreams,
    *,
    stop: threading.Event | None = None,
    until: Callable[[], bool] | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.2,
    extra_loops: Sequence[tuple[str, Any]] = (),
    on_started: Callable[[], None] | None = None,
) -> bool:
    """Run until `stop` is set, `until()` is true, or `timeout` passes; always stop the loops.

    `extra_loops` run beside the worker's under the same supervisor (the HTTP server, the
    demo feed). Returns True when it ended by `stop` or `until`, False on timeout; raises
    WorkerCrashed when a loop failed."""
    config = streams.config
    try:
        if streams.stage_loop is not None:
            changelogs = [t for s in streams.stage_loop.stages for t in s.tables.topics()]
            declare_topics(config.bootstrap, changelogs, config.partitions, compacted=True)
        supervisor = Supervisor([*extra_loops, *streams.open_loops()], stop)
        if on_started is not None:
            on_started()
        return supervisor.run(until=until, timeout=timeout, poll_seconds=poll_seconds)
    finally:
        for out in streams.outputs:
            out.close()
