"""Replay into the publicity index: the newest version of each item in a range, the rest dropped.

Pure. apply_record.lua keeps only the newest version of each item (or identity), so writing
the older versions of a replayed range is wasted work — except where an older version leaves
a trace the newest does not: a name (current or former), a code that leads to the
enterprise, identity fields, or the region whose list the item was put on. So a record is
dropped only when a newer version of the same item in the range leaves exactly the same
traces; the index then ends in the same state as if every record had been applied in order
(tests/integration/test_replay_collapse_state.py checks this on real Redis).

Two more records are kept for that. An ended version leaves a history entry
(record_history.lua) that only a newer ended version overwrites, so it is kept when the newest
is public. And a kept older version must meet the same stored version it met in order: where
a newer version came before it (it changed nothing but its traces), the first of the newest
versions before it is kept too; without it the older version would be applied, and its
region's list would keep the enterprise that the item has moved away from. The first record of
each enterprise is kept as well: it fills the identity fields no registration has set (the
region, the name), which a later record of another item would fill otherwise.
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


def _signature(record: EnrichedRecord) -> tuple[tuple[str, str], Hashable, bool] | None:
    """(item key, traces, whether it leaves a history entry) of a record the index would
    apply; None for one it would skip as not applicable or refuse (those are passed on, so
    the sink counts and reports them)."""
    if record.get("category") in WORKFLOW_CATEGORIES or privacy_violation(record) is not None:
        return None
    try:
        if not record["uscc"]:
            return None
        return item_key(record), traces(record), profile.history_item(record) is not None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def newest_per_item(records: Sequence[EnrichedRecord]) -> Collapsed:
    """Each item's newest version (greatest `version`; the first of equal ones), every record
    whose traces differ from that newest one's, and what those need to meet the stored
    version they met in order (see the module's docstring); the rest dropped. Order is kept."""
    signatures: list[Any] = [_signature(r) for r in records]
    # Per item, the first record of its greatest version so far (each one was applied in
    # order); at the end the newest, whose repeats after it stay not newer either way.
    leader: dict[tuple[str, str], int] = {}
    # Per record, its item's leader just before it: what it met stored when applied in order.
    before: list[int | None] = []
    for index, (record, signature) in enumerate(zip(records, signatures, strict=True)):
        if signature is None:
            before.append(None)
            continue
        key = signature[0]
        before.append(leader.get(key))
        if key not in leader or record["version"] > records[leader[key]]["version"]:
            leader[key] = index
    keep: set[int] = set()
    enterprises: set[str] = set()
    for index, signature in enumerate(signatures):
        if signature is None:
            keep.add(index)
            continue
        best = leader[signature[0]]
        uscc = signature[0][0]
        if (
            best == index
            or uscc not in enterprises
            or signatures[best][1] != signature[1]
            or (signature[2] and not signatures[best][2])  # its history entry would stay
        ):
            keep.add(index)
            shadow = before[index]
            if shadow is not None and records[shadow]["version"] >= records[index]["version"]:
                keep.add(shadow)  # a leader: applied in order, so applied when kept too
        enterprises.add(uscc)
    kept = [record for index, record in enumerate(records) if index in keep]
    return Collapsed(kept, len(records) - len(kept))
