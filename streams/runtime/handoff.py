"""Intake hands a resolved record to the items stage of its own loop, instead of a Kafka round trip.

When intake and items run in one stage loop, a resolved record bound for a partition of
`credit.resolved` whose items tables this loop holds is applied to those tables at once, in
the same batch, from the record intake has in hand (no consume, no second decode). It is still
produced to `credit.resolved`, keyed by its USCC, on that same partition (given explicitly),
so the topic keeps every resolved record as before, for audit and for anything that reads it;
it carries the header `creditsync.applied` = the stages' consumer group, and the items stage
of that group skips such a message unread (another group, e.g. a bench or a fresh derivation
under a new app id, applies it as any other).

Why this is correct:

- Partitions. Items state is partitioned by the USCC key's murmur2 partition of
  `credit.resolved`; intake's input is partitioned by the code the department sent. The
  target partition is computed with librdkafka's own murmur2 over the topic's real partition
  count (read at assignment), the message is produced to exactly that partition, and the
  shortcut is taken only when this loop holds that partition's items tables (restored, not
  lost). A USCC-keyed intake record lands there by construction under the range assignor
  (same key, same partitioner, same partition number of co-subscribed topics); a legacy-coded
  record, re-keyed to its USCC, takes the shortcut too when its USCC's partition happens to be
  held here, and otherwise goes through Kafka to the member that holds it, as before.
- Commit order. The items writes are staged with the batch, so the loop's order holds for
  both stages at once: every output (records, notices, the marked resolved message)
  acknowledged, then every changelog, then the offsets of the intake message. A crash before
  the commit re-reads the intake message, which either takes the shortcut again (items rules
  skip what the state already has: versions, `seen` event ids) or, assigned elsewhere, goes
  unmarked through Kafka; a marked copy left by the crashed attempt is skipped, and what it
  stands for is applied by that re-read. Its state is the same either way.
- Identical state. The items stage applies the same record with the same bytes (`encoded`
  is what is produced) through the same rules, so the state cannot tell the paths apart,
  with two exceptions sent through Kafka instead: a change that comes before its original
  (its state keeps its offset on `credit.resolved`, which only Kafka knows), and a record the
  items stage refuses (by a rule or for size): its outputs and writes are undone and it is
  refused from Kafka, so its dead letter names its offset on `credit.resolved` as before.
- Order. A record taken directly is applied when it is produced, which is where it would
  stand in its partition anyway; records from other members (legacy codes, re-drives) are
  applied when consumed, as if they had been produced later: an order Kafka could have
  given, and the items rules give the same state in any arrival order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from confluent_kafka import Consumer
from confluent_kafka.cimpl import murmur2

from schemas.records import EnrichedRecord
from streams.runtime.outputs import Outputs, OutputTooLarge
from streams.runtime.stage_state import StagedTable, StageTables

APPLIED_HEADER = "creditsync.applied"

Headers = list[tuple[str, bytes]]


class DirectItems(Protocol):
    """What the handoff needs of the items stage (streams/items_stage.py)."""

    tables: StageTables
    resolved: str

    def takes_directly(self, record: EnrichedRecord, tables: dict[str, StagedTable]) -> bool: ...

    def apply_direct(
        self,
        record: EnrichedRecord,
        encoded: bytes,
        partition: int,
        tables: dict[str, StagedTable],
    ) -> bool:
        """Apply it; False when the record was refused (nothing of it may stay)."""


class Handoff:
    """`take(key, record, encoded)`: where intake sends a resolved record, and how."""

    def __init__(
        self,
        items: DirectItems,
        group: str,
        out: Outputs,
        tables_for: Callable[[int], dict[str, StagedTable]],
        oversized: Callable[[dict[str, StagedTable]], bool],
    ) -> None:
        self.items, self.out = items, out
        self._tables_for, self._oversized = tables_for, oversized
        self.marker: Headers = [(APPLIED_HEADER, group.encode())]
        self.partitions: int | None = None  # of credit.resolved, read at each assignment
        self.taken = 0

    def assigned(self, consumer: Consumer) -> None:
        name = self.items.resolved
        topic = consumer.list_topics(name, timeout=10).topics.get(name)
        count = len(topic.partitions) if topic is not None and topic.error is None else 0
        self.partitions = count or None

    def take(
        self, key: bytes, record: EnrichedRecord, encoded: bytes
    ) -> tuple[int, Headers] | None:
        """Apply the record to this loop's items tables when they hold its partition:
        (partition, headers) to produce it with; None to produce it as before."""
        if not self.partitions:
            return None
        partition = murmur2(key, self.partitions)
        if partition not in self.items.tables.partitions:
            return None
        tables = self._tables_for(partition)
        if not self.items.takes_directly(record, tables):
            return None
        mark = self.out.mark()
        for table in tables.values():
            table.savepoint()
        try:
            refused = not self.items.apply_direct(record, encoded, partition, tables)
            refused = refused or self._oversized(tables)
        except OutputTooLarge:
            refused = True
        if refused:
            # Refused from Kafka instead, with its dead letter, as if never taken here.
            self.out.discard_since(mark)
            for table in tables.values():
                table.rollback_savepoint()
            return None
        for table in tables.values():
            table.release_savepoint()
        self.taken += 1
        return partition, self.marker
