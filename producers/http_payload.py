"""The HTTP intake's request body: limits, JSON parsing, field names, per-record results (pure).

Kept apart from the route (producers.http_intake) so each step can be tested without a
server: a body is checked for size and shape, each record's keys (Chinese template names or
snake_case English) are mapped onto field names, and a rejection is shown as the department
will read it — every problem, by field, with what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from producers.events import FieldProblem, RecordRejection
from producers.templates import field_for_header
from schemas.categories import Category, category_spec


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """Per-request limits; a request over one is refused whole with 413 naming it."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_records: int = 1000


class IntakeRefused(Exception):
    """The whole request is refused: HTTP status, error code and a message naming why."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers
        self.message_en: str | None = None  # the English original of a localised message

    def as_http(self) -> HTTPException:
        detail = {"error": self.error, "message": self.message}
        if self.message_en is not None:
            detail["message_en"] = self.message_en
        return HTTPException(self.status, detail=detail, headers=self.headers)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_request_body(body: bytes, limits: IntakeLimits) -> list[Any]:
    """The records of a request body, or IntakeRefused (400 / 413) saying what is wrong."""
    return parse_request(body, limits)[0]


def declared_count(raw: Any, where: str) -> int | None:
    """A department's control total (`declared_count` or X-Declared-Count), or 400."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise IntakeRefused(
            400, "invalid_declared_count",
            f"{where}: expected the number of records sent, a whole number ≥ 0, got {raw!r}",
        )  # fmt: skip
    return raw


def backfill_flag(raw: Any, where: str) -> bool | None:
    """A request's back-load flag (`backfill` in the body or X-Backfill), or 400; None when
    absent. A back-load (存量) is published as usual and left out of timeliness figures."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, str) else None
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise IntakeRefused(
        400, "invalid_backfill",
        f"{where}: expected true or false (whether the records are a back-load, 存量), "
        f"got {raw!r}",
    )  # fmt: skip


def parse_request(body: bytes, limits: IntakeLimits) -> tuple[list[Any], int | None]:
    """The records of a request body and its `declared_count` (None if absent), or
    IntakeRefused (400 / 413) saying what is wrong."""
    records, declared, _ = parse_request_flags(body, limits)
    return records, declared


def parse_request_flags(
    body: bytes, limits: IntakeLimits
) -> tuple[list[Any], int | None, bool | None]:
    """`parse_request` and the body's `backfill` flag (None if absent)."""
    if len(body) > limits.max_body_bytes:
        raise IntakeRefused(
            413,
            "body_too_large",
            f"request body of {len(body)} bytes exceeds the limit of "
            f"{limits.max_body_bytes} bytes; split the records over several requests",
        )
    try:
        # NaN and Infinity are not JSON (RFC 8259); Python would accept them silently.
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise IntakeRefused(
            400, "invalid_json", f"the body is not UTF-8 text: byte {exc.start} cannot be read"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise IntakeRefused(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    try:
        # JSON lets a string escape half of a surrogate pair (\ud800); that is not Unicode
        # text and could be neither published nor shown back, so the body is refused.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise IntakeRefused(
            400,
            "invalid_json",
            f"a string in the body holds an unpaired surrogate escape "
            f"(\\u{ord(exc.object[exc.start]):04x}), which is not Unicode text",
        ) from None
    if not isinstance(document, dict) or "records" not in document:
        raise IntakeRefused(
            400,
            "invalid_request",
            'expected a JSON object {"records": [ {field: value, …}, … ]}, got '
            f"{type(document).__name__ if not isinstance(document, dict) else 'no records key'}",
        )
    extra = sorted(set(document) - {"records", "declared_count", "backfill"})
    if extra:
        raise IntakeRefused(
            400,
            "invalid_request",
            f"unknown top-level keys {extra}; expected only 'records', 'declared_count' "
            "and 'backfill'",
        )
    declared = declared_count(document.get("declared_count"), "declared_count")
    backfill = backfill_flag(document.get("backfill"), "backfill")
    records = document["records"]
    if not isinstance(records, list):
        raise IntakeRefused(
            400, "invalid_request", f"records: expected a list, got {type(records).__name__}"
        )
    if not records:
        raise IntakeRefused(400, "invalid_request", "records: the list is empty")
    if len(records) > limits.max_records:
        raise IntakeRefused(
            413,
            "too_many_records",
            f"{len(records)} records in one request exceed the limit of "
            f"{limits.max_records} records per request; split them over several requests",
        )
    return records, declared, backfill


def map_record_fields(
    category: Category, record: Mapping[str, Any], record_ref: str
) -> dict[str, Any] | RecordRejection:
    """A JSON record by English field name (Chinese or English keys accepted), or a
    rejection when two keys name the same field. Keys naming no field are kept as they are,
    so that build_intake_event rejects them as unknown fields rather than drop them."""
    fields: dict[str, Any] = {}
    named_by: dict[str, str] = {}
    for key, value in record.items():
        if not key.strip():
            # Would otherwise be reported as an unknown field with an empty name.
            return RecordRejection.of(
                record_ref,
                [FieldProblem('""', '""', value, "a field name is empty", "unknown_field")],
                row=record,
            )
        name = field_for_header(key, category) or key
        if name in named_by:
            return RecordRejection.of(
                record_ref,
                [
                    FieldProblem(
                        name,
                        _chinese(category, name),
                        value,
                        f"given twice, as {named_by[name]!r} and {key!r}",
                        "malformed_row",
                    )
                ],
                row=record,
            )
        named_by[name] = key
        fields[name] = value
    return fields


def _chinese(category: Category, name: str) -> str:
    try:
        return category_spec(category).field(name).chinese
    except KeyError:
        return name


def rejection_json(rejection: RecordRejection) -> dict[str, Any]:
    """A rejection as the response shows it: every problem, by field, with what was expected."""
    problems = rejection.problems or (
        FieldProblem(
            rejection.field,
            rejection.field_chinese,
            rejection.value,
            rejection.reason,
            rejection.code,
        ),
    )
    return {
        "status": "rejected",
        "field": rejection.field,
        "field_chinese": rejection.field_chinese,
        "reason_code": rejection.code,
        "reason": rejection.reason,
        "message": rejection.message,
        "problems": [
            {
                "field": p.field,
                "field_chinese": p.field_chinese,
                "value": _json_safe(p.value),
                "reason_code": p.code,
                "reason": p.reason,
            }
            for p in problems
        ],
    }


def _json_safe(value: Any) -> Any:
    # A value shown back is what the department sent (already masked for personal data);
    # long texts are cut so a huge field does not come back in full.
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else f"{text[:200]}… ({len(text)} characters)"


__all__ = [
    "IntakeLimits",
    "IntakeRefused",
    "bearer_token",
    "map_record_fields",
    "parse_request_body",
    "rejection_json",
]
