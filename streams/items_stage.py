"""Stage 2: resolved -> credit.records, per-item state, notices and expiry timers.

Thin: decisions come from `streams.rules.items`; this module reads and writes the `items` and
`notices` tables of the message's partition (keys prefixed by the USCC, which keys
`credit.resolved`) and sends what they say to send. The stage loop (`streams.runtime.stage_loop`)
acknowledges every output before the tables' changelogs, and both before the offsets.
"""

from __future__ import annotations

import json

from schemas.codec import decode_enriched, encode_enriched
from schemas.dead_letters import Rejection, rejected_topic
from schemas.records import EnrichedRecord
from schemas.topics import NOTICES_LOG, OWNERSHIP, RECORDS, RESOLVED, notices_topic
from streams.config import WorkerConfig
from streams.errors import (
    ChangeError,
    NoticeError,
    PublicationError,
    StateBoundExceeded,
    StreamsError,
)
from streams.rules.expiry import DueDates, HeapDueDates, StoredDueDates, due_date_of
from streams.rules.items import (
    ItemOutcome,
    Refusal,
    held_for_original,
    notice_key,
    reduce_expiry_check,
    reduce_feedback,
)
from streams.rules.items import reduce_record as reduce_item_record
from streams.rules.notices import JointPunishmentNotice, end_notice
from streams.rules.timeliness import china_date
from streams.rules.versioning import derived_version
from streams.runtime.derivation import current_generation
from streams.runtime.handoff import APPLIED_HEADER
from streams.runtime.messages import Received
from streams.runtime.outputs import Outputs, message_headers, send_dead_letter
from streams.runtime.ownership_log import OwnershipLog
from streams.runtime.stage_state import StagedTable, StageTables, existing_topics
from streams.runtime.state_store import RocksTable, TableStore

CONTROL_HEADER = "creditsync.control"
EXPIRY_CHECK = b"expiry-check"
TABLES = ("items", "notices")


class ItemsStage:
    """`credit.resolved` with the items and notices tables of each partition."""

    name = "items"
    # Notices before items (streams/runtime/stage_loop.py, changelog phases): an item's
    # version makes a re-read skip the record, so the notices the record sent or ended must
    # be acknowledged first.
    changelog_phases = (("notices",), ("items",))

    def __init__(self, cfg: WorkerConfig, out: Outputs, group: str) -> None:
        self.cfg, self.out = cfg, out
        self.rejected = rejected_topic(cfg.topic_prefix)
        self.records_topic = cfg.topic(RECORDS)
        self.notices_log = cfg.topic(NOTICES_LOG)
        self.resolved = cfg.topic(RESOLVED)
        self.topics = [self.resolved]
        self.tables = StageTables(
            group, TABLES, state_dir=cfg.state_dir, indexers={"items": due_date_of}
        )
        self._next_check = 0.0
        self._group = group
        self._applied = group.encode()  # the handoff's marker (streams/runtime/handoff.py)
        # Per partition: its items table and that table's due dates (rules/expiry.py).
        self._due: dict[int, tuple[TableStore, DueDates]] = {}
        self._generation: int | None = None  # read at assignment (streams/runtime/derivation.py)
        # Operator reassignments of ownership, the whole log in memory (ownership_log.py).
        self.owners = OwnershipLog(cfg.kafka, cfg.topic(OWNERSHIP))

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None:
        items, notices = tables["items"], tables["notices"]
        headers = dict(message_headers(message))
        if headers.get(CONTROL_HEADER) == EXPIRY_CHECK:
            key = message.value.decode()
            state = items.get(key)
            if state:
                today = china_date(self.cfg.clock())
                outcome = reduce_expiry_check(key, state, today)
                self._carry_out(outcome, items, notices, message.partition)
            return
        if headers.get(APPLIED_HEADER) == self._applied:
            return  # applied by intake in this group's loop when produced (runtime/handoff.py)
        record = decode_enriched(message.value)
        self._apply(record, message, items, notices)

    def takes_directly(self, record: EnrichedRecord, tables: dict[str, StagedTable]) -> bool:
        """Whether intake may hand the record over (streams/runtime/handoff.py): not a
        change held for its original, whose state keeps its offset on credit.resolved."""
        return not held_for_original(record, tables["items"].get)

    def apply_direct(
        self,
        record: EnrichedRecord,
        encoded: bytes,
        partition: int,
        tables: dict[str, StagedTable],
    ) -> bool:
        """A record intake resolved in this loop, applied as if consumed from partition
        `partition` of credit.resolved; False when it was refused (the handoff undoes it)."""
        message = Received(self.resolved, partition, -1, record["uscc"].encode(), encoded, [])
        return self._apply(record, message, tables["items"], tables["notices"])

    def _apply(
        self, record: EnrichedRecord, message: Received, items: StagedTable, notices: StagedTable
    ) -> bool:
        """Apply the record; False when it (or a change held for it) was refused."""
        try:
            return self._apply_record(record, message, items, notices)
        except (ChangeError, PublicationError, NoticeError, StateBoundExceeded) as exc:
            # A workflow event or change that cannot apply (an unknown objection status, a
            # change of a key field) or that would take its item past a state bound:
            # refused with the reason, the item left as it was.
            bounded = isinstance(exc, StateBoundExceeded)
            rejection = Rejection(
                "state_bound_exceeded" if bounded else "unapplicable",
                None,
                str(exc)
                if bounded
                else f"{record['category']} "
                f"{record['record_key']!r} (event {record['event_id']}): {exc}",
                "items",
                type(exc).__name__,
            )
            send_dead_letter(
                self.out,
                self.rejected,
                message,
                rejection,
                event_id=record["event_id"],
                department=record["department"]["code"],
                category=record["category"],
            )
            return False

    def close(self) -> None:
        self.owners.close()

    def identify(self, message: Received) -> dict[str, str]:
        """The record's ids for a dead letter the stage loop sends
        (streams/runtime/stage_loop.py)."""
        if dict(message_headers(message)).get(CONTROL_HEADER) == EXPIRY_CHECK:
            return {}
        record = decode_enriched(message.value)
        return {
            "event_id": record["event_id"],
            "department": record["department"]["code"],
            "category": record["category"],
        }

    def tick(self, now: float) -> None:
        """Expire items on a schedule: each due item gets a check message on its own
        partition of credit.resolved, handled like any record (state changes in order)."""
        self.owners.tick(now)
        if now < self._next_check:
            return
        self._next_check = now + self.cfg.expiry_check_seconds
        today = china_date(self.cfg.clock()).isoformat()
        for partition, tables in self.tables.partitions.items():
            for key in self._due_dates(partition).pop(today, tables["items"].get):
                self.out.send(
                    self.resolved,
                    key.split("|", 1)[0].encode(),
                    key.encode(),
                    [(CONTROL_HEADER, EXPIRY_CHECK)],
                    partition=partition,
                )

    def _due_dates(self, partition: int) -> DueDates:
        """The partition's due dates, set up when its items table is new to them (restored
        at an assignment, or restored again after a loss): the table's own index on disk,
        a heap built from the table in memory."""
        table = self.tables.partitions[partition]["items"]
        held = self._due.get(partition)
        if held is None or held[0] is not table:
            due: DueDates
            if isinstance(table, RocksTable) and table.indexer is due_date_of:
                due = StoredDueDates(table.indexed_up_to)
            else:
                due = HeapDueDates(table.items())
            held = (table, due)
            self._due[partition] = held
        return held[1]

    def assigned(self, partitions: list[int]) -> None:
        """Read once per partition assignment, never while a message is handled: the
        derivation generation (`creditsync replay --stage streams` changes it only while the
        workers are stopped) and which departments' notice topics exist already."""
        topics = existing_topics(self.cfg.kafka)
        notices = notices_topic("", self.cfg.topic_prefix)
        self.out.known_topics(t for t in topics if t.startswith(notices))
        self._due = {p: h for p, h in self._due.items() if p in self.tables.partitions}
        for partition in partitions:
            self._due_dates(partition)
        self._generation = current_generation(
            self.cfg.kafka, self.cfg.topic_prefix, self._group, topics
        )

    @property
    def generation(self) -> int:
        """How many times credit.records was re-derived: part of every emitted version."""
        if self._generation is None:
            raise StreamsError("the items stage handles messages only once partitions are assigned")
        return self._generation

    def _apply_record(
        self, record: EnrichedRecord, message: Received, items: StagedTable, notices: StagedTable
    ) -> bool:
        if record["category"] == "notice_feedback":
            # Feedback on a notice never sent, or from another department: NoticeError,
            # dead-lettered with its Chinese reason by handle().
            key, notice = reduce_feedback(record, notices.get)
            notices[key] = dict(notice)
            self._send_notice(notice)
        today = china_date(self.cfg.clock())
        outcome = reduce_item_record(
            record,
            items.get,
            today,
            message.value,
            owners=self.owners,
            origin=(message.partition, message.offset),
        )
        self._carry_out(outcome, items, notices, message.partition, (record, message.value))
        for refusal in outcome.refused:
            self._refuse(refusal, message)
        return not outcome.refused

    def _refuse(self, refusal: Refusal, message: Received) -> None:
        """A record the item's owner rule refused, to credit.rejected with its reason: the
        message in hand, or a held change refused now that its original came (its own bytes,
        from where it was read)."""
        if refusal.encoded is not None:
            partition, offset = refusal.origin or (message.partition, -1)
            message = Received(message.topic, partition, offset, message.key, refusal.encoded, [])
        record = refusal.record
        send_dead_letter(
            self.out,
            self.rejected,
            message,
            refusal.rejection,
            event_id=record["event_id"],
            department=record["department"]["code"],
            category=record["category"],
        )

    def _carry_out(
        self,
        outcome: ItemOutcome,
        items: StagedTable,
        notices: StagedTable,
        partition: int,
        given: tuple[EnrichedRecord, bytes | None] | None = None,
    ) -> None:
        """`given`: the record in hand and its message bytes, sent as they are when it is
        published unchanged (a change's or an event's own history, or a new item whose
        recomputed record equals the one received: the usual case): no second encoding.
        Equal records encode to equal bytes, and comparing costs a tenth of encoding."""
        due = self._due_dates(partition)
        for key, state in outcome.states.items():
            items[key] = state
            due.note(key, state)
        generation = self.generation if outcome.records else 0
        for record in outcome.records:
            if (
                given is not None
                and given[1]
                and generation == 0
                and (record is given[0] or record == given[0])
            ):
                encoded = given[1]
            else:
                record = {**record, "version": derived_version(record["version"], generation)}
                encoded = encode_enriched(record)
            self.out.send(self.records_topic, record["uscc"].encode(), encoded)
        for notice in outcome.notices:
            notices[notice_key(notice["uscc"], notice["notice_id"])] = dict(notice)
            self._send_notice(notice)
        today = china_date(self.cfg.clock())
        for key, status in outcome.ended:
            state = notices.get(key)
            if state is not None and not state.get("ended_on"):
                ended = end_notice(state, status, today)  # type: ignore[arg-type]
                notices[key] = dict(ended)
                self._send_notice(ended)

    def _send_notice(self, notice: JointPunishmentNotice) -> None:
        """To the receiving department's topic, and to the log analytics reads."""
        key, value = notice["notice_id"].encode(), json.dumps(notice).encode()
        topic = notices_topic(notice["department_code"], self.cfg.topic_prefix)
        # Receiving departments are open-ended: a department's topic is made on first use,
        # declared by the outputs at the batch's flush.
        self.out.send(topic, key, value, declare=True)
        self.out.send(self.notices_log, key, value)
