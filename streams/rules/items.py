"""Stage 2 as plain functions: the state of each public item and what it publishes.

An item is one licence, penalty, inspection, listing or honour of one enterprise
(`schemas.records.item_id`). Its state keeps the original record as sent, every change that
names it (also those that came first), and its workflow (objection, repair, withdrawal); the
published version is always recomputed from that state, so any arrival order and any replay
give the same result. State values are JSON-able (they live in a stage table).

Ownership (`streams.rules.ownership`): the state keeps the item's owner, the department of the
record that created it; versions, withdrawals and changes from any other department are
refused (`ItemOutcome.refused`, dead-lettered by the stage) and leave the item as it was. A
change that comes before its original is held with its record; when the original comes,
held changes of other departments are refused then and forgotten (state and `seen`), so the
item ends exactly as if they had arrived after it. A held change's own record goes to
credit.records (history) only once it applies.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.categories import CHANGE_TARGETS, ITEM_CATEGORIES, ITEM_WORKFLOW_CATEGORIES
from schemas.codec import decode_enriched, encode_enriched
from schemas.dead_letters import Rejection
from schemas.records import PUBLIC_STATUSES, EnrichedRecord, PublicationStatus, item_id
from streams.errors import ChangeError, StateBoundExceeded
from streams.rules.changes import PendingChange, change_target, merge_pending
from streams.rules.notices import (
    JointPunishmentNotice,
    apply_feedback,
    check_answerer,
    notice_ids_of,
    notices_for,
    unknown_notice,
)
from streams.rules.ownership import OwnerLookup, may_modify, not_owner_rejection, record_owner
from streams.rules.publication import (
    WorkflowState,
    apply_workflow_event,
    end_of_publication,
    next_expiry,
    publication_status,
)
from streams.rules.timeliness import china_date
from streams.rules.versioning import is_newer, parse_version, record_version

# Bounds on one item's state (issue #13: ~100 changes of one penalty grew its state past the
# changelog's 1 MB limit and stopped the stage). `seen` holds the event ids of every change
# and workflow event applied, so a replay skips them; a record past a bound is refused and
# not added, so `seen` stays complete and replays still converge.
MAX_CHANGES_PER_ITEM = 200
MAX_SEEN_PER_ITEM = 400

StateGet = Callable[[str], dict[str, Any] | None]


def item_key(uscc: str, category: str, record_key: str) -> str:
    return f"{uscc}|{item_id(category, record_key)}"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record refused by the item it targets. `encoded`/`origin`: for a held change
    refused later, its message bytes and (partition, offset) on credit.resolved; None for
    the record in hand (the stage dead-letters the message it is handling)."""

    record: EnrichedRecord
    rejection: Rejection
    encoded: bytes | None = None
    origin: tuple[int, int] | None = None


@dataclass
class ItemOutcome:
    """Table updates and records to publish for one input."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: list[EnrichedRecord] = field(default_factory=list)
    notices: list[JointPunishmentNotice] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    # Notices whose restriction left the public view: (notice key, the item's new status).
    ended: list[tuple[str, str]] = field(default_factory=list)


def _pack(record: EnrichedRecord) -> str:
    return base64.b64encode(encode_enriched(record)).decode()


def _unpack(packed: str) -> EnrichedRecord:
    return decode_enriched(base64.b64decode(packed))


def _empty_state() -> dict[str, Any]:
    return {
        "original": None,
        "version": None,
        "changes": [],
        "workflow": None,
        "seen": [],
        "withdrawn": False,
        "status": None,
        "expires_on": None,
        "notices_sent": False,
        "owner": None,
    }


def _owner(state: dict[str, Any]) -> dict[str, str] | None:
    """The item's owner; for state kept before owners were recorded, its original's."""
    if state.get("owner"):
        return state["owner"]  # type: ignore[no-any-return]
    if state["original"]:
        return record_owner(_unpack(state["original"]))
    return None


def reduce_record(
    record: EnrichedRecord,
    get_state: StateGet,
    today: dt.date,
    encoded: bytes | None = None,
    *,
    owners: OwnerLookup | None = None,
    origin: tuple[int, int] | None = None,
) -> ItemOutcome:
    """Apply one resolved record to the items it concerns. `encoded`: the message the
    record was decoded from, kept as the item's original as it is (saves encoding it again;
    any kept schema version decodes). `owners`: operator reassignments of ownership;
    `origin`: the message's (partition, offset), kept with a change held for its original."""
    category = record["category"]
    out = ItemOutcome()
    if category in ITEM_CATEGORIES:
        key = item_key(record["uscc"], category, record["record_key"])
        state = get_state(key) or _empty_state()
        owner = _owner(state)
        if owner is not None and not may_modify(owner, record, category, owners):
            rejection = not_owner_rejection(record, category, record["record_key"], owner)
            out.refused.append(Refusal(record, rejection))
            return out
        current = state["original"] and _unpack(state["original"])
        if current and not is_newer(record["version"], current["version"]):
            return out  # a duplicate or an older version: the item already has better
        packed = base64.b64encode(encoded).decode() if encoded is not None else _pack(record)
        state = {
            **state,
            "original": packed,
            "withdrawn": record["operation"] == "withdraw",
            "owner": record_owner(record),
        }
        if owner is None:
            state = _settle_held(state, category, out, owners)
        _publish(key, state, record, today, out, original=record)
        return out
    # Changes and workflow events are history of their own (ClickHouse keeps them) and act
    # on the item they name.
    if category in CHANGE_TARGETS:
        target_category, number = change_target(category, record["payload"])
        key = item_key(record["uscc"], target_category, number)
        state = get_state(key) or _empty_state()
        if record["event_id"] in state["seen"]:
            return out
        _within_bounds(record, key, state)
        owner = _owner(state)
        entry = PendingChange(record["version"], category, dict(record["payload"])).to_dict()
        if owner is None:
            # Held: whether it may apply is known only when the original (its owner) comes.
            held = base64.b64encode(encoded).decode() if encoded is not None else _pack(record)
            entry.update(held=held, origin=list(origin) if origin else None)
        elif not may_modify(owner, record, target_category, owners):
            rejection = not_owner_rejection(record, target_category, number, owner)
            out.refused.append(Refusal(record, rejection))
            return out
        else:
            out.records.append(record)
            state = {**state, "owner": record_owner(record)}
        state = {
            **state,
            "changes": [*state["changes"], entry],
            "seen": [*state["seen"], record["event_id"]],
        }
        _publish(key, state, record, today, out)
        return out
    out.records.append(record)
    if category in ITEM_WORKFLOW_CATEGORIES:
        payload = record["payload"]
        key = item_key(record["uscc"], payload["target_category"], payload["target_record_key"])
        state = get_state(key) or _empty_state()
        if record["event_id"] in state["seen"]:
            return out
        _within_bounds(record, key, state)
        workflow = state["workflow"] and WorkflowState.from_dict(state["workflow"])
        workflow = apply_workflow_event(workflow, category, payload)
        state = {
            **state,
            "workflow": workflow.to_dict(),
            "seen": [*state["seen"], record["event_id"]],
        }
        _publish(key, state, record, today, out)
    return out


def held_for_original(record: EnrichedRecord, get_state: StateGet) -> bool:
    """Whether `reduce_record` would hold the record for an original not yet come (a change
    whose item has no owner yet), keeping its `origin`; also True for a change that names
    no item (refused by `reduce_record`)."""
    category = record["category"]
    if category not in CHANGE_TARGETS:
        return False
    try:
        target_category, number = change_target(category, record["payload"])
    except ChangeError:
        return True
    state = get_state(item_key(record["uscc"], target_category, number))
    return state is None or _owner(state) is None


def _settle_held(
    state: dict[str, Any], category: str, out: ItemOutcome, owners: OwnerLookup | None
) -> dict[str, Any]:
    """The original has come: each change held for it applies if its department may change
    the item (in arrival order, the owner passing to a reassigned successor), else it is
    refused and forgotten, as if it had come after the original."""
    owner = state["owner"]
    kept: list[dict[str, Any]] = []
    forgotten: set[str] = set()
    for entry in state["changes"]:
        if "held" not in entry:
            kept.append(entry)
            continue
        encoded = base64.b64decode(entry["held"])
        change = decode_enriched(encoded)
        applied = {k: v for k, v in entry.items() if k not in ("held", "origin")}
        if may_modify(owner, change, category, owners):
            owner = record_owner(change)
            kept.append(applied)
            out.records.append(change)  # its history, now that it applies
        else:
            _, number = change_target(change["category"], change["payload"])
            rejection = not_owner_rejection(change, category, number, owner)
            where = tuple(entry["origin"]) if entry.get("origin") else None
            out.refused.append(Refusal(change, rejection, encoded, where))  # type: ignore[arg-type]
            forgotten.add(change["event_id"])
    seen = [s for s in state["seen"] if s not in forgotten]
    return {**state, "changes": kept, "seen": seen, "owner": owner}


def _within_bounds(record: EnrichedRecord, key: str, state: dict[str, Any]) -> None:
    """StateBoundExceeded when applying `record` would take the item past a bound."""
    if record["category"] in CHANGE_TARGETS and len(state["changes"]) >= MAX_CHANGES_PER_ITEM:
        count, bound, what = len(state["changes"]), MAX_CHANGES_PER_ITEM, "条变更"
    elif len(state["seen"]) >= MAX_SEEN_PER_ITEM:
        count, bound, what = len(state["seen"]), MAX_SEEN_PER_ITEM, "条变更和异议/修复事件"
    else:
        return
    raise StateBoundExceeded(
        f"{record['category']} 记录 {record['record_key']!r}（事件 {record['event_id']}）"
        f"未应用：事项 {key} 已有 {count} {what}，达到每个事项 {bound} 条的上限；"
        "该记录转入 credit.rejected，事项保持原样，其余记录照常处理"
    )


def notice_key(uscc: str, notice_id: str) -> str:
    return f"{uscc}|notice:{notice_id}"


def reduce_feedback(
    record: EnrichedRecord, get_notice: StateGet
) -> tuple[str, JointPunishmentNotice] | None:
    """A department's feedback on a joint-punishment notice (发起 → 响应 → 反馈). NoticeError
    (in Chinese, for the dead letter) when no such notice was sent for the enterprise, or
    when the sending department is not the one the notice was sent to."""
    nid = str(record["payload"].get("notice_id"))
    key = notice_key(record["uscc"], nid)
    notice = get_notice(key)
    if notice is None:
        raise unknown_notice(nid, record["uscc"])
    check_answerer(notice, record["department"]["name"])  # type: ignore[arg-type]
    return key, apply_feedback(notice, record["payload"])  # type: ignore[arg-type]


def reduce_expiry_check(key: str, state: dict[str, Any], today: dt.date) -> ItemOutcome:
    """Re-evaluate an item's publication period on a timer, without a new event."""
    out = ItemOutcome()
    if state.get("original"):
        _publish(key, state, None, today, out)
    return out


def _publish(
    key: str,
    state: dict[str, Any],
    trigger: EnrichedRecord | None,
    today: dt.date,
    out: ItemOutcome,
    original: EnrichedRecord | None = None,
) -> None:
    """Recompute the item's published version from its state; publish it if it changed.
    `original`: the state's original, when the caller has it decoded already."""
    out.states[key] = state
    if not state["original"]:
        return  # the original has not arrived: held until it does
    if original is None:
        original = _unpack(state["original"])
    changes = [PendingChange.from_dict(c) for c in state["changes"]]
    payload = merge_pending(original["payload"], changes) if changes else original["payload"]
    workflow = WorkflowState.from_dict(state["workflow"]) if state["workflow"] else None
    status: PublicationStatus = publication_status(
        original["category"],
        payload,
        today,
        workflow,
        "withdraw" if state["withdrawn"] else "upsert",
    )
    expires = next_expiry(original["category"], payload)
    state["expires_on"] = expires.isoformat() if expires else None
    if trigger is None and status == state["status"]:
        return  # a timer found nothing to change
    version = _derived_version(original, trigger, state, status)
    if state["version"] == version and state["status"] == status:
        return
    if (
        state["notices_sent"]
        and state["status"] in PUBLIC_STATUSES
        and (status not in PUBLIC_STATUSES)
    ):
        # The restriction left the public view: its receiving departments are told.
        ids = notice_ids_of({**original, "payload": payload})
        out.ended += [(notice_key(original["uscc"], n), status) for n in ids]
    state["version"], state["status"] = version, status
    withdrawn_on = china_date(original["emitted_at"]) if state["withdrawn"] else None
    ended_on, end_reason = end_of_publication(
        status, original["category"], payload, workflow, withdrawn_on
    )
    published: EnrichedRecord = {
        **original,
        # The owner, shown in the profile: the original's department, or the successor an
        # operator reassigned the item to once that department changed it.
        "department": state.get("owner") or original["department"],
        "payload": payload,
        "publication_status": status,
        "version": version,
        # A recomputed version keeps the event id of the record the department sent: it is
        # one received record in a new state (counted once), told apart by its version.
        "event_id": original["event_id"],
        # When and why it left the public view: the profile's history shows it (issue #17).
        "ended_on": ended_on,
        "end_reason": end_reason,
    }
    out.records.append(published)
    if not state["notices_sent"]:
        notices = notices_for(published)
        if notices:
            out.notices += notices
            state["notices_sent"] = True


def _derived_version(
    original: EnrichedRecord,
    trigger: EnrichedRecord | None,
    state: dict[str, Any],
    status: str,
) -> str:
    """The version of a recomputed item: newer than every input that shaped it, and the
    same whenever the same inputs are replayed."""
    version = original["version"]
    if trigger is not None and trigger is not original and is_newer(trigger["version"], version):
        version = trigger["version"]
    if state["version"] and not is_newer(version, state["version"]):
        # A change or workflow event older than what was published last: step past it.
        seq, emitted, _ = parse_version(state["version"])
        version = record_version(
            seq,
            emitted + dt.timedelta(milliseconds=1),
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"{version}|{status}")),
        )
    return version
