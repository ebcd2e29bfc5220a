"""Replay into the publicity index: the newest version of each item in a range, the rest dropped.

Pure. apply_record.lua keeps only the newest version of each item (or identity), so writing
the older versions of a replayed range is wasted work — except where an older version leaves
a trace the newest does not: a name (current or former), a code that leads to the
enterprise, identity fields, or the region whose list the item was put on. So a record is
dropped only when a newer version of the same item in the range leaves exactly the same
traces; the index then ends in the same state as if every record had been applied in order
(tests/unit/test_ops_collapse.py checks this against a model of the script).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.categories import WORKFLOW_CATEGORIES
from schemas.records import EnrichedRecord, item_id
from sinks.base import privacy_violation
from sinks.publicity import profile
from sinks.publicity.index import IDENTITY_FIELD


@dataclass(frozen=True, slots=True)
class Collapsed:
    """The records to write, in their original order, and how many were left out."""

    kept: list[EnrichedRecord]
    dropped: int


def item_key(record: EnrichedRecord) -> tuple[str, str]:
    """(uscc, item field) as apply_record.lua names the slot a record's version goes in."""
    category = record["category"]
    if category == "registration":
        return record["uscc"], IDENTITY_FIELD
    return record["uscc"], item_id(category, record["record_key"])


def traces(record: EnrichedRecord) -> Hashable:
    """What a record leaves in the index besides its item: names, codes, identity fields
    (authoritative for a registration, fill-if-missing for the rest) and region."""
    if record["category"] == "registration":
        identity = profile.identity_fields(record)
    else:
        identity = profile.identity_defaults(record)
    filled = tuple(sorted((k, str(v)) for k, v in identity.items() if v is not None))
    return profile.record_name(record), frozenset(profile.record_codes(record)), filled


def _signature(record: EnrichedRecord) -> tuple[tuple[str, str], Hashable] | None:
    """(item key, traces) of a record the index would apply; None for one it would skip as
    not applicable or refuse (those are passed on, so the sink counts and reports them)."""
    if record.get("category") in WORKFLOW_CATEGORIES or privacy_violation(record) is not None:
        return None
    try:
        if not record["uscc"]:
            return None
        return item_key(record), traces(record)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def newest_per_item(records: Sequence[EnrichedRecord]) -> Collapsed:
    """Each item's newest version (greatest `version`; the last of equal ones) and every
    record whose traces differ from that newest one's; the rest dropped. Order is kept."""
    signatures: list[Any] = [_signature(r) for r in records]
    newest: dict[tuple[str, str], int] = {}
    for index, (record, signature) in enumerate(zip(records, signatures, strict=True)):
        if signature is None:
            continue
        key = signature[0]
        best = newest.get(key)
        if best is None or record["version"] >= records[best]["version"]:
            newest[key] = index
    kept: list[EnrichedRecord] = []
    for index, (record, signature) in enumerate(zip(records, signatures, strict=True)):
        if signature is not None:
            best = newest[signature[0]]
            if best != index and signatures[best][1] == signature[1]:
                continue
        kept.append(record)
    return Collapsed(kept, len(records) - len(kept))
