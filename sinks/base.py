"""What every sink returns, and the checks every sink applies to a record before writing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from schemas.records import EnrichedRecord


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """One record a sink refused, and why; the caller routes it to credit.rejected."""

    event_id: str
    reason_code: str
    reason: str


@dataclass(frozen=True, slots=True)
class SinkResult:
    """What one `write_batch` did.

    applied: records written; skipped_not_newer: records ignored because the stored version
    of their item was the same or newer (replays, out-of-order delivery); not_applicable:
    records this sink does not store (workflow events in the publicity index); rejected:
    records refused one by one, the rest of the batch was written."""

    applied: int = 0
    skipped_not_newer: int = 0
    not_applicable: int = 0
    rejected: tuple[RecordRejection, ...] = field(default=())

    @property
    def total(self) -> int:
        return self.applied + self.skipped_not_newer + self.not_applicable + len(self.rejected)


class Sink(Protocol):
    """The shape the sink loops drive (streams/runtime/sink_loop.py): connect and create schema
    once, then batches."""

    def setup(self) -> object: ...

    def write_batch(self, records: list[EnrichedRecord]) -> SinkResult: ...

    def close(self) -> None: ...


def privacy_violation(record: EnrichedRecord) -> RecordRejection | None:
    """A rejection if a raw resident ID number reached the sinks (DOMAIN.md "Privacy").

    streams/ replaces `id_document_number` by a masked form and a keyed hash; a record that
    still carries the raw number is refused rather than published or stored."""
    payload = record.get("payload") or {}
    if payload.get("id_document_number"):
        return RecordRejection(
            record.get("event_id", "?"),
            "raw_personal_id",
            f"record {record.get('event_id', '?')}: payload field 'id_document_number' holds a "
            "raw ID number; expected only id_document_number_masked and "
            "id_document_number_hash (masking happens in streams/)",
        )
    return None
