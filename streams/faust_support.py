"""Small adapters over Faust internals that the agents need, kept in one place."""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event

AgentFun = Callable[[Any], Awaitable[None]]


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event while its table writes run.

    A table write goes to the changelog partition of the current event. Inside a
    `take_events` batch Faust's current event is the batch's last one, which may be on
    another partition; setting it per event keeps each key in its own partition, so
    recovery after a restart or rebalance restores it where look-ups will find it."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    headers = getattr(message, "headers", None) or []
    if isinstance(headers, dict):
        return [(k, v) for k, v in headers.items()]
    return [(k, v) for k, v in headers]


def fail_loudly(app: Any) -> Callable[[AgentFun], AgentFun]:
    """Crash the whole worker when an agent raises, instead of Faust's restart of the agent.

    A restarted agent resumes after the batch that failed while that batch stays unacked, so
    the partition's commits stall in silence. Crashing makes `run_worker` raise
    WorkerCrashed: the process exits non-zero and, restarted, re-reads from the last commit."""

    def decorate(fn: AgentFun) -> AgentFun:
        @functools.wraps(fn)
        async def agent(stream: Any) -> None:
            try:
                await fn(stream)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await app.crash(exc)
                raise

        return agent

    return decorate
