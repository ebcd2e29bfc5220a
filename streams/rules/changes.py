"""Licence and penalty changes applied to the record they name (DOMAIN.md "Record categories").

A change refers to its original by document number (许可文件编号 / 行政处罚决定书文号) and may
arrive before it; such changes are held and merged when the original comes. The published
payload keeps exactly the category's fields (the Avro payload schema has no others), so:
a licence change whose 变更事项 names a licence field sets that field; any other licence
change, and every penalty change, is noted in the record's free-text field (详情 / 备注) so the
public sees it. The change records themselves are history of their own (credit.records,
ClickHouse); `change_history` gives them in order for a profile that wants to list them.

`merge_pending` is order-independent and idempotent: changes are de-duplicated and applied in
(changed_on, version) order, each field taking its latest change, so replays and any arrival
order give the same record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.categories import CHANGE_TARGETS, category_spec
from streams.errors import ChangeError

# The free-text field a change that sets no field is noted in, per original category.
NOTE_FIELDS: dict[str, str] = {"license": "details", "penalty": "remarks"}
NOTE_SEPARATOR = "；"

_LICENSE = category_spec("license")
# 变更事项 as departments write it → the licence field it changes: every licence field by its
# template name and its English name, plus the usual shorter forms.
_LICENSE_ITEMS: dict[str, str] = {
    **{spec.chinese: spec.name for spec in _LICENSE.fields},
    **{spec.name: spec.name for spec in _LICENSE.fields},
    "有效期": "valid_to",
    "有效期限": "valid_to",
    "许可有效期": "valid_to",
    "许可证状态": "status",
    "许可范围": "license_content",
    "许可事项": "license_content",
}
# Fields that identify the licence: a change to them would re-key the record, which a
# change record cannot do (the department withdraws and re-sends instead).
_KEY_FIELDS = frozenset(_LICENSE.key_fields)
# 有效期至 written as "no end date": the licence stays valid until withdrawn.
_NO_END_DATE = frozenset({"长期", "长期有效", "永久", "永久有效", "无固定期限", "无期限"})
_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def change_target(change_category: str, change_payload: Mapping[str, Any]) -> tuple[str, str]:
    """(category, record_key) of the original a change names: its item in the profile."""
    if change_category not in CHANGE_TARGETS:
        raise ChangeError(f"category {change_category!r} is not a change category")
    target = CHANGE_TARGETS[change_category]
    key_field = category_spec(target).key_fields[0]
    number = change_payload.get(key_field)
    if not isinstance(number, str) or not number.strip():
        raise ChangeError(f"{change_category}: field {key_field} is missing; it names the original")
    return target, number.strip()


def _as_date(value: Any, change: str, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        if re.fullmatch(r"\s*\d{8}\s*", value):
            value = f"{value.strip()[:4]}-{value.strip()[4:6]}-{value.strip()[6:]}"
        match = _DATE.match(value)
        if match:
            try:
                return dt.date(*(int(part) for part in match.groups()))
            except ValueError:
                pass
    raise ChangeError(
        f"{change}: {field} {value!r} is not a date; expected e.g. 2024-03-01 or 2024年3月1日"
    )


def _license_entry(payload: Mapping[str, Any], version: str) -> dict[str, Any]:
    item = str(payload.get("change_item") or "").strip()
    field = _LICENSE_ITEMS.get(item)
    if field in _KEY_FIELDS:
        raise ChangeError(
            f"license_change {payload.get('license_number')}: 变更事项 {item!r} changes the "
            "licence number, which identifies the licence; withdraw and re-send it instead"
        )
    after = payload.get("content_after")
    change = f"license_change {payload.get('license_number')} ({item})"
    if field is not None and _LICENSE.field(field).kind == "date":
        if after in (None, "") or str(after).strip() in _NO_END_DATE:
            after = None
        else:
            after = _as_date(after, change, "变更后内容")
    return {
        "change_item": item,
        # None: an item that names no licence field; it is noted in 详情 instead.
        "field": field,
        "content_before": payload.get("content_before"),
        "content_after": after,
        "changed_on": _as_date(payload.get("changed_on"), change, "changed_on"),
        "version": version,
    }


def _penalty_entry(payload: Mapping[str, Any], version: str) -> dict[str, Any]:
    change = f"penalty_change {payload.get('decision_number')}"
    return {
        "changing_authority": payload.get("changing_authority"),
        "change_content": payload.get("change_content"),
        "changed_on": _as_date(payload.get("changed_on"), change, "changed_on"),
        "version": version,
    }


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A change that arrived before its original, held until the original comes."""

    version: str
    change_category: str
    change_payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (dates as ISO strings) for a stage table."""
        payload = {
            k: v.isoformat() if isinstance(v, dt.date) else v
            for k, v in self.change_payload.items()
        }
        return {
            "version": self.version,
            "change_category": self.change_category,
            "change_payload": payload,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingChange:
        spec = category_spec(data["change_category"])
        dates = {f.name for f in spec.fields if f.kind == "date"}
        payload = {
            k: dt.date.fromisoformat(v) if k in dates and isinstance(v, str) else v
            for k, v in data["change_payload"].items()
        }
        return cls(data["version"], data["change_category"], payload)


def _order(entry: Mapping[str, Any]) -> tuple[dt.date, str]:
    return entry["changed_on"], entry["version"]


def _entry(change: PendingChange) -> dict[str, Any]:
    target, _ = change_target(change.change_category, change.change_payload)
    if target == "license":
        return _license_entry(change.change_payload, change.version)
    return _penalty_entry(change.change_payload, change.version)


def change_history(pending_changes: Iterable[PendingChange]) -> list[dict[str, Any]]:
    """The changes in the order they apply, each once: a change re-sent (at-least-once
    delivery, a replay) under another version counts once, at its first version."""
    history: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for entry in sorted((_entry(c) for c in pending_changes), key=_order):
        content = tuple((k, v) for k, v in entry.items() if k != "version")
        if content not in seen:
            seen.add(content)
            history.append(entry)
    return history


def _note(entry: Mapping[str, Any]) -> str:
    if "change_item" in entry:
        before = entry["content_before"] if entry["content_before"] is not None else ""
        return (
            f"变更（{entry['changed_on'].isoformat()}）{entry['change_item']}："
            f"{before}→{entry['content_after']}"
        )
    return (
        f"变更（{entry['changed_on'].isoformat()}，{entry['changing_authority'] or ''}）："
        f"{entry['change_content']}"
    )


def merge_pending(
    original_payload: Mapping[str, Any], pending_changes: Iterable[PendingChange]
) -> dict[str, Any]:
    """The original's payload with every change applied (a new dict with the same fields).

    Licence: a change whose 变更事项 names a licence field (有效期至, 许可内容, 状态 …) sets it
    to 变更后内容 (dates parsed, 长期 = no end date); other items are noted in 详情.
    Penalty: each change is noted in 备注 (变更（日期，机关）：变更内容).
    """
    changes = list(pending_changes)
    result = dict(original_payload)
    if not changes:
        return result
    targets = {change_target(c.change_category, c.change_payload) for c in changes}
    if len(targets) != 1:
        raise ChangeError(f"changes for several records merged into one: {sorted(targets)}")
    [(target, number)] = targets
    key_field = category_spec(target).key_fields[0]
    if str(original_payload.get(key_field) or "").strip() != number:
        raise ChangeError(
            f"{changes[0].change_category} {number}: applied to {target} "
            f"{original_payload.get(key_field)!r}; {key_field} must match"
        )
    notes: list[str] = []
    for entry in change_history(changes):
        if entry.get("field") is not None:
            result[entry["field"]] = entry["content_after"]
        else:
            notes.append(_note(entry))
    if notes:
        note_field = NOTE_FIELDS[target]
        result[note_field] = NOTE_SEPARATOR.join(
            [result[note_field], *notes] if result.get(note_field) else notes
        )
    return result


def apply_change(
    original_payload: Mapping[str, Any],
    change_category: str,
    change_payload: Mapping[str, Any],
    version: str = "",
) -> dict[str, Any]:
    """The original's payload with one change applied; for several use `merge_pending`,
    which applies them in order and each once (see there for what a change sets)."""
    return merge_pending(
        original_payload, [PendingChange(version, change_category, dict(change_payload))]
    )
