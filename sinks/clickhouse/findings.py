"""Rows of the `findings` table: credit.quality's 查错查重 findings (streams/rules/triage.py,
streams/intake_stage.py), each with a stable id so repeated detections count once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sinks.errors import RecordMappingError

FINDINGS_TABLE = "findings"


def finding_id(finding: Mapping[str, Any]) -> str:
    """The same breach found again (a replay, a re-send) keeps its id; a `cleared` event is
    one per registration event."""
    parts = [finding.get(k) for k in ("reason", "uscc", "kind", "code", "other_uscc")]
    if finding.get("reason") == "cleared":
        parts.append(finding.get("event_id"))
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return digest[:24]


def finding_row(finding: Mapping[str, Any]) -> dict[str, Any]:
    """A credit.quality message as a findings row; RecordMappingError names what is missing."""
    row_id = f"finding {finding.get('reason')}/{finding.get('uscc')}"
    for name in ("reason", "uscc", "detected_at"):
        if not finding.get(name):
            raise RecordMappingError(row_id, name, "a value", finding.get(name))
    try:
        detected = dt.datetime.fromisoformat(finding["detected_at"])
    except (TypeError, ValueError):
        raise RecordMappingError(
            row_id, "detected_at", "an ISO timestamp", finding["detected_at"]
        ) from None
    return {
        "finding_id": finding_id(finding),
        "reason": finding["reason"],
        "uscc": finding["uscc"],
        "kind": finding.get("kind") or "",
        "code": finding.get("code") or "",
        "other_uscc": finding.get("other_uscc") or "",
        "detail": finding.get("detail") or "",
        "department_code": finding.get("department") or "",
        "category": finding.get("category") or "",
        "event_id": finding.get("event_id") or "",
        "record_key": finding.get("record_key") or "",
        "detected_at": detected if detected.tzinfo else detected.replace(tzinfo=dt.UTC),
    }
