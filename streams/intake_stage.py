"""Stage 1: intake -> resolved, the code registry, parking and re-driving.

Thin: decisions come from `streams.rules.triage`; this module only reads and writes the tables
of the message's partition and sends what the decisions say. The stage loop
(`streams.runtime.stage_loop`) acknowledges every output before the tables' changelogs, and both
before the offsets.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from schemas.categories import CATEGORIES
from schemas.codec import decode_intake, encode_enriched, fingerprint_of
from schemas.dead_letters import Rejection, rejected_topic
from schemas.errors import SchemaError
from schemas.message_size import message_size
from schemas.records import Lineage
from schemas.topics import PARKED, QUALITY, REGISTRY_ALIASES, RESOLVED, intake_topic
from streams.config import WorkerConfig
from streams.rules.triage import (
    NAME_ALIAS_PREFIX,
    IntakeDecision,
    quality_event,
    triage_intake,
)
from streams.runtime.handoff import Handoff
from streams.runtime.messages import Received
from streams.runtime.outputs import Outputs, message_headers, send_dead_letter
from streams.runtime.stage_state import StagedTable, StageTables

TABLES = ("registry", "aliases", "parked")
# Records parked under one legacy code (issue #13: ~1,400 under one code grew the parked
# list past the changelog's 1 MB limit and stopped the stage); more are refused.
MAX_PARKED_PER_CODE = 500


@dataclass
class StagedTables:
    registry: StagedTable
    aliases: StagedTable
    parked: StagedTable


class IntakeStage:
    """Intake topics and `credit.registry-aliases`, with the registry, alias and parked
    tables of each partition (both topics are keyed by the code looked up)."""

    name = "intake"

    def __init__(self, cfg: WorkerConfig, out: Outputs, group: str) -> None:
        self.cfg, self.out = cfg, out
        self.rejected = rejected_topic(cfg.topic_prefix)
        self.quality = cfg.topic(QUALITY)
        self.parked_log = cfg.topic(PARKED)
        self.aliases_topic = cfg.topic(REGISTRY_ALIASES)
        self.resolved = cfg.topic(RESOLVED)
        self.topics = [cfg.topic(intake_topic(c)) for c in CATEGORIES] + [self.aliases_topic]
        # Millions of entries at a province's scale: kept as bytes (stage_state.StagedTable).
        self.tables = StageTables(
            group, TABLES, packed=frozenset({"registry", "aliases"}), state_dir=cfg.state_dir
        )
        self._next_retry = 0.0
        # Set by the stage loop when it runs the items stage too (streams/runtime/handoff.py).
        self.handoff: Handoff | None = None

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None:
        st = StagedTables(**tables)
        if message.topic == self.aliases_topic:
            self._maintain_alias(message, st)
        else:
            self._carry_out(message, self._decide(message, st), st)

    def tick(self, now: float) -> None:
        """Re-check parked records on a schedule: a code whose alias is known by now gets a
        retry message on the alias topic (keyed by the code, so its own partition)."""
        if now < self._next_retry:
            return
        self._next_retry = now + self.cfg.parked_retry_seconds
        for tables in self.tables.partitions.values():
            for code in list(tables["parked"]):
                if tables["aliases"].get(code):
                    self.out.send(self.aliases_topic, code.encode(), b'{"retry": true}')

    def _maintain_alias(self, message: Received, st: StagedTables) -> None:
        code = message.key.decode()
        body = json.loads(message.value)
        if "entry" in body:
            _record_alias(code, body, st.aliases, self.out, self.quality, self.cfg.clock())
        if st.aliases.get(code) and st.parked.get(code):
            for item in st.parked.pop(code):
                message = _ParkedMessage(item)
                self._carry_out(message, self._decide(message, st), st)
                self.out.send(
                    self.parked_log,
                    f"{item['topic']}:{item['partition']}:{item['offset']}".encode(),
                    json.dumps({**item, "value": None, "state": "redriven"}).encode(),
                )

    def _carry_out(self, message: Received, decision: IntakeDecision, st: StagedTables) -> None:
        out = self.out
        emit = decision.emit if decision.reject is None else None
        emitted = encode_enriched(emit) if emit is not None else None
        refusal = decision.reject or self._over_bounds(message, decision, st, emitted)
        if refusal is not None:
            send_dead_letter(out, self.rejected, message, refusal)
            return
        for event in decision.quality_events:
            out.send(self.quality, None, json.dumps(event).encode())
        if decision.registry_entry is not None:
            st.registry[decision.registry_entry.uscc] = decision.registry_entry.to_dict()
        origin = _origin(decision.emit)
        for code, snapshot in decision.alias_updates:
            body = {"uscc": snapshot["uscc"], "entry": snapshot, "origin": origin}
            out.send(self.aliases_topic, code.encode(), json.dumps(body).encode())
        if decision.park_code is not None:
            waiting = list(st.parked.get(decision.park_code) or [])
            if not _is_parked(message, waiting):
                waiting.append(_parked_item(message, decision, self.cfg.clock().isoformat()))
                st.parked[decision.park_code] = waiting
                out.send(
                    self.parked_log,
                    f"{message.topic}:{message.partition}:{message.offset}".encode(),
                    json.dumps({**waiting[-1], "value": None, "state": "parked"}).encode(),
                )
        if emit is not None:
            key = emit["uscc"].encode()
            taken = self.handoff.take(key, emit, emitted) if self.handoff is not None else None
            if taken is None:
                out.send(self.resolved, key, emitted)
            else:  # applied by this loop's items stage already (streams/runtime/handoff.py)
                partition, headers = taken
                out.send(self.resolved, key, emitted, headers, partition=partition)

    def _over_bounds(
        self, message: Received, decision: IntakeDecision, st: StagedTables, emitted: bytes | None
    ) -> Rejection | None:
        """Why the decision cannot be carried out whole (a full parked list, a resolved
        record over the message limit), checked before anything is written: a parked
        record re-driven with others refuses alone (streams/runtime/stage_loop.py refuses a
        message whose outputs do not fit, which here would be the alias message)."""
        where = f"{message.topic}[{message.partition}]@{message.offset}"
        code = decision.park_code
        if code is not None:
            waiting = st.parked.get(code) or []
            if len(waiting) >= MAX_PARKED_PER_CODE and not _is_parked(message, waiting):
                return Rejection(
                    "state_bound_exceeded",
                    None,
                    f"记录 {where} 未暂存：旧代码 {code} 下已暂存 {len(waiting)} 条等待"
                    f"登记信息的记录，达到每个代码 {MAX_PARKED_PER_CODE} 条的上限；请先报送该"
                    "代码对应企业的登记信息（统一社会信用代码），再重新报送此记录",
                    "resolve",
                    "streams.StateBoundExceeded",
                )
        if emitted is not None:
            size = message_size(decision.emit["uscc"].encode(), emitted)
            if size > self.out.limit:
                return Rejection(
                    "output_too_large",
                    None,
                    f"记录 {where} 未处理：补全后的记录编码后 {size} 字节，超过主题消息上限 "
                    f"{self.out.limit} 字节；请缩短该记录的长文本字段后重新报送",
                    "resolve",
                    "streams.OutputTooLarge",
                )
        return None

    def _decide(self, message: Received, st: StagedTables) -> IntakeDecision:
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
            processed_at=self.cfg.clock(),
            pii_key=self.cfg.pii_key,
            backfill_before=self.cfg.backfill_before,
        )


def _record_alias(
    code: str, body: dict[str, Any], aliases: StagedTable, out: Outputs, quality: str, now: Any
) -> None:
    existing = aliases.get(code)
    if existing and existing["uscc"] != body["uscc"]:
        # One legacy code, or one name, claimed by two USCCs (查错查重): keep the first,
        # report the second, for the department that registered it.
        by_name = code.startswith(NAME_ALIAS_PREFIX)
        finding = {
            "reason": "one_name_two_codes" if by_name else "legacy_code_claimed_twice",
            "kind": "name" if by_name else "legacy_code",
            "code": code.removeprefix(NAME_ALIAS_PREFIX),
            "uscc": existing["uscc"],
            "other_uscc": body["uscc"],
            "detail": f"名称「{code.removeprefix(NAME_ALIAS_PREFIX)}」已登记在 "
            f"{existing['uscc']} 名下，又登记为 {body['uscc']}"
            if by_name
            else f"旧代码 {code} 已对应 {existing['uscc']}，又被 {body['uscc']} 使用",
            **(body.get("origin") or {}),
            "detected_at": now.isoformat(),
        }
        out.send(quality, code.encode(), json.dumps(finding).encode())
        return
    aliases[code] = body["entry"]


def _origin(record: Any) -> dict[str, Any]:
    """Who registered what an alias maps, for the findings its alias may raise."""
    if not record:
        return {}
    return {
        "event_id": record["event_id"],
        "category": record["category"],
        "department": record["department"]["code"],
        "record_key": record["record_key"],
    }


def _is_parked(message: Received, waiting: list[dict[str, Any]]) -> bool:
    return any(
        item["offset"] == message.offset and item["topic"] == message.topic for item in waiting
    )


def _parked_item(message: Received, decision: IntakeDecision, parked_at: str) -> dict[str, Any]:
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


__all__ = ["IntakeStage", "quality_event"]
