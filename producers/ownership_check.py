"""The HTTP intake's ownership pre-check: a record that targets another department's public
item is refused in the answer, with the reason the items stage would give.

Source: the publicity index (each public item keeps its owner department) and the
reassignment log. Only public items are known here, so the stream stage stays the
authority: a record that passes because its item is not public yet is still refused there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from producers.events import FieldProblem, RecordRejection
from schemas.categories import CHANGE_TARGETS, ITEM_CATEGORIES, category_spec
from schemas.records import IntakeEvent, item_id
from sinks.publicity.reader import PublicityReader
from streams.rules.ownership import OwnerLookup, may_modify, not_owner_rejection

_SUBJECT_CODES = ("uscc", "registration_number", "organisation_code")


def target_of(event: IntakeEvent) -> tuple[str, str] | None:
    """(category, record key) of the item a record would create or change; None for
    records that are not owner-restricted (registrations, objections, repairs, feedback)."""
    category = event["category"]
    if category in ITEM_CATEGORIES:
        return category, event["record_key"]
    if category in CHANGE_TARGETS:
        target = CHANGE_TARGETS[category]
        number = event["payload"].get(category_spec(target).key_fields[0])
        if isinstance(number, str) and number.strip():
            return target, number.strip()
    return None


class OwnershipPrecheck:
    """Looks a record's target item up in the publicity index and compares departments."""

    def __init__(self, reader: PublicityReader, owners: OwnerLookup | None = None) -> None:
        self.reader = reader
        self.owners = owners

    def owner_of(self, event: IntakeEvent, category: str, key: str) -> dict[str, str] | None:
        """The owner department of the public item, or None when it is not public."""
        subject = event["subject"]
        for name in _SUBJECT_CODES:
            code = subject.get(name)  # type: ignore[misc]
            uscc = self.reader.resolve(code) if code else None
            if uscc is None:
                continue
            raw = self.reader.redis.hget(self.reader.keys.items(uscc, category),
                                         item_id(category, key))  # fmt: skip
            if raw is None:
                return None
            department = json.loads(raw).get("department") or {}
            return department if department.get("code") else None
        return None

    def refusal(
        self, event: IntakeEvent, ref: str, row: Mapping[str, Any] | None = None
    ) -> RecordRejection | None:
        """A not_owner rejection of the record, or None when it may go on."""
        target = target_of(event)
        if target is None:
            return None
        category, key = target
        owner = self.owner_of(event, category, key)
        if owner is None or may_modify(owner, event, category, self.owners):
            return None
        rejection = not_owner_rejection(event, category, key, owner, stage="validate")
        field, _, chinese = (rejection.field or "").partition("/")
        problem = FieldProblem(field, chinese, key, rejection.message, "not_owner")
        return RecordRejection.of(ref, [problem], row)
