"""Stage 1 as a plain function: what happens to one intake event, decided without Kafka.

`triage_intake` takes a decoded event and the two registry look-ups the intake stage offers
(both local to the event's partition) and says what to emit, park, reject or record. The
stage adapter, streams/intake_stage.py, only carries the decision out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.dead_letters import Rejection
from schemas.records import EnrichedRecord, IntakeEvent, Lineage
from streams.errors import ChangeError, EnrichmentError, PublicationError
from streams.rules.enrich import enrich
from streams.rules.registry import RegistryEntry, apply_registration, name_conflict, name_key
from streams.rules.resolution import Invalid, Resolved, Unresolved, resolve_subject

# Alias keys of the name index; legacy codes never start so (digits, letters, hyphens).
NAME_ALIAS_PREFIX = "name:"
RegistryGet = Callable[[str], dict[str, Any] | None]  # USCC -> registry entry dict
AliasGet = Callable[[str], dict[str, Any] | None]  # legacy code -> alias dict (has "uscc")


@dataclass
class IntakeDecision:
    """Everything one intake event leads to; at most one of emit / park / reject is set."""

    emit: EnrichedRecord | None = None
    park_code: str | None = None
    park_kind: str | None = None
    reject: Rejection | None = None
    registry_entry: RegistryEntry | None = None
    alias_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    quality_events: list[dict[str, Any]] = field(default_factory=list)


def alias_snapshot(entry: RegistryEntry) -> dict[str, Any]:
    """What a legacy-code alias carries: the USCC and the registered name, all that resolving
    and enriching a record sent under the legacy code read (the rest of the entry stays in
    the USCC's partition). Kept this small because there are two aliases per enterprise:
    at a province's scale they are most of a worker's memory (bench worker_peak_rss_mb)."""
    return {"uscc": entry.uscc, "name": entry.name}


def alias_entry(alias: dict[str, Any]) -> RegistryEntry:
    """The registry entry an alias stands for, as far as enrichment needs it (the name).
    Aliases written before they were made lean carry the whole entry; only its name is used."""
    return RegistryEntry(
        uscc=alias["uscc"],
        registration_number=None,
        organisation_code=None,
        name=alias.get("name") or "",
    )


def triage_intake(
    event: IntakeEvent,
    *,
    lineage: Lineage,
    registry_get: RegistryGet,
    alias_get: AliasGet,
    processed_at: dt.datetime,
    pii_key: bytes,
    backfill_before: dt.date | None = None,
) -> IntakeDecision:
    """`backfill_before`: records decided before it are back-loads (CREDITSYNC_BACKFILL_BEFORE,
    streams.rules.timeliness.is_backfill)."""
    try:
        if event["category"] == "registration":
            return _triage_registration(
                event, lineage, registry_get, alias_get, processed_at, pii_key, backfill_before
            )
        return _triage_record(
            event, lineage, registry_get, alias_get, processed_at, pii_key, backfill_before
        )
    except (EnrichmentError, ChangeError, PublicationError) as exc:
        # The record cannot be published as sent (e.g. a full ID number in a free-text
        # field): refused with the reason, to be corrected and re-sent.
        return IntakeDecision(
            reject=Rejection(
                reason_code="unpublishable",
                field=None,
                message=f"record {event['record_key']!r} (event {event['event_id']}) from "
                f"{event['department']['code']}: {exc}",
                stage="enrich",
                exception_class=type(exc).__name__,
            )
        )


def _triage_record(
    event: IntakeEvent,
    lineage: Lineage,
    registry_get: RegistryGet,
    alias_get: AliasGet,
    processed_at: dt.datetime,
    pii_key: bytes,
    backfill_before: dt.date | None = None,
) -> IntakeDecision:
    found: dict[str, dict[str, Any]] = {}

    def lookup_legacy(kind: str, code: str) -> str | None:
        alias = alias_get(code)
        if alias:
            found[kind] = alias
        return alias["uscc"] if alias else None

    resolution = resolve_subject(event["subject"], lookup_legacy)
    decision = IntakeDecision()
    if isinstance(resolution, Invalid):
        decision.reject = Rejection(
            reason_code="invalid_code",
            field=resolution.field,
            message=(
                f"record {event['record_key']!r} (event {event['event_id']}) from "
                f"{event['department']['code']}: {resolution.reason}"
            ),
            stage="resolve",
        )
        return decision
    if isinstance(resolution, Unresolved):
        decision.park_code, decision.park_kind = resolution.code, resolution.kind
        return decision
    assert isinstance(resolution, Resolved)
    for conflict in getattr(resolution, "conflicts", ()) or ():
        decision.quality_events.append(quality_event(conflict, event, processed_at))
    if resolution.via == "uscc":
        raw = registry_get(resolution.uscc)
        entry = RegistryEntry.from_dict(raw) if raw else None
        # Only here are former names known (aliases are lean): a renamed enterprise's old
        # name is no finding.
        named = name_conflict(entry, event["subject"].get("name")) if entry else None
        if named is not None:
            decision.quality_events.append(quality_event(named, event, processed_at))
    else:
        entry = alias_entry(found[resolution.via])
    decision.emit = enrich(
        event,
        resolution.uscc,
        entry,
        lineage,
        processed_at,
        pii_key,
        "withdrawn" if event["operation"] == "withdraw" else "public",
        backfill_before=backfill_before,
    )
    return decision


def _triage_registration(
    event: IntakeEvent,
    lineage: Lineage,
    registry_get: RegistryGet,
    alias_get: AliasGet,
    processed_at: dt.datetime,
    pii_key: bytes,
    backfill_before: dt.date | None = None,
) -> IntakeDecision:
    from schemas.identifiers import InvalidCode, parse_uscc

    decision = IntakeDecision()
    raw_uscc = event["subject"]["uscc"] or event["payload"].get("uscc")
    try:
        uscc = parse_uscc(raw_uscc or "").code
    except InvalidCode as exc:
        decision.reject = Rejection(
            reason_code="invalid_code" if raw_uscc else "missing_field",
            field="uscc/统一社会信用代码",
            message=(
                f"registration {event['record_key']!r} (event {event['event_id']}) from "
                f"{event['department']['code']}: a registration must carry a valid USCC; "
                f"{exc}"
            ),
            stage="validate",
        )
        return decision
    existing = registry_get(uscc)

    # Only aliases in this worker's partitions can be seen here; the intake stage checks
    # every legacy code again in its own partition (intake_stage._record_alias).
    def lookup_legacy(kind: str, code: str) -> str | None:
        alias = alias_get(code)
        return alias["uscc"] if alias else None

    entry, conflicts = apply_registration(
        RegistryEntry.from_dict(existing) if existing else None, event, lookup_legacy
    )
    decision.registry_entry = entry
    decision.quality_events += [quality_event(c, event, processed_at) for c in conflicts]
    if existing and not conflicts:
        # A clean re-registration resolves the USCC's earlier findings (the view v_findings
        # shows them resolved from then on).
        decision.quality_events.append(cleared_event(uscc, event, processed_at))
    snapshot = alias_snapshot(entry)
    decision.alias_updates = [
        (code, snapshot) for code in (entry.registration_number, entry.organisation_code) if code
    ]
    # The name index (查重): its own alias key, only the USCC (memory), so a second USCC
    # under the same name is found in the name's partition (intake_stage._record_alias).
    decision.alias_updates.append((NAME_ALIAS_PREFIX + name_key(entry.name), {"uscc": uscc}))
    decision.emit = enrich(
        event, uscc, entry, lineage, processed_at, pii_key, "public",
        backfill_before=backfill_before,
    )  # fmt: skip
    return decision


def cleared_event(uscc: str, event: IntakeEvent, detected_at: dt.datetime) -> dict[str, Any]:
    """A registration of `uscc` without findings: earlier findings of it are resolved."""
    return {
        "reason": "cleared",
        "uscc": uscc,
        "kind": "uscc",
        "code": uscc,
        "other_uscc": None,
        "detail": "",
        "event_id": event["event_id"],
        "category": event["category"],
        "department": event["department"]["code"],
        "record_key": event["record_key"],
        "detected_at": detected_at.isoformat(),
    }


def quality_event(conflict: Any, event: IntakeEvent, detected_at: dt.datetime) -> dict[str, Any]:
    """A data-quality finding (查错查重) for `credit.quality` and the analysts."""
    details = conflict.to_dict() if hasattr(conflict, "to_dict") else dict(vars(conflict))
    return {
        **details,
        "event_id": event["event_id"],
        "category": event["category"],
        "department": event["department"]["code"],
        "record_key": event["record_key"],
        "detected_at": detected_at.isoformat(),
    }
