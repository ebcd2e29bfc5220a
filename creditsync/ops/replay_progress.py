"""How far a replay is, from Kafka offsets: the end offsets taken at the start vs the position.

Offsets, not message counts: compaction and transaction markers leave gaps, so counting
messages would never reach the total. Pure, and safe to read from another thread (the HTTP
progress endpoint) while the replay advances it: fields are replaced, never mutated halfway.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from creditsync.ops.kafka_read import PartitionRange


def rate_and_eta(done: int, total: int, elapsed: float) -> tuple[float, float | None]:
    """(offsets per second so far, seconds left at that rate; None before any progress)."""
    if elapsed <= 0 or done <= 0:
        return 0.0, None
    rate = done / elapsed
    return rate, max(0, total - done) / rate


@dataclass
class OffsetProgress:
    """Per partition: [start, end) to read and the next offset not yet read."""

    ranges: Sequence[PartitionRange] = ()
    started: float = field(default_factory=time.monotonic)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    finished: bool = False

    def begin(self, ranges: Sequence[PartitionRange]) -> None:
        self.ranges = list(ranges)
        self.positions = {(r.topic, r.partition): r.start for r in self.ranges}
        self.started = time.monotonic()

    def advance(self, messages: Iterable[Any]) -> None:
        """Messages read (anything with topic(), partition() and offset())."""
        positions = dict(self.positions)
        for m in messages:
            key = (m.topic(), m.partition())
            positions[key] = max(positions.get(key, 0), m.offset() + 1)
        self.positions = positions

    def finish(self) -> None:
        """Every range read to its end (the last offsets may be markers, never delivered)."""
        self.positions = {(r.topic, r.partition): r.end for r in self.ranges}
        self.finished = True

    @property
    def total(self) -> int:
        return sum(r.size for r in self.ranges)

    @property
    def done(self) -> int:
        positions = self.positions
        return sum(
            max(0, min(positions.get((r.topic, r.partition), r.start), r.end) - r.start)
            for r in self.ranges
        )

    def as_dict(self) -> dict[str, Any]:
        done, total = self.done, self.total
        rate, eta = rate_and_eta(done, total, time.monotonic() - self.started)
        return {
            "done": done,
            "total": total,
            "rate_per_s": round(rate, 1),
            "eta_s": None if eta is None else round(eta, 1),
            "finished": self.finished,
        }
