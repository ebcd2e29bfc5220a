"""The Python shape of the two messages every stage exchanges, as the codec decodes them.

`IntakeEvent` is what an adapter publishes to `credit.intake.<category>`; `EnrichedRecord` is
what streams/ publishes to `credit.records` (key: USCC). The Avro schemas in `schemas/avro/`
are the wire form of exactly these; dates are `datetime.date`, instants timezone-aware
`datetime.datetime` (UTC), money `decimal.Decimal` with 2 places.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NotRequired, TypedDict

from schemas.categories import Category, Operation

# Where an item stands in the public view (DOMAIN.md "Publication periods", "Objections").
PublicationStatus = Literal[
    "public",  # shown
    "under_review",  # shown, marked: an objection is open (异议处理中)
    "expired",  # a restriction whose 限制期限至 has passed: history only
    "repaired",  # left the public view early after credit repair (信用修复)
    "removed",  # abnormal-operations listing ended by a removal record (移出)
    "withdrawn",  # the department withdrew it, or an objection was upheld
]
PUBLIC_STATUSES: frozenset[str] = frozenset({"public", "under_review"})


class Department(TypedDict):
    code: str  # e.g. "scjg-640000" — the department's code in the access configuration
    name: str  # e.g. "宁夏回族自治区市场监督管理厅"


class SubjectAsSent(TypedDict):
    """The subject exactly as the department sent it; at least one code is present."""

    uscc: str | None
    registration_number: str | None
    organisation_code: str | None
    name: str | None


class IntakeEvent(TypedDict):
    event_id: str  # UUID; deterministic for file and HTTP intake (re-sends are no-ops)
    category: Category
    operation: Operation
    department: Department
    record_key: str  # the department's natural key (document / licence number …)
    subject: SubjectAsSent
    occurred_at: dt.date | None  # the decision date the deadline runs from
    emitted_at: dt.datetime
    source_sequence: int  # order within one source; later wins
    adapter: str  # "spreadsheet/1", "http/1", "debezium/1", "sql-poller/1", "demo/1"
    payload: dict[str, Any]  # the category's fields (schemas/categories.py), by English name
    # Issue #17 (IntakeEvent v3; absent in older versions, read as the defaults):
    # a back-load (存量) by the sender's flag (`ingest --backfill`, the request's `backfill`);
    # published as usual, kept out of the timeliness figures.
    backfill: NotRequired[bool]  # default False
    # Whether the sending registration authority is networked (departments file
    # `networked`): registrations are due in 1 working day if so, 5 if not (seed 000).
    networked: NotRequired[bool]  # default True


class Region(TypedDict):
    code: str  # GB/T 2260 six-digit division code from USCC chars 3–8
    province: str | None
    prefecture: str | None
    county: str | None


class Timeliness(TypedDict):
    working_days: int | None  # official working days from decision to intake (调休 aware)
    deadline_working_days: int | None
    deadline_met: bool | None


class Lineage(TypedDict):
    topic: str
    partition: int
    offset: int
    schema_fingerprint: str  # hex CRC-64-AVRO of the writer schema


class EnrichedRecord(TypedDict):
    """One per intake event (plus synthetic ones from timers: expiry), keyed by USCC."""

    event_id: str
    category: Category
    operation: Operation
    department: Department
    record_key: str
    subject: SubjectAsSent
    uscc: str
    canonical_name: str
    entity_type: str  # e.g. "企业", "个体工商户", "农民专业合作社", "社会团体"
    region: Region
    occurred_at: dt.date | None
    emitted_at: dt.datetime
    processed_at: dt.datetime
    source_sequence: int
    # Order of versions of one item: (source_sequence, emitted_at ms, event_id); sinks keep
    # the greatest and ignore anything older (`streams.rules.versioning.record_version`).
    version: str
    adapter: str
    publication_status: PublicationStatus
    timeliness: Timeliness
    lineage: Lineage
    # The category's fields. For restriction, `id_document_number` is replaced by
    # `id_document_number_masked` (640422********1234) and `id_document_number_hash`
    # (HMAC-SHA256 hex): the raw number never leaves streams/ (DOMAIN.md "Privacy").
    payload: dict[str, Any]
    # Issue #17 (EnrichedRecord v3; absent in older versions, read as the defaults):
    # a back-load (存量): the sender's flag or decided before CREDITSYNC_BACKFILL_BEFORE.
    backfill: NotRequired[bool]  # default False
    # When and why an item left the public view (expired, removed, repaired, withdrawn),
    # shown in the profile's history (streams/rules/publication.py `end_of_publication`).
    ended_on: NotRequired[dt.date | None]
    end_reason: NotRequired[str | None]


def item_id(category: str, record_key: str) -> str:
    """The identity of one public item within an enterprise's profile, across its versions.

    Changes, objections and repairs name their target by category and document number only
    (seed 002 templates), so the department is not part of the identity."""
    return f"{category}:{record_key}"
