"""Operational history into ClickHouse: rejected, parked, control totals, notices, findings.

What operators and analysts count (rejections by reason, parked records and their age,
declared vs received per department, open joint-punishment notices) comes from these topics;
a sink loop (`streams.runtime.sink_loop`, group `<prefix><app id>-operations`) copies them into
ClickHouse's tables behind the dashboard views, batch by batch, and commits after the write.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

from schemas.dead_letters import headers_dict, rejected_topic
from schemas.topics import CONTROL_TOTALS, NOTICES_LOG, PARKED, QUALITY, REJECTED
from sinks.base import SinkResult
from streams.config import WorkerConfig
from streams.rules.refused import refused_record
from streams.runtime.messages import ReceivedMessage
from streams.runtime.sink_loop import SinkLoop

if TYPE_CHECKING:
    from sinks.clickhouse import ClickHouseSink


def _when(message: ReceivedMessage) -> dt.datetime:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or millis is None or millis <= 0:
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromtimestamp(millis / 1000, dt.UTC)


def rejection_row(message: ReceivedMessage) -> dict[str, Any]:
    h = headers_dict(list(message.headers() or []))
    offset = int(h.get("__connect.errors.offset", "-1"))
    origin = (
        f"{h.get('__connect.errors.topic')}:{h.get('__connect.errors.partition')}:{offset}"
        if offset >= 0
        else f"{message.topic()}:{message.partition()}:{message.offset()}"
    )
    when = _when(message)
    # The refused record itself, for the department's list and download (issue #16).
    record = refused_record(message.value(), h)
    return {
        "rejection_id": origin,
        "event_id": h.get("creditsync.event_id"),
        "department_code": h.get("creditsync.department") or record.get("department", ""),
        "category": h.get("creditsync.category") or record.get("category", ""),
        "reason_code": h.get("creditsync.reason_code", "unknown"),
        "reason": h.get("__connect.errors.exception.message", ""),
        "field": h.get("creditsync.field") or None,
        # A stage's refusal counts on the day the department sent the record.
        "emitted_at": record.get("emitted_at") or when,
        "rejected_at": when,
        "stage": h.get("__connect.errors.stage", ""),
        "record_ref": record["record_ref"],
        "record_key": record["record_key"],
        "value": record["value"],
        "fields_json": record["fields_json"],
    }


def parked_row(message: ReceivedMessage) -> dict[str, Any]:
    item = json.loads(message.value())
    original = {k: v for k, v in item.get("headers") or []}
    return {
        "event_id": original.get("event_id") or f"{item['topic']}:{item['offset']}",
        "department_code": original.get("department", ""),
        "category": original.get("category", ""),
        "subject_code": item.get("code") or "",
        "reason_code": f"unknown_{item.get('kind')}",
        "status": "released" if item.get("state") == "redriven" else "parked",
        "emitted_at": dt.datetime.fromisoformat(item["parked_at"]),
        "updated_at": _when(message),
    }


def control_total_row(message: ReceivedMessage) -> dict[str, Any]:
    totals = json.loads(message.value())
    reported = dt.datetime.fromisoformat(totals["emitted_at"])
    return {
        "department_code": totals["department"]["code"],
        "day": reported.date(),
        "category": totals["category"],
        "declared": int(totals.get("declared") or 0),
        "batch_id": totals.get("source_name") or "",
        "reported_at": reported,
        # `declared` is the department's own count only when it sent one (issue #16).
        "has_declared": totals.get("declared") is not None,
        "department_name": totals["department"].get("name") or "",
        "received": int(totals.get("received") or 0),
        "duplicates": int(totals.get("already_published") or 0),
    }


class OperationsSink:
    """A batch of the operational topics' messages into their ClickHouse tables.

    Shares the worker's ClickHouseSink (chdb has one owner per process); each of its writes
    holds that sink's lock, so they never interleave with the records sink's batches."""

    def __init__(self, clickhouse: ClickHouseSink, topic_prefix: str) -> None:
        self.clickhouse = clickhouse
        self.topics = {
            f"{topic_prefix}{REJECTED}": "rejected",
            f"{topic_prefix}{PARKED}": "parked",
            f"{topic_prefix}{CONTROL_TOTALS}": "control_totals",
            f"{topic_prefix}{NOTICES_LOG}": "notices",
            f"{topic_prefix}{QUALITY}": "findings",
        }

    def setup(self) -> None:
        """Nothing of its own: the ClickHouse sink's setup created the tables."""

    def write_batch(self, messages: Sequence[ReceivedMessage]) -> SinkResult:
        rows: dict[str, list[Any]] = {kind: [] for kind in self.topics.values()}
        for m in messages:
            kind = self.topics[m.topic()]
            if kind == "rejected":
                rows[kind].append(rejection_row(m))
            elif kind == "parked":
                rows[kind].append(parked_row(m))
            elif kind == "control_totals":
                rows[kind].append(control_total_row(m))
            else:
                rows[kind].append(json.loads(m.value()))
        self.clickhouse.write_rejections(rows["rejected"])
        self.clickhouse.write_parked(rows["parked"])
        self.clickhouse.write_control_totals(rows["control_totals"])
        self.clickhouse.write_notices(rows["notices"])
        self.clickhouse.write_findings(rows["findings"])
        return SinkResult(applied=len(messages))


def operations_loop(cfg: WorkerConfig, clickhouse: ClickHouseSink) -> SinkLoop:
    """The operations sink's loop: the raw messages, no record decoding."""
    sink = OperationsSink(clickhouse, cfg.topic_prefix)
    return SinkLoop(
        sink=sink,
        topics=list(sink.topics),
        group=f"{cfg.topic_prefix}{cfg.app_id}-operations",
        kafka=cfg.kafka,
        rejected_topic=rejected_topic(cfg.topic_prefix),
        batch_size=cfg.sink_batch_size,
        flush_seconds=cfg.sink_flush_seconds,
        decodes=None,
    )
