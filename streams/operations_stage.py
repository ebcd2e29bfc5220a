"""Operational history into ClickHouse: rejected, parked, control totals, notices.

What operators and analysts count (rejections by reason, parked records and their age,
declared vs received per department, open joint-punishment notices) comes from these topics;
this agent copies them into ClickHouse's tables behind the dashboard views, batch by batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import faust

from schemas.dead_letters import headers_dict
from schemas.topics import CONTROL_TOTALS, NOTICES_LOG, PARKED, REJECTED
from streams.app import CreditStreams
from streams.faust_support import fail_loudly
from streams.outputs import message_headers


def _when(message: Any) -> dt.datetime:
    millis = message.timestamp
    return dt.datetime.fromtimestamp(millis, dt.UTC) if millis else dt.datetime.now(dt.UTC)


def rejection_row(message: Any) -> dict[str, Any]:
    h = headers_dict(message_headers(message))
    offset = int(h.get("__connect.errors.offset", "-1"))
    origin = (
        f"{h.get('__connect.errors.topic')}:{h.get('__connect.errors.partition')}:{offset}"
        if offset >= 0
        else f"{message.topic}:{message.partition}:{message.offset}"
    )
    when = _when(message)
    return {
        "rejection_id": origin,
        "event_id": h.get("creditsync.event_id"),
        "department_code": h.get("creditsync.department", ""),
        "category": h.get("creditsync.category", ""),
        "reason_code": h.get("creditsync.reason_code", "unknown"),
        "reason": h.get("__connect.errors.exception.message", ""),
        "field": h.get("creditsync.field") or None,
        "emitted_at": when,
        "rejected_at": when,
    }


def parked_row(message: Any) -> dict[str, Any]:
    item = json.loads(message.value)
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


def control_total_row(message: Any) -> dict[str, Any]:
    totals = json.loads(message.value)
    reported = dt.datetime.fromisoformat(totals["emitted_at"])
    return {
        "department_code": totals["department"]["code"],
        "day": reported.date(),
        "category": totals["category"],
        "declared": int(totals.get("declared") or 0),
        "batch_id": totals.get("source_name") or "",
        "reported_at": reported,
    }


def install(streams: CreditStreams, clickhouse: list[Any]) -> None:
    """`clickhouse` is filled with the worker's ClickHouseSink once it is set up."""
    app, cfg = streams.app, streams.config

    def raw(*names: str) -> faust.TopicT:
        return app.topic(*names, key_serializer="raw", value_serializer="raw")

    history = raw(cfg.topic(REJECTED), cfg.topic(PARKED), cfg.topic(CONTROL_TOTALS))
    notices = raw(cfg.topic(NOTICES_LOG))

    async def sink() -> Any:
        while not clickhouse:
            await asyncio.sleep(0.1)  # the sink stage has not set it up yet
        return clickhouse[0]

    @app.agent(history, name=f"{cfg.topic_prefix}operations-history", concurrency=1)
    @fail_loudly(app)
    async def record_history(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.sink_batch_size, within=cfg.sink_flush_seconds):
            target = await sink()
            rows: dict[str, list[dict[str, Any]]] = {"rej": [], "park": [], "ctl": []}
            for event in events:
                m = event.message
                if m.topic.endswith(REJECTED):
                    rows["rej"].append(rejection_row(m))
                elif m.topic.endswith(PARKED):
                    rows["park"].append(parked_row(m))
                else:
                    rows["ctl"].append(control_total_row(m))
            await asyncio.to_thread(target.write_rejections, rows["rej"])
            await asyncio.to_thread(target.write_parked, rows["park"])
            await asyncio.to_thread(target.write_control_totals, rows["ctl"])

    @app.agent(notices, name=f"{cfg.topic_prefix}operations-notices", concurrency=1)
    @fail_loudly(app)
    async def record_notices(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.sink_batch_size, within=cfg.sink_flush_seconds):
            target = await sink()
            states = [json.loads(e.message.value) for e in events]
            await asyncio.to_thread(target.write_notices, states)
