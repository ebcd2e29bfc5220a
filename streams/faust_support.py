"""Small adapters over Faust internals (the operations agent, the worker's task dump)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

AgentFun = Callable[[Any], Awaitable[None]]


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


def _stream_queues(app: Any) -> list[Any]:
    return list(getattr(app.flow_control, "_queues", ()) or ())


def _unfetched_stream_partitions(consumer: Any) -> set[Any]:
    """Assigned partitions of stream topics (not changelogs) the fetcher does not read."""
    active = set(consumer._get_active_partitions())
    return {
        tp for tp in consumer.assignment() if not consumer._is_changelog_tp(tp) and tp not in active
    }


def release_stranded_partitions(app: Any) -> int:
    """Resume partitions that Faust's flow control left paused behind an emptied queue.

    A stream queue over its high-water mark pauses the partitions feeding it and keeps a
    "pressure dropped" callback per partition, fired by the next `get` that finds the queue
    drained. `FlowControlEvent.resume()` (after every rebalance or recovery) clears the queues
    but not those callbacks, and a reader already waiting in `get` never checks again: with
    every partition of a topic paused, nothing arrives and the stage stalls with lag (seen
    after a kill -9 and restart with a backlog). Called on a timer, this fires the callbacks
    of drained queues as that `get` would have; the number of partitions released."""
    released = 0
    for queue in _stream_queues(app):
        pending = getattr(queue, "_pending_pressure_drop_callbacks", None)
        if pending and queue.qsize() <= queue.pressure_drop_size:
            before = len(pending)
            queue.maybe_endorse_pressure_drop()
            released += before - len(pending)
    return released


def _await_chain(coro: Any) -> list[str]:
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"    {code.co_filename}:{frame.f_lineno} {code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return lines


def dump_tasks() -> None:
    """Log every asyncio task with the chain of coroutines it is awaiting, innermost last."""
    lines: list[str] = []
    tasks = asyncio.all_tasks()
    for task in tasks:
        lines.append(f"task {task.get_name()}:")
        lines += _await_chain(task.get_coro())
        waiting = getattr(task, "_fut_waiter", None)
        if waiting is not None:
            lines.append(f"    waiting on {waiting!r}"[:300])
        if isinstance(waiting, asyncio.Task):
            # An agent awaits its actor's task: where the work waits is that task's chain,
            # listed under its own name.
            lines.append(f"    (see task {waiting.get_name()})")
    logging.getLogger("creditsync").warning("%d asyncio tasks:\n%s", len(tasks), "\n".join(lines))


def consumer_state(app: Any) -> dict[str, Any]:
    """What the Faust consumer fetches and why not: for the log when a stage stalls."""
    consumer = app.consumer
    streams_tps = {tp for tp in consumer.assignment() if not consumer._is_changelog_tp(tp)}
    unfetched = _unfetched_stream_partitions(consumer)
    return {
        "rebalancing": bool(app.rebalancing),
        "in_recovery": bool(app.in_recovery),
        "recovery_completed": app.tables.recovery.completed.is_set(),
        "stream_partitions": len(streams_tps),
        "not_fetched": sorted(f"{tp.topic}[{tp.partition}]" for tp in unfetched),
        "paused": sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer._paused_partitions),
        "buffered": sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer._buffered_partitions),
        "queues": [q.qsize() for q in _stream_queues(app)],
    }


def unfed_stream_partitions(app: Any) -> set[Any]:
    """Assigned stream partitions the fetcher skips although nothing holds them back: not
    rebalancing, not recovering, every stream queue drained below its pressure-drop mark."""
    if app.rebalancing or app.in_recovery or not app.tables.recovery.completed.is_set():
        return set()
    if any(q.qsize() > q.pressure_drop_size for q in _stream_queues(app)):
        return set()  # real backpressure: Faust resumes those partitions itself
    return _unfetched_stream_partitions(app.consumer)


def resume_unfed_partitions(app: Any, seen_before: set[Any]) -> tuple[int, set[Any]]:
    """Resume the partitions unfed on two readings in a row (one reading may fall between
    Faust's own pause and resume); returns (how many were resumed, this reading)."""
    unfed = unfed_stream_partitions(app)
    stuck = unfed & seen_before
    if stuck:
        app.consumer.resume_partitions(stuck)
        app.consumer._buffered_partitions.difference_update(stuck)
    return len(stuck), unfed - stuck
