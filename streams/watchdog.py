"""A stalled stream stage restarts its worker process instead of sitting on its backlog.

A liveness probe for the stage loop (streams/stage_loop.py): it reads the stages' group lag
from the broker; when there is lag and the group's committed offsets have not moved for
`stall_seconds` (and no table restore is running), it logs what the loop holds and
re-executes the worker process (same pid, same command line). Offsets not committed are
re-read: every output is idempotent. (It was written for the Faust agents the stages used to
be, which stalled after a kill -9 and restart with a backlog; the loop has not been seen to.)

Only `creditsync worker` and `creditsync run` arm it (`WorkerConfig.restart_when_stalled`);
a worker run inside a test process never re-executes that process.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from schemas.kafka_connection import client_config

log = logging.getLogger(__name__)


@dataclass
class StallDetector:
    """Pure: fed the group's committed offsets and lag, says when the stage has stalled."""

    stall_seconds: float
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str, int], int] = field(default_factory=dict)
    _since: float | None = None

    def observe(self, committed: dict[tuple[str, int], int], lag: int, recovering: bool) -> bool:
        """`recovering`: the loop is restoring tables from their changelogs, which for large
        tables takes minutes without a commit and is no stall. A rebalance that never ends
        is one: the group's offsets stand still with lag whether or not this worker holds
        partitions (with other members committing, the offsets move)."""
        now = self.clock()
        if recovering or lag == 0 or committed != self._last or self._since is None:
            self._last, self._since = dict(committed), now
            return False
        return now - self._since >= self.stall_seconds


class GroupProgress:
    """The committed offsets and total lag of one consumer group on some topics."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], partitions: int) -> None:
        self._tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._consumer = Consumer(
            {**client_config(bootstrap), "group.id": group, "enable.auto.commit": False}
        )

    def read(self) -> tuple[dict[tuple[str, int], int], int]:
        committed: dict[tuple[str, int], int] = {}
        lag = 0
        for tp in self._consumer.committed(self._tps, timeout=10):
            _, high = self._consumer.get_watermark_offsets(tp, timeout=10)
            start = tp.offset if tp.offset >= 0 else 0
            committed[(tp.topic, tp.partition)] = tp.offset
            lag += max(0, high - start)
        return committed, lag

    def close(self) -> None:
        self._consumer.close()


def restart_process(reason: str) -> None:
    """Re-execute this process with its own command line (never returns)."""
    log.error("%s: restarting the worker process (pid %d)", reason, os.getpid())
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
