"""Stage 1 agents: intake -> resolved, the code registry, parking and re-driving.

Thin: decisions come from `streams.triage`; this module only reads and writes tables and
topics. Every output of a batch is acknowledged by Kafka before the batch's offsets can be
committed (Faust acks a `take_events` batch only when the loop asks for the next one).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import faust

from schemas.codec import decode_intake, encode_enriched, fingerprint_of
from schemas.dead_letters import Rejection, rejected_topic
from schemas.errors import SchemaError
from schemas.records import Lineage
from schemas.topics import PARKED, QUALITY, REGISTRY_ALIASES, RESOLVED
from streams.app import CreditStreams
from streams.faust_support import (
    StagedTable,
    as_current_event,
    fail_loudly,
    flush_table_writes,
    message_headers,
    send_dead_letter,
)
from streams.outputs import Outputs
from streams.triage import IntakeDecision, quality_event, triage_intake


@dataclass
class StagedTables:
    registry: StagedTable
    aliases: StagedTable
    parked: StagedTable

    def apply(self) -> None:
        for table in (self.registry, self.aliases, self.parked):
            table.apply()


def install(
    streams: CreditStreams, *, registry: faust.Table, aliases: faust.Table, parked: faust.Table
) -> None:
    app, cfg = streams.app, streams.config

    rejected = rejected_topic(cfg.topic_prefix)
    quality = cfg.topic(QUALITY)
    parked_log = cfg.topic(PARKED)
    aliases_topic = cfg.topic(REGISTRY_ALIASES)
    resolved = cfg.topic(RESOLVED)
    out = streams.output_producer("intake")

    def staged() -> StagedTables:
        # One staging per agent: each applies its own writes once its outputs are acked.
        return StagedTables(StagedTable(registry), StagedTable(aliases), StagedTable(parked))

    def carry_out(message: Any, decision: IntakeDecision, out: Outputs, st: StagedTables) -> None:
        if decision.reject is not None:
            send_dead_letter(out, rejected, message, decision.reject)
            return
        for event in decision.quality_events:
            out.send(quality, None, json.dumps(event).encode())
        if decision.registry_entry is not None:
            st.registry[decision.registry_entry.uscc] = decision.registry_entry.to_dict()
        for code, snapshot in decision.alias_updates:
            body = {"uscc": snapshot["uscc"], "entry": snapshot}
            out.send(aliases_topic, code.encode(), json.dumps(body).encode())
        if decision.park_code is not None:
            waiting = list(st.parked.get(decision.park_code) or [])
            if all(
                item["offset"] != message.offset or item["topic"] != message.topic
                for item in waiting
            ):
                waiting.append(_parked_item(message, decision, cfg.clock().isoformat()))
                st.parked[decision.park_code] = waiting
                out.send(
                    parked_log,
                    f"{message.topic}:{message.partition}:{message.offset}".encode(),
                    json.dumps({**waiting[-1], "value": None, "state": "parked"}).encode(),
                )
        if decision.emit is not None:
            out.send(resolved, decision.emit["uscc"].encode(), encode_enriched(decision.emit))

    def decide(message: Any, st: StagedTables) -> IntakeDecision:
        try:
            event = decode_intake(message.value)
        except SchemaError as exc:
            return IntakeDecision(
                reject=Rejection(
                    reason_code="undecodable",
                    field=None,
                    message=(
                        f"message at {message.topic}[{message.partition}]@{message.offset} "
                        f"is not a readable intake event: {exc}"
                    ),
                    stage="decode",
                    exception_class=type(exc).__name__,
                )
            )
        lineage: Lineage = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "schema_fingerprint": fingerprint_of(message.value),
        }
        return triage_intake(
            event,
            lineage=lineage,
            registry_get=st.registry.get,
            alias_get=st.aliases.get,
            processed_at=cfg.clock(),
            pii_key=cfg.pii_key,
        )

    @app.agent(streams.intake, name=f"{cfg.topic_prefix}intake", concurrency=1)
    @fail_loudly(app)
    async def process_intake(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.intake_batch_size, within=0.2):
            st = staged()
            for event in events:
                with as_current_event(event):
                    carry_out(event.message, decide(event.message, st), out, st)
            await out.flush()
            st.apply()
            await flush_table_writes(app)

    @app.agent(streams.aliases, name=f"{cfg.topic_prefix}registry-aliases", concurrency=1)
    @fail_loudly(app)
    async def maintain_aliases(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.intake_batch_size, within=0.2):
            st = staged()
            for event in events:
                with as_current_event(event):
                    code = event.message.key.decode()
                    body = json.loads(event.message.value)
                    if "entry" in body:
                        _record_alias(code, body, st.aliases, out, quality, cfg.clock())
                    if st.aliases.get(code) and st.parked.get(code):
                        for item in st.parked.pop(code):
                            _redrive(item, st, decide, carry_out, out, parked_log)
            await out.flush()
            st.apply()
            await flush_table_writes(app)

    @app.timer(cfg.parked_retry_seconds)
    async def retry_parked() -> None:
        # Timers have no current event, so they may not write tables: ask the alias agent
        # (keyed by the same code, hence the same partition) to re-check instead.
        for code in list(parked.keys()):
            if aliases.get(code):
                await streams.aliases.send(key=code.encode(), value=b'{"retry": true}')


def _record_alias(
    code: str, body: dict[str, Any], aliases: StagedTable, out: Outputs, quality: str, now: Any
) -> None:
    existing = aliases.get(code)
    if existing and existing["uscc"] != body["uscc"]:
        # One legacy code claimed by two USCCs (查错查重): keep the first, report the second.
        finding = {
            "reason": "legacy_code_claimed_twice",
            "code": code,
            "uscc": existing["uscc"],
            "other_uscc": body["uscc"],
            "detected_at": now.isoformat(),
        }
        out.send(quality, code.encode(), json.dumps(finding).encode())
        return
    aliases[code] = body["entry"]


def _redrive(
    item: dict[str, Any],
    st: StagedTables,
    decide: Any,
    carry_out: Any,
    out: Outputs,
    parked_log: str,
) -> None:
    message = _ParkedMessage(item)
    carry_out(message, decide(message, st), out, st)
    out.send(
        parked_log,
        f"{item['topic']}:{item['partition']}:{item['offset']}".encode(),
        json.dumps({**item, "value": None, "state": "redriven"}).encode(),
    )


def _parked_item(message: Any, decision: IntakeDecision, parked_at: str) -> dict[str, Any]:
    return {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": (message.key or b"").decode("utf-8", "replace"),
        "value": base64.b64encode(message.value).decode(),
        "headers": [
            [k, (v or b"").decode("utf-8", "replace")] for k, v in message_headers(message)
        ],
        "code": decision.park_code,
        "kind": decision.park_kind,
        "parked_at": parked_at,
    }


class _ParkedMessage:
    """A parked record presented as the Kafka message it came from, for re-driving."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.topic, self.partition, self.offset = item["topic"], item["partition"], item["offset"]
        self.key = item["key"].encode()
        self.value = base64.b64decode(item["value"])
        self.headers = [(k, v.encode()) for k, v in item["headers"]]


__all__ = ["install", "quality_event"]
