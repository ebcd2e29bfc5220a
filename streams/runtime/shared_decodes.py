"""credit.records decoded once for all the sink loops of one worker process.

Each sink reads credit.records in a consumer group of its own (one sink's outage must not
hold the other back), so every record reaches the process once per sink, and decoding it
(Avro, ~35 µs a record) once per sink was a sixth of the pipeline's work. The first loop to
reach an offset decodes the record and leaves it here for the other loops; the last one to
take it removes it. Kafka never changes what an offset holds, so a record found here is the
one the loop would have decoded itself.

Bounded: when one loop is far behind the others (its store is down), the oldest records are
dropped and that loop decodes for itself again. Records are shared between threads: the sinks
only read them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from schemas.records import EnrichedRecord
from streams.runtime.messages import ReceivedMessage

DEFAULT_LIMIT = 10_000  # records held at most (a few KB each)

Key = tuple[str, int, int]


class SharedDecodes:
    """Decoded records by (topic, partition, offset), each held until `readers` took it."""

    def __init__(
        self, readers: int, decode: Callable[[bytes], EnrichedRecord], limit: int = DEFAULT_LIMIT
    ) -> None:
        self.readers = readers
        self.decode = decode
        self.limit = limit
        self._held: dict[Key, list[Any]] = {}  # key -> [record, readers still to take it]
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def records(self, messages: Sequence[ReceivedMessage]) -> list[EnrichedRecord]:
        """The decoded record of each message, in order (decoding only those not held)."""
        keys = [(m.topic(), m.partition(), m.offset()) for m in messages]
        found: list[Any] = [None] * len(keys)
        missing: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                found[i] = self._take(key)
                if found[i] is None:
                    missing.append(i)
        # Outside the lock: the decoding is the slow part, and other loops may share theirs.
        for i in missing:
            found[i] = self.decode(messages[i].value())
        if self.readers > 1 and missing:
            with self._lock:
                for i in missing:
                    self._leave(keys[i], found[i])
                while len(self._held) > self.limit:
                    del self._held[next(iter(self._held))]  # the oldest
        return found

    def _take(self, key: Key) -> EnrichedRecord | None:
        """The held record (counted as taken), or None when none is held."""
        entry = self._held.get(key)
        if entry is None:
            return None
        entry[1] -= 1
        if entry[1] <= 0:
            del self._held[key]
        return entry[0]

    def _leave(self, key: Key, record: EnrichedRecord) -> None:
        entry = self._held.get(key)
        if entry is None:
            self._held[key] = [record, self.readers - 1]
            return
        # Another loop decoded the same record meanwhile: this loop has read it too.
        entry[1] -= 1
        if entry[1] <= 0:
            del self._held[key]
