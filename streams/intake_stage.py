"""Stage 1 agents: intake -> resolved, the code registry, parking and re-driving.

Thin: decisions come from `streams.triage`; this module only reads and writes tables and
topics. Every output of a batch is acknowledged by Kafka before the batch's offsets can be
committed (Faust acks a `take_events` batch only when the loop asks for the next one).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import faust

from schemas.codec import decode_intake, encode_enriched, fingerprint_of
from schemas.dead_letters import Rejection, rejected_topic
from schemas.errors import SchemaError
from schemas.records import Lineage
from schemas.topics import PARKED, QUALITY
from streams.app import CreditStreams
from streams.faust_support import (
    StagedTable,
    as_current_event,
    fail_loudly,
    message_headers,
    send_dead_letter,
)
from streams.triage import IntakeDecision, quality_event, triage_intake

PENDING = list[Awaitable[Any]]


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

    def raw(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    rejected = raw(rejected_topic(cfg.topic_prefix))
    quality = raw(cfg.topic(QUALITY))
    parked_log = raw(cfg.topic(PARKED))

    def staged() -> StagedTables:
        # One staging per agent: each applies its own writes once its outputs are acked.
        return StagedTables(StagedTable(registry), StagedTable(aliases), StagedTable(parked))

    async def carry_out(
        message: Any, decision: IntakeDecision, pending: PENDING, st: StagedTables
    ) -> None:
        if decision.reject is not None:
            pending.append(await send_dead_letter(rejected, message, decision.reject))
            return
        for event in decision.quality_events:
            pending.append(await quality.send(key=None, value=json.dumps(event).encode()))
        if decision.registry_entry is not None:
            st.registry[decision.registry_entry.uscc] = decision.registry_entry.to_dict()
        for code, snapshot in decision.alias_updates:
            body = {"uscc": snapshot["uscc"], "entry": snapshot}
            pending.append(
                await streams.aliases.send(key=code.encode(), value=json.dumps(body).encode())
            )
        if decision.park_code is not None:
            waiting = list(st.parked.get(decision.park_code) or [])
            if all(
                item["offset"] != message.offset or item["topic"] != message.topic
                for item in waiting
            ):
                waiting.append(_parked_item(message, decision, cfg.clock().isoformat()))
                st.parked[decision.park_code] = waiting
                pending.append(
                    await parked_log.send(
                        key=f"{message.topic}:{message.partition}:{message.offset}".encode(),
                        value=json.dumps(
                            {**waiting[-1], "value": None, "state": "parked"}
                        ).encode(),
                    )
                )
        if decision.emit is not None:
            pending.append(
                await streams.resolved.send(
                    key=decision.emit["uscc"].encode(), value=encode_enriched(decision.emit)
                )
            )

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
            pending: PENDING = []
            st = staged()
            for event in events:
                with as_current_event(event):
                    await carry_out(event.message, decide(event.message, st), pending, st)
            await asyncio.gather(*pending)
            st.apply()

    @app.agent(streams.aliases, name=f"{cfg.topic_prefix}registry-aliases", concurrency=1)
    @fail_loudly(app)
    async def maintain_aliases(stream: faust.StreamT) -> None:
        async for event in stream.events():
            pending: PENDING = []
            st = staged()
            with as_current_event(event):
                code = event.message.key.decode()
                body = json.loads(event.message.value)
                if "entry" in body:
                    pending += await _record_alias(code, body, st.aliases, quality, cfg.clock())
                if st.aliases.get(code) and st.parked.get(code):
                    for item in st.parked.pop(code):
                        pending += await _redrive(item, st, decide, carry_out, parked_log)
            await asyncio.gather(*pending)
            st.apply()

    @app.timer(cfg.parked_retry_seconds)
    async def retry_parked() -> None:
        # Timers have no current event, so they may not write tables: ask the alias agent
        # (keyed by the same code, hence the same partition) to re-check instead.
        for code in list(parked.keys()):
            if aliases.get(code):
                await streams.aliases.send(key=code.encode(), value=b'{"retry": true}')


async def _record_alias(
    code: str, body: dict[str, Any], aliases: StagedTable, quality: faust.TopicT, now: Any
) -> PENDING:
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
        return [await quality.send(key=code.encode(), value=json.dumps(finding).encode())]
    aliases[code] = body["entry"]
    return []


async def _redrive(
    item: dict[str, Any], st: StagedTables, decide: Any, carry_out: Any, parked_log: Any
) -> PENDING:
    message = _ParkedMessage(item)
    pending: PENDING = []
    await carry_out(message, decide(message, st), pending, st)
    pending.append(
        await parked_log.send(
            key=f"{item['topic']}:{item['partition']}:{item['offset']}".encode(),
            value=json.dumps({**item, "value": None, "state": "redriven"}).encode(),
        )
    )
    return pending


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
