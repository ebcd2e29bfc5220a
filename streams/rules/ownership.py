"""Who may change a public item: the department that created it, or its operator-named successor.

An item (one licence, penalty … of one enterprise) belongs to the department whose record
created it. Later versions, withdrawals (撤销) and changes (license_change, penalty_change)
are accepted only from that department; objections and credit repairs are restricted by
category rights instead (they are filed on the departments' behalf).

When departments merge, an operator reassigns ownership (`creditsync owner reassign`): the
reassignment is an event on credit.ownership, effective from its time `at`. The rule is a
function of the record and the (append-only) reassignment log only, so live runs and
replays decide alike: a record from NEW emitted at or after a reassignment OLD → NEW may
change OLD's items (and the item's owner becomes NEW); one emitted before it may not. The
successor of a successor is followed (A → B, later B → C: A's items belong to C).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from schemas.categories import category_spec
from schemas.dead_letters import Rejection

NOT_OWNER = "not_owner"


@dataclass(frozen=True, slots=True)
class Reassignment:
    """Items of `from_code` (of `category`, or every category) now belong to `to_code`."""

    from_code: str
    to_code: str
    category: str | None
    reason: str
    at: dt.datetime
    id: str
    to_name: str | None = None

    def to_json(self) -> bytes:
        body = {
            "id": self.id,
            "from": self.from_code,
            "to": self.to_code,
            "to_name": self.to_name,
            "category": self.category,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }
        return json.dumps(body, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, value: bytes) -> Reassignment:
        body = json.loads(value)
        return cls(
            from_code=body["from"],
            to_code=body["to"],
            category=body.get("category"),
            reason=body.get("reason") or "",
            at=dt.datetime.fromisoformat(body["at"]),
            id=body["id"],
            to_name=body.get("to_name"),
        )

    @classmethod
    def new(
        cls,
        from_code: str,
        to_code: str,
        reason: str,
        *,
        category: str | None = None,
        to_name: str | None = None,
        at: dt.datetime | None = None,
    ) -> Reassignment:
        """A fresh reassignment, checked: two different departments and a stated reason."""
        if from_code == to_code:
            raise ValueError(f"--from and --to are both {from_code!r}: nothing to reassign")
        if not reason.strip():
            raise ValueError("--reason: say why (e.g. the merger's decision), it is recorded")
        if category is not None:
            category_spec(category)  # an unknown category fails here, naming the known ones
        return cls(
            from_code, to_code, category, reason.strip(), at or dt.datetime.now(dt.UTC),
            str(uuid.uuid4()), to_name,
        )  # fmt: skip


class OwnerLookup(Protocol):
    """The effective owner of an item owned by `code`, for a record emitted at `as_of`."""

    def successor(self, code: str, category: str, as_of: dt.datetime) -> str: ...

    def refresh_if_older(self, as_of: dt.datetime) -> bool:
        """Read reassignments published since the last read if `as_of` is after it (called
        before a refusal only); whether anything was read."""
        ...


class Reassignments:
    """The reassignment log as a small map by former owner (a few entries per merger)."""

    def __init__(self, entries: Iterable[Reassignment] = ()) -> None:
        self._by_from: dict[str, list[Reassignment]] = {}
        self._ids: set[str] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: Reassignment) -> None:
        if entry.id in self._ids:
            return  # the same event read twice (a re-read of the log)
        self._ids.add(entry.id)
        self._by_from.setdefault(entry.from_code, []).append(entry)

    def __len__(self) -> int:
        return len(self._ids)

    def refresh_if_older(self, as_of: dt.datetime) -> bool:
        return False  # a fixed map

    def all(self) -> list[Reassignment]:
        return sorted((e for es in self._by_from.values() for e in es), key=lambda e: e.at)

    def successor(self, code: str, category: str, as_of: dt.datetime) -> str:
        """Follow the reassignments in force at `as_of` from `code`; the last department."""
        seen = {code}
        while True:
            applicable = [
                e
                for e in self._by_from.get(code, ())
                if e.at <= as_of and e.category in (None, category)
            ]
            if not applicable:
                return code
            # Several for one department: the latest is in force (ties by id, deterministic).
            code = max(applicable, key=lambda e: (e.at, e.id)).to_code
            if code in seen:
                return code  # a cycle (A → B, B → A): stop at the first repeat
            seen.add(code)


NO_REASSIGNMENTS = Reassignments()


def record_owner(record: Mapping[str, Any]) -> dict[str, str]:
    """The department of a record, as the item state keeps its owner."""
    department = record["department"]
    return {"code": department["code"], "name": department.get("name") or department["code"]}


def may_modify(
    owner: Mapping[str, str],
    record: Mapping[str, Any],
    target_category: str,
    owners: OwnerLookup | None = None,
) -> bool:
    """Whether `record`'s department may change an item of `target_category` owned by `owner`."""
    claimant, as_of = record["department"]["code"], record["emitted_at"]
    if owners is None:
        return bool(claimant == owner["code"])
    if owners.successor(owner["code"], target_category, as_of) == claimant:
        return True
    # About to refuse: first make sure no reassignment published before the record is missed.
    return owners.refresh_if_older(as_of) and (
        owners.successor(owner["code"], target_category, as_of) == claimant
    )


def _named(department: Mapping[str, str]) -> str:
    code, name = department["code"], department.get("name")
    return f"{code}（{name}）" if name and name != code else code


def key_field_label(category: str) -> tuple[str, str]:
    """(field as rejections name it, its Chinese name) of the key that identifies an item."""
    spec = category_spec(category)
    fields = [spec.field(name) for name in spec.key_fields]
    if len(fields) == 1:
        return f"{fields[0].name}/{fields[0].chinese}", fields[0].chinese
    chinese = "、".join(f.chinese for f in fields)
    return f"record_key/{chinese}", chinese


def not_owner_rejection(
    record: Mapping[str, Any],
    target_category: str,
    target_key: str,
    owner: Mapping[str, str],
    stage: str = "items",
) -> Rejection:
    """The reason a record from a department other than the item's owner is refused."""
    field, label = key_field_label(target_category)
    target = f"{category_spec(target_category).chinese} {label} {target_key}"
    sender = _named(record["department"])
    if record["category"] == target_category:
        what = f"{target}（事件 {record['event_id']}）"
        verb = "撤销" if record.get("operation") == "withdraw" else "修改"
    else:
        what = (
            f"{category_spec(record['category']).chinese}（事件 {record['event_id']}）"
            f"所指的{target}"
        )
        verb = "变更"
    message = (
        f"{what}属于 {_named(owner)}，{sender} 无权{verb}（只有原报送部门可修改或撤销）；"
        f"请由 {owner['code']} 报送，部门合并时由运维人员执行 creditsync owner reassign"
    )
    return Rejection(NOT_OWNER, field, message, stage, "creditsync.NotOwner")
