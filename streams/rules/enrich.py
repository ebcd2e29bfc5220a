"""Turning a resolved intake event into the record published on credit.records (key: USCC)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from schemas.categories import CATEGORY_SPECS
from schemas.identifiers import InvalidCode, parse_uscc
from schemas.records import EnrichedRecord, IntakeEvent, Lineage, PublicationStatus
from streams.errors import EnrichmentError, PrivacyError
from streams.rules.privacy import contains_resident_id, published_payload
from streams.rules.regions import region_of
from streams.rules.registry import RegistryEntry
from streams.rules.timeliness import assess_timeliness, is_backfill
from streams.rules.versioning import record_version


def _texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _texts(item, f"{path}[{i}]")


def _decision_date(event: IntakeEvent) -> dt.date | None:
    if event["occurred_at"] is not None:
        return event["occurred_at"]
    field = CATEGORY_SPECS[event["category"]].decision_date_field
    value = event["payload"].get(field) if field else None
    return value if isinstance(value, dt.date) else None


def enrich(
    event: IntakeEvent,
    uscc: str,
    entry: RegistryEntry | None,
    lineage: Lineage,
    processed_at: dt.datetime,
    pii_key: bytes,
    publication_status: PublicationStatus,
    *,
    backfill_before: dt.date | None = None,
) -> EnrichedRecord:
    """The published form of an event resolved to `uscc`.

    Canonical name: the registry's current name, else the name the department sent. Region
    and entity type come from the USCC itself (chars 3-8; chars 1-2), so they are right even
    before the registration arrives. Timeliness runs from the decision date to `emitted_at`
    (not `processed_at`), so a replay computes the same figures. The restriction ID number
    is masked and hashed; any other full resident ID number in the text fails the record —
    the department must mask it and re-send (DOMAIN.md "Privacy": never in full).
    A back-load (the sender's `backfill` flag, or decided before `backfill_before`) is
    published as any record and carries `backfill`, its timeliness counted but not judged.
    """
    try:
        parsed = parse_uscc(uscc)
    except InvalidCode as exc:
        raise EnrichmentError(f"event {event['event_id']}: resolved USCC: {exc}") from exc
    subject = dict(event["subject"])
    canonical_name = (
        (entry.name if entry is not None else None)
        or subject.get("name")
        or event["payload"].get("name")
        or ""
    )
    try:
        payload = published_payload(event["category"], event["payload"], pii_key)
    except PrivacyError as exc:
        # An ID number whose envelope does not open (a forged or corrupt value, or a key
        # retired too early) refuses this record only: the others go on, and this one can be
        # re-driven once the keyring holds its key.
        raise EnrichmentError(
            f"event {event['event_id']} ({event['category']} {event['record_key']}): "
            f"证件号码 cannot be read: {exc}"
        ) from exc
    # Code fields are checked by schemas.identifiers already; a USCC made only of digits can
    # pass a resident ID's checks by chance, so scanning them would reject good records.
    spec = CATEGORY_SPECS[event["category"]]
    codes = {f.name for f in spec.fields if f.kind == "code"}
    texts = {k: v for k, v in payload.items() if k not in codes}
    scanned = list(_texts({"payload": texts, "subject": {"name": subject.get("name")}}, "record"))
    # One scan of all the texts joined (a newline never extends a digit run); only a hit
    # checks them one by one to name the field. Most records have no digit run at all.
    joined = "\n".join(text for _, text in scanned)
    for path, text in scanned if contains_resident_id(joined) else ():
        if contains_resident_id(text):
            raise EnrichmentError(
                f"event {event['event_id']} ({event['category']} {event['record_key']}): "
                f"{path.removeprefix('record.')} contains a full resident ID number; ID numbers "
                "may be published only masked (640422********1234)"
            )
    decided_on = _decision_date(event)
    backfill = is_backfill(bool(event.get("backfill", False)), decided_on, backfill_before)
    timeliness = assess_timeliness(
        event["category"],
        decided_on,
        event["emitted_at"],
        networked=bool(event.get("networked", True)),
        backfill=backfill,
    )
    return EnrichedRecord(
        event_id=event["event_id"],
        category=event["category"],
        operation=event["operation"],
        department=event["department"],
        record_key=event["record_key"],
        subject=subject,  # type: ignore[typeddict-item]
        uscc=parsed.code,
        canonical_name=canonical_name,
        entity_type=parsed.entity_type_name,
        region=region_of(parsed.region_code),
        occurred_at=event["occurred_at"],
        emitted_at=event["emitted_at"],
        processed_at=processed_at,
        source_sequence=event["source_sequence"],
        version=record_version(event["source_sequence"], event["emitted_at"], event["event_id"]),
        adapter=event["adapter"],
        publication_status=publication_status,
        timeliness=timeliness,
        lineage=lineage,
        payload=payload,
        backfill=backfill,
        ended_on=None,
        end_reason=None,
    )
