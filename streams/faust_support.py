"""Small adapters over Faust internals that the agents need, kept in one place."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event, current_event

from schemas.dead_letters import Rejection, dead_letter_headers
from schemas.kafka_connection import client_config

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


_DELETED = object()


class StagedTable:
    """A Faust table whose writes wait until the batch's outputs are acknowledged.

    Faust sends a table write to its changelog at once, while our outputs are awaited at
    the end of the batch. Killed in between, a worker would restart with state saying "done"
    for a record whose output never arrived, and skip it: a silent loss. Staging the writes
    and applying them after the outputs are acknowledged makes a crash at any point either
    replay the record (state older than the offsets) or find its output already sent."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._staged: dict[Any, tuple[Any, Any]] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self._staged:
            value = self._staged[key][0]
            return default if value is _DELETED else value
        return self.table.get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._staged[key] = (value, current_event())

    def pop(self, key: Any, default: Any = None) -> Any:
        value = self.get(key, default)
        self._staged[key] = (_DELETED, current_event())
        return value

    def apply(self) -> None:
        """Write the staged values, each with the event it came from (its partition)."""
        for key, (value, event) in self._staged.items():
            with as_current_event(event):
                if value is _DELETED:
                    if key in self.table:
                        del self.table[key]
                else:
                    self.table[key] = value
        self._staged.clear()


def send_dead_letter(
    out: Any,
    topic: str,
    message: Any,
    rejection: Rejection,
    *,
    event_id: str | None = None,
    department: str | None = None,
    category: str | None = None,
) -> None:
    """The message's original bytes to credit.rejected with the reason headers, sent with
    the batch's outputs (so acknowledged before the batch's offsets may be committed).

    Identity headers not given are taken from the adapter's headers on the message."""
    original = message_headers(message)
    sent = {k: v.decode("utf-8", "replace") for k, v in original if v}
    out.send(
        topic,
        message.key,
        message.value,
        dead_letter_headers(
            rejection,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            original_headers=original,
            event_id=event_id or sent.get("event_id"),
            department=department or sent.get("department"),
            category=category or sent.get("category"),
        ),
    )


def declare_changelog_topics(bootstrap: str, tables: list[Any], partitions: int) -> None:
    """Create the tables' changelog topics before Faust starts, and wait until they show.

    Faust declares them itself at start-up but checks their partition count at once; on a
    fresh broker the metadata may still say 0 partitions, and the worker crashes with
    PartitionsMismatch. Created here (compacted, co-partitioned with the sources) they are
    complete before Faust looks."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config(bootstrap))
    names = [t.changelog_topic_name for t in tables]
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        NewTopic(
            n, num_partitions=partitions, replication_factor=1, config={"cleanup.policy": "compact"}
        )
        for n in names
        if n not in existing
    ]
    for future in (admin.create_topics(new) if new else {}).values():
        try:
            future.result(30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    for _ in range(100):
        topics = admin.list_topics(timeout=10).topics
        if all(n in topics and len(topics[n].partitions) == partitions for n in names):
            return
        time.sleep(0.1)
    raise TimeoutError(f"changelog topics {names} did not show {partitions} partitions")


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


def dump_agents(app: Any) -> None:
    """Log where each Faust agent's actor waits: an actor is awaited through a wrapper that
    hides its frames from dump_tasks, so its coroutine is walked from the actor itself."""
    lines: list[str] = []
    for agent in app.agents.values():
        for actor in list(getattr(agent, "_actors", ())):
            lines.append(f"agent {agent.name}:")
            lines += _await_chain(getattr(actor, "it", None))
    logging.getLogger("creditsync").warning("Faust agents:\n%s", "\n".join(lines))


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


async def flush_table_writes(app: Any) -> None:
    """Wait until Kafka has acknowledged every table write made so far (their changelog).

    A batch's events are acknowledged, and so committed, once the agent takes the next
    batch. Faust's own flush before a commit gives up after 0.1 s without progress, so a
    commit could overtake the changelog, and after a kill -9 a table could miss a write
    whose source event was committed (suspected, not confirmed, in a CI run that ended one
    licence short). Draining the producer buffer to empty, then flushing the producer,
    puts the state before the offsets."""
    buffer = app.producer.buffer
    while buffer.size:
        await buffer.flush()
    await app.producer.flush()
