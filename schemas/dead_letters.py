"""Dead letters: the original bytes plus headers saying where they came from and why.

Header names follow Kafka Connect's dead-letter-queue convention (`__connect.errors.*`), so
tools that read Connect DLQs read ours; `creditsync.*` headers add our reason code, the field
and the record, which Connect's lack and which `creditsync rejected redrive` needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.personal_ids import mask_resident_ids
from schemas.topics import REJECTED

Header = tuple[str, bytes]

# Where in the pipeline a record was refused (Connect's `stage` header).
Stage = str  # "decode" | "validate" | "resolve" | "enrich" | "sink"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one record was refused: what a person needs to correct and re-send it."""

    reason_code: str  # e.g. "invalid_code", "undecodable", "missing_field"
    field: str | None  # the field at fault, English name (Chinese template name after /)
    message: str  # a full sentence: which record, which field, what was expected
    stage: Stage
    exception_class: str = "creditsync.Rejected"

    def __post_init__(self) -> None:
        # Reasons are read by operators, stored in ClickHouse and logged: an ID number the
        # message quotes from the record is shown masked (DOMAIN.md "Privacy").
        object.__setattr__(self, "message", mask_resident_ids(self.message))


def dead_letter_headers(
    rejection: Rejection,
    *,
    topic: str,
    partition: int,
    offset: int,
    original_headers: Sequence[Header] = (),
    event_id: str | None = None,
    department: str | None = None,
    category: str | None = None,
) -> list[Header]:
    headers: list[Header] = [
        ("__connect.errors.topic", topic.encode()),
        ("__connect.errors.partition", str(partition).encode()),
        ("__connect.errors.offset", str(offset).encode()),
        ("__connect.errors.stage", rejection.stage.encode()),
        ("__connect.errors.exception.class.name", rejection.exception_class.encode()),
        ("__connect.errors.exception.message", mask_resident_ids(rejection.message).encode()),
        ("creditsync.reason_code", rejection.reason_code.encode()),
        ("creditsync.field", (rejection.field or "").encode()),
    ]
    for name, value in (("event_id", event_id), ("department", department), ("category", category)):
        if value:
            headers.append((f"creditsync.{name}", value.encode()))
    # The original headers travel along (prefixed) so a re-drive can restore them exactly.
    headers += [(f"creditsync.original.{k}", v or b"") for k, v in original_headers]
    return headers


def headers_dict(headers: Sequence[Header] | None) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (headers or ())}


def original_headers(headers: Sequence[Header] | None) -> list[Header]:
    prefix = "creditsync.original."
    return [(k[len(prefix) :], v) for k, v in (headers or ()) if k.startswith(prefix)]


def rejected_topic(prefix: str = "") -> str:
    return f"{prefix}{REJECTED}"
