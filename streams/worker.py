"""Running the built worker's loops under the supervisor, with a clean, deterministic stop.

`creditsync run` and `creditsync worker` use it with a stop event (set by Ctrl-C / SIGTERM);
tests use it with a completion condition plus a hard timeout, never a sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.retry import retrying
from streams.app import CreditStreams
from streams.runtime.stage_state import declare_topics
from streams.runtime.supervisor import Loop, Supervisor

# What a partition answers in the moments between its creation and its leader serving it.
_NOT_LED_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_PARTITION,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._TIMED_OUT,
}


def run_worker(
    streams: CreditStreams,
    *,
    stop: threading.Event | None = None,
    until: Callable[[], bool] | None = None,
    timeout: float | None = None,
    poll_seconds: float = 0.2,
    extra_loops: Sequence[tuple[str, Loop]] = (),
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
            declare_topics(config.kafka, changelogs, config.partitions, compacted=True)
            wait_until_led(config.kafka, changelogs, config.partitions)
        supervisor = Supervisor([*extra_loops, *streams.open_loops()], stop)
        if on_started is not None:
            on_started()
        return supervisor.run(until=until, timeout=timeout, poll_seconds=poll_seconds)
    finally:
        for out in streams.outputs:
            out.close()


def wait_until_led(
    kafka: KafkaSettings, topics: list[str], partitions: int, timeout: float = 60
) -> None:
    """Wait until every partition of `topics` answers a watermark request: a changelog just
    created is in the metadata a moment before its leader serves it, and a table restore
    that asks then fails with NOT_LEADER_FOR_PARTITION."""
    consumer = Consumer(client_config(kafka, group_id="creditsync-topic-probe"))
    deadline = time.monotonic() + timeout
    try:
        for tp in (TopicPartition(t, p) for t in topics for p in range(partitions)):
            policy = retrying(
                _not_led_yet, within=max(0.0, deadline - time.monotonic()), initial=0.1, maximum=0.1
            )
            policy(consumer.get_watermark_offsets, tp, timeout=10)
    finally:
        consumer.close()


def _not_led_yet(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException):
        return False
    err = exc.args[0]
    return err.retriable() or err.code() in _NOT_LED_YET
