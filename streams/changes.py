"""Licence and penalty changes applied to the record they name (DOMAIN.md "Record categories").

A change refers to its original by document number (许可文件编号 / 行政处罚决定书文号) and may
arrive before it; such changes are held and merged when the original comes. Applying is
order-independent and idempotent: every change is kept in a `changes` history sorted by
(changed_on, version), and each changed field takes the value of its latest change, so
replays and any arrival order give the same record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.categories import category_spec
from streams.errors import ChangeError

CHANGE_TARGETS: dict[str, str] = {"license_change": "license", "penalty_change": "penalty"}
HISTORY_FIELD = "changes"
LAST_CHANGED_FIELD = "last_changed_on"
CHANGE_CONTENT_FIELD = "change_content"

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
        # None: an item we do not know is recorded in the history but changes no field.
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


def _order(entry: Mapping[str, Any]) -> tuple[dt.date, str]:
    return entry["changed_on"], entry.get("version") or ""


def apply_change(
    original_payload: Mapping[str, Any],
    change_category: str,
    change_payload: Mapping[str, Any],
    version: str = "",
) -> dict[str, Any]:
    """The original's payload with the change applied (a new dict; the input is not changed).

    license_change: the change joins the history and, when 变更事项 names a licence field
    (有效期至, 许可内容, 状态 …), that field takes the latest change's 变更后内容.
    penalty_change: the change joins the history and `change_content` is the latest one.
    `version` (streams.versioning) orders changes made on the same day.
    """
    target, number = change_target(change_category, change_payload)
    key_field = category_spec(target).key_fields[0]
    if str(original_payload.get(key_field) or "").strip() != number:
        raise ChangeError(
            f"{change_category} {number}: applied to {target} "
            f"{original_payload.get(key_field)!r}; {key_field} must match"
        )
    entry = (
        _license_entry(change_payload, version)
        if target == "license"
        else _penalty_entry(change_payload, version)
    )
    result = dict(original_payload)
    history = [dict(e) for e in result.get(HISTORY_FIELD) or []]
    # At-least-once delivery: the same change applied twice is recorded once.
    same = {k: v for k, v in entry.items() if k != "version"}
    if not any({k: v for k, v in e.items() if k != "version"} == same for e in history):
        history.append(entry)
    history.sort(key=_order)
    result[HISTORY_FIELD] = history
    result[LAST_CHANGED_FIELD] = history[-1]["changed_on"]
    if target == "license":
        for e in history:  # in order, so the latest change of each field wins
            if e["field"] is not None:
                result[e["field"]] = e["content_after"]
    else:
        result[CHANGE_CONTENT_FIELD] = history[-1]["change_content"]
    return result


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A change that arrived before its original, held until the original comes."""

    version: str
    change_category: str
    change_payload: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (dates as ISO strings) for a Faust table."""
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


def merge_pending(
    original_payload: Mapping[str, Any], pending_changes: Iterable[PendingChange]
) -> dict[str, Any]:
    """The original with every held change applied, in version order."""
    result = dict(original_payload)
    for change in sorted(pending_changes, key=lambda c: c.version):
        result = apply_change(result, change.change_category, change.change_payload, change.version)
    return result
