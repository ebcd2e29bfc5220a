"""`creditsync rejected list|show|redrive`: read credit.rejected and re-drive dead letters.

Reading needs no committed offsets: every command reads the topic from its start with a
throw-away consumer (creditsync.ops.kafka_read). Re-driven dead letters are recorded on the
compacted topic credit.rejected-redriven, keyed by their ID, so they leave the open view
while credit.rejected keeps the whole history (DOMAIN.md "Nothing is lost").
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from confluent_kafka import TopicPartition

from creditsync.ops.dead_letters import DeadLetter, dead_letter_id, latest_by_key
from creditsync.ops.errors import CannotRedrive, DeadLetterNotFound
from creditsync.ops.kafka_read import META_TIMEOUT, ops_consumer, read_all
from producers.events import build_intake_event, spreadsheet_sequence
from producers.publisher import KafkaPublisher, OutgoingRecord, intake_record
from schemas.categories import CATEGORIES
from schemas.codec import encode_intake, fingerprint_of
from schemas.dead_letters import rejected_topic
from schemas.kafka.config import KafkaSettings
from schemas.message_size import TRUNCATED_HEADER
from schemas.records import Department
from schemas.topics import INTAKE_PREFIX, RECORDS, REJECTED_REDRIVEN, RESOLVED

RedriveStatus = Literal["redriven", "still_rejected"]
DepartmentLookup = Callable[[str], Department]
REDRIVE_ADAPTER = "redrive/1"


def redriven_topic(prefix: str = "") -> str:
    return f"{prefix}{REJECTED_REDRIVEN}"


def _letter(message: Any) -> DeadLetter:
    return DeadLetter(
        id=dead_letter_id(message.topic(), message.partition(), message.offset()),
        timestamp_ms=message.timestamp()[1],
        key=message.key(),
        value=message.value() or b"",
        headers=tuple((k, v or b"") for k, v in message.headers() or ()),
    )


def read_dead_letters(kafka: KafkaSettings, prefix: str = "") -> list[DeadLetter]:
    """Every dead letter on credit.rejected, oldest first."""
    return [_letter(m) for m in read_all(kafka, [rejected_topic(prefix)], "rejected")]


def read_redriven(kafka: KafkaSettings, prefix: str = "") -> dict[str, Any]:
    """Dead-letter ID → its latest re-drive record."""
    messages = read_all(kafka, [redriven_topic(prefix)], "redriven")
    return latest_by_key((m.key(), m.value()) for m in messages)


def fetch_dead_letter(
    kafka: KafkaSettings, prefix: str, topic: str, partition: int, offset: int
) -> DeadLetter:
    """The one dead letter at (topic, partition, offset) of this deployment's credit.rejected."""
    wanted = dead_letter_id(topic, partition, offset)
    if topic != rejected_topic(prefix):
        raise DeadLetterNotFound(
            f"{wanted}: this deployment's dead letters are on {rejected_topic(prefix)}, not {topic}"
        )
    consumer = ops_consumer(kafka, "show")
    try:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=META_TIMEOUT, cached=False
        )
        if not low <= offset < high:
            raise DeadLetterNotFound(
                f"{wanted}: no such dead letter; {topic}[{partition}] holds offsets "
                f"{low}..{high - 1}"
            )
        consumer.assign([TopicPartition(topic, partition, offset)])
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error() is not None:
                raise DeadLetterNotFound(f"{wanted}: {message.error()}")
            if message.offset() == offset:
                return _letter(message)
            break
        raise DeadLetterNotFound(f"{wanted}: the broker did not return this offset")
    finally:
        consumer.close()


@dataclass(frozen=True, slots=True)
class RedriveOutcome:
    id: str
    status: RedriveStatus
    kind: str
    target_topic: str | None
    detail: str
    event_id: str | None = None


def _redrive_target(letter: DeadLetter, prefix: str) -> str:
    topic = letter.origin_topic or ""
    allowed = topic.startswith(f"{prefix}{INTAKE_PREFIX}") or topic in (
        f"{prefix}{RESOLVED}",
        f"{prefix}{RECORDS}",
    )
    if not allowed:
        raise CannotRedrive(
            f"dead letter {letter.id}: it came from {topic or 'an unknown topic'}; expected an "
            f"intake topic ({prefix}{INTAKE_PREFIX}<category>), {prefix}{RESOLVED} or "
            f"{prefix}{RECORDS} of this deployment"
        )
    return topic


def prepare_redrive(
    letter: DeadLetter,
    *,
    prefix: str = "",
    corrections: Mapping[str, Any] | None = None,
    department_of: DepartmentLookup | None = None,
    now: dt.datetime | None = None,
    index: int = 0,
) -> tuple[OutgoingRecord | None, RedriveOutcome]:
    """What re-driving one dead letter publishes, or why it is still rejected (no I/O).

    A rejection by an adapter is validated again from its fields, with the operator's
    `corrections` (field → value) applied; one from inside the pipeline goes back with its
    original bytes and headers to the topic it was read from."""
    refused = _rights_refusal(letter.department, letter.category)
    if refused is not None:
        return None, RedriveOutcome(letter.id, "still_rejected", letter.redrive_kind, None, refused)
    truncated = letter.header(TRUNCATED_HEADER)
    if truncated:
        # Cut to fit credit.rejected (schemas/message_size.py): re-driving it would publish
        # the cut copy. The original is whole where it was read from.
        raise CannotRedrive(
            f"dead letter {letter.id}: cut to fit credit.rejected ({truncated}); re-read the "
            f"original at {letter.origin}, or have the department send it again shortened"
        )
    if letter.redrive_kind == "republish":
        if corrections:
            raise CannotRedrive(
                f"dead letter {letter.id}: corrections apply only to records an adapter refused "
                f"(stage validate, JSON body); this one is {letter.stage}-stage Avro from "
                f"{letter.origin} and is re-driven with its original bytes"
            )
        target = _redrive_target(letter, prefix)
        record = OutgoingRecord(target, letter.key, letter.value, letter.original_headers)
        return record, RedriveOutcome(
            letter.id,
            "redriven",
            "republish",
            target,
            f"original bytes back to {target}",
            letter.event_id,
        )
    return _rebuild(letter, prefix, corrections or {}, department_of, now, index)


def _rebuild(
    letter: DeadLetter,
    prefix: str,
    corrections: Mapping[str, Any],
    department_of: DepartmentLookup | None,
    now: dt.datetime | None,
    index: int,
) -> tuple[OutgoingRecord | None, RedriveOutcome]:
    try:
        body = json.loads(letter.value)
        category, department_code = body["category"], body["department"]
        fields = {**body["fields"], **corrections}
    except (ValueError, KeyError, TypeError) as exc:
        raise CannotRedrive(
            f"dead letter {letter.id}: expected a JSON body with category, department and "
            f"fields (as adapters write it); {type(exc).__name__}: {exc}"
        ) from exc
    if category not in CATEGORIES:
        raise CannotRedrive(f"dead letter {letter.id}: category {category!r} is not known")
    refused = _rights_refusal(department_code, category)
    if refused is not None:
        return None, RedriveOutcome(letter.id, "still_rejected", "rebuild", None, refused)
    department = (department_of or _department_by_code)(department_code)
    emitted = now or dt.datetime.now(dt.UTC)
    # A later sequence than any earlier send, as a re-sent corrected file gets.
    event = build_intake_event(
        category,
        fields,
        department,
        body.get("adapter") or REDRIVE_ADAPTER,
        spreadsheet_sequence(emitted, index),
        emitted,
        record_ref=f"dead letter {letter.id}",
    )
    if not isinstance(event, dict):
        return None, RedriveOutcome(
            letter.id, "still_rejected", "rebuild", None, f"{event.code}: {event.message}"
        )
    value = encode_intake(event)
    record = intake_record(event, value, fingerprint_of(value), prefix)
    return record, RedriveOutcome(
        letter.id,
        "redriven",
        "rebuild",
        record.topic,
        f"rebuilt as event {event['event_id']}",
        event["event_id"],
    )


def _rights_refusal(department_code: str | None, category: str | None) -> str | None:
    """Why the department may not send this category (a departments file is configured and
    does not grant it), else None. An unknown department raises UnknownDepartment: the
    configuration, not the letter, needs attention."""
    from creditsync.ingest_command import department_access

    if not department_code or not category:
        return None
    access = department_access(department_code)
    if access is None or access.may_submit(category):
        return None
    return f"category_not_allowed: {access.refusal(category)}"


def _department_by_code(code: str) -> Department:
    from creditsync.ingest_command import resolve_department

    return resolve_department(code)


def redrive_entry(
    outcome: RedriveOutcome, letter: DeadLetter, now: dt.datetime, prefix: str = ""
) -> OutgoingRecord:
    """The credit.rejected-redriven record of one re-drive (keyed by the dead letter's ID)."""
    body = {
        **asdict(outcome),
        "reason_code": letter.reason_code,
        "stage": letter.stage,
        "redriven_at": now.isoformat(),
    }
    return OutgoingRecord(
        redriven_topic(prefix), letter.id.encode(), json.dumps(body, ensure_ascii=False).encode()
    )


def redrive(
    kafka: KafkaSettings,
    letters: Sequence[DeadLetter],
    *,
    prefix: str = "",
    corrections: Mapping[str, Any] | None = None,
    department_of: DepartmentLookup | None = None,
    on_progress: Callable[[RedriveOutcome], None] | None = None,
) -> list[RedriveOutcome]:
    """Re-drive dead letters; each one re-driven is marked on credit.rejected-redriven only
    after its record was acknowledged (a failure in between leaves it open: a second re-drive
    is harmless, every stage is idempotent by event id)."""
    outcomes = []
    now = dt.datetime.now(dt.UTC)
    with KafkaPublisher(kafka, client_id="creditsync-redrive") as publisher:
        for index, letter in enumerate(letters):
            record, outcome = prepare_redrive(
                letter,
                prefix=prefix,
                corrections=corrections,
                department_of=department_of,
                now=now,
                index=index,
            )
            if record is not None:
                publisher.publish([record])
                publisher.publish([redrive_entry(outcome, letter, now, prefix)])
            outcomes.append(outcome)
            if on_progress is not None:
                on_progress(outcome)
    return outcomes
