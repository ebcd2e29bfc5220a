"""Dead letters on credit.rejected as operators see them: parsed, filtered, decoded (pure).

A dead letter's ID is "<topic>:<partition>:<offset>" of the dead letter itself on
credit.rejected; its headers (schemas/dead_letters.py) say where the original came from
and why it was refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from creditsync.ops.errors import InvalidDeadLetterId
from schemas.dead_letters import Header, headers_dict, original_headers
from schemas.personal_ids import mask_resident_ids
from schemas.topics import INTAKE_PREFIX, RECORDS, RESOLVED

# How a dead letter goes back into the pipeline:
#   rebuild   — refused by an adapter (stage "validate", JSON body of fields): built again
#               through producers.events.build_intake_event and published to its intake topic;
#   republish — refused inside the pipeline: its original bytes and headers go back to the
#               topic it was read from (an intake topic, credit.resolved or credit.records).
RedriveKind = Literal["rebuild", "republish"]
PRODUCER_EXCEPTION = "producers.RecordRejection"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[Header, ...]

    @property
    def meta(self) -> dict[str, str]:
        return headers_dict(self.headers)

    def header(self, name: str) -> str | None:
        return self.meta.get(name) or None

    @property
    def reason_code(self) -> str:
        return self.header("creditsync.reason_code") or "unknown"

    @property
    def stage(self) -> str:
        return self.header("__connect.errors.stage") or "unknown"

    @property
    def message(self) -> str:
        # Letters written before reasons were masked may quote an ID number: shown masked.
        return mask_resident_ids(self.header("__connect.errors.exception.message") or "")

    @property
    def field(self) -> str | None:
        return self.header("creditsync.field")

    @property
    def department(self) -> str | None:
        return self.header("creditsync.department")

    @property
    def category(self) -> str | None:
        return self.header("creditsync.category")

    @property
    def event_id(self) -> str | None:
        return self.header("creditsync.event_id")

    @property
    def origin_topic(self) -> str | None:
        return self.header("__connect.errors.topic")

    @property
    def origin_offset(self) -> int:
        text = self.header("__connect.errors.offset") or "-1"
        return int(text) if text.lstrip("-").isdigit() else -1

    @property
    def origin(self) -> str:
        """Where the original was read from, or "<adapter> (not published)"."""
        if self.origin_offset < 0:
            return f"{self.header('creditsync.original.adapter') or 'adapter'} (not published)"
        partition = self.header("__connect.errors.partition")
        return f"{self.origin_topic}:{partition}:{self.origin_offset}"

    @property
    def rejected_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.UTC)

    @property
    def redrive_kind(self) -> RedriveKind:
        producer = self.header("__connect.errors.exception.class.name") == PRODUCER_EXCEPTION
        return "rebuild" if producer or self.origin_offset < 0 else "republish"

    @property
    def original_headers(self) -> list[Header]:
        return original_headers(self.headers)


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def parse_dead_letter_id(text: str) -> tuple[str, int, int]:
    """(topic, partition, offset) of "<topic>:<partition>:<offset>"."""
    parts = text.strip().rsplit(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidDeadLetterId(
            f"{text!r} is not a dead-letter ID; expected <topic>:<partition>:<offset> as "
            "`creditsync rejected list` shows it, e.g. credit.rejected:0:17"
        )
    return parts[0], int(parts[1]), int(parts[2])


def matches(
    letter: DeadLetter,
    *,
    reasons: Sequence[str] = (),
    department: str | None = None,
    category: str | None = None,
    since_ms: int | None = None,
    stage: str | None = None,
) -> bool:
    """Whether a dead letter passes the operator's filters (all given filters must hold)."""
    if reasons and letter.reason_code not in reasons:
        return False
    if department and letter.department != department:
        return False
    if category and letter.category != category:
        return False
    if stage and letter.stage != stage:
        return False
    return not (since_ms is not None and letter.timestamp_ms < since_ms)


def open_letters(
    letters: Iterable[DeadLetter], redriven: Mapping[str, Any], include_redriven: bool = False
) -> list[DeadLetter]:
    """The dead letters still to handle: those not re-driven (all of them with the flag)."""
    return [dl for dl in letters if include_redriven or dl.id not in redriven]


def latest_by_key(entries: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, Any]:
    """The newest JSON value per key of a compacted topic, in log order; a tombstone (None)
    removes its key."""
    out: dict[str, Any] = {}
    for key, value in entries:
        if key is None:
            continue
        name = key.decode("utf-8", "replace")
        if value is None:
            out.pop(name, None)
        else:
            out[name] = json.loads(value)
    return out


def decode_original(letter: DeadLetter) -> dict[str, Any]:
    """The original record in readable form: the adapter's JSON body, the intake event or
    the enriched record (Avro), or — for bytes that do not decode — why not and a hex view."""
    from schemas.codec import decode_enriched, decode_intake
    from schemas.errors import SchemaError

    content_type = dict(letter.original_headers).get("content-type", b"")
    if letter.redrive_kind == "rebuild" or content_type == b"application/json":
        try:
            return {"format": "json", "record": json.loads(letter.value)}
        except ValueError as exc:
            return _undecodable(letter, f"not JSON: {exc}")
    origin = letter.origin_topic or ""
    enriched = origin.endswith((RECORDS, RESOLVED))
    try:
        if enriched:
            return {"format": "avro EnrichedRecord", "record": decode_enriched(letter.value)}
        return {"format": "avro IntakeEvent", "record": decode_intake(letter.value)}
    except SchemaError as exc:
        return _undecodable(letter, str(exc))


def _undecodable(letter: DeadLetter, why: str) -> dict[str, Any]:
    return {
        "format": "undecodable",
        "error": why,
        "bytes": letter.value[:256].hex(" "),
        "length": len(letter.value),
    }


def is_intake_topic(topic: str | None, prefix: str = "") -> bool:
    return bool(topic) and topic.startswith(f"{prefix}{INTAKE_PREFIX}")  # type: ignore[union-attr]
