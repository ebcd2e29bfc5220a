"""Stage 2 agents: resolved -> credit.records, per-item state, notices and expiry timers.

Thin: decisions come from `streams.items`; this module reads and writes the `items` and
`notices` tables (keyed by USCC-prefixed keys, co-partitioned with `credit.resolved`) and
sends what they say to send, awaiting every delivery before the batch is acknowledged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import faust

from schemas.codec import decode_enriched, encode_enriched
from schemas.dead_letters import Rejection, rejected_topic
from schemas.topics import NOTICES_LOG, RECORDS, notices_topic
from streams.app import CreditStreams
from streams.errors import ChangeError, NoticeError, PublicationError
from streams.faust_support import (
    StagedTable,
    as_current_event,
    fail_loudly,
    flush_table_writes,
    message_headers,
    send_dead_letter,
)
from streams.items import ItemOutcome, notice_key, reduce_expiry_check, reduce_feedback
from streams.items import reduce_record as reduce_item_record
from streams.outputs import Outputs
from streams.timeliness import china_date

CONTROL_HEADER = "creditsync.control"


@dataclass
class StagedItems:
    items: StagedTable
    notices: StagedTable


EXPIRY_CHECK = b"expiry-check"


def install(streams: CreditStreams, *, items: faust.Table, notices: faust.Table) -> None:
    app, cfg = streams.app, streams.config
    notice_topics: dict[str, faust.TopicT] = {}
    rejected = rejected_topic(cfg.topic_prefix)
    records_topic = cfg.topic(RECORDS)
    out = streams.output_producer("items")

    async def notice_topic(department: str) -> faust.TopicT:
        # Receiving departments are open-ended: a department's topic is made on first use.
        if department not in notice_topics:
            topic = app.topic(
                notices_topic(department, cfg.topic_prefix),
                partitions=1,
                key_serializer="raw",
                value_serializer="raw",
                internal=True,
            )
            await topic.maybe_declare()
            notice_topics[department] = topic
        return notice_topics[department]

    notices_log = cfg.topic(NOTICES_LOG)

    async def send_notice(notice: Any, out: Outputs) -> None:
        """To the receiving department's topic, and to the log analytics reads."""
        key, value = notice["notice_id"].encode(), json.dumps(notice).encode()
        await notice_topic(notice["department_code"])  # made on first use
        out.send(notices_topic(notice["department_code"], cfg.topic_prefix), key, value)
        out.send(notices_log, key, value)

    async def carry_out(outcome: ItemOutcome, out: Outputs, st: StagedItems) -> None:
        for key, state in outcome.states.items():
            st.items[key] = state
        for record in outcome.records:
            out.send(records_topic, record["uscc"].encode(), encode_enriched(record))
        for notice in outcome.notices:
            st.notices[notice_key(notice["uscc"], notice["notice_id"])] = dict(notice)
            await send_notice(notice, out)

    async def handle(message: Any, out: Outputs, st: StagedItems) -> None:
        today = china_date(cfg.clock())
        if dict(message_headers(message)).get(CONTROL_HEADER) == EXPIRY_CHECK:
            key = message.value.decode()
            state = st.items.get(key)
            if state:
                await carry_out(reduce_expiry_check(key, state, today), out, st)
            return
        record = decode_enriched(message.value)
        try:
            await apply_record(record, out, st)
        except (ChangeError, PublicationError, NoticeError) as exc:
            # A workflow event or change that cannot apply (an unknown objection status, a
            # change of a key field): refused with the reason, the item left as it was.
            rejection = Rejection(
                "unapplicable",
                None,
                f"{record['category']} "
                f"{record['record_key']!r} (event {record['event_id']}): {exc}",
                "items",
                type(exc).__name__,
            )
            send_dead_letter(
                out,
                rejected,
                message,
                rejection,
                event_id=record["event_id"],
                department=record["department"]["code"],
                category=record["category"],
            )

    async def apply_record(record: Any, out: Outputs, st: StagedItems) -> None:
        today = china_date(cfg.clock())
        if record["category"] == "notice_feedback":
            found = reduce_feedback(record, st.notices.get)
            if found is not None:
                key, notice = found
                st.notices[key] = dict(notice)
                await send_notice(notice, out)
        await carry_out(reduce_item_record(record, st.items.get, today), out, st)

    @app.agent(streams.resolved, name=f"{cfg.topic_prefix}items", concurrency=1)
    @fail_loudly(app)
    async def maintain_items(stream: faust.StreamT) -> None:
        async for events in stream.take_events(cfg.intake_batch_size, within=0.2):
            st = StagedItems(StagedTable(items), StagedTable(notices))
            for event in events:
                with as_current_event(event):
                    await handle(event.message, out, st)
            await out.flush()
            # Only now, with every output acknowledged, may the state say "done".
            st.items.apply()
            st.notices.apply()
            await flush_table_writes(app)

    @app.timer(cfg.expiry_check_seconds)
    async def check_expiry() -> None:
        # Timers may not write tables (no current event): each due item gets a check
        # message on its own partition of credit.resolved, handled by the agent above.
        today = china_date(cfg.clock()).isoformat()
        for key, state in list(items.items()):
            expires_on = state.get("expires_on")
            if (
                expires_on
                and expires_on <= today
                and state.get("status") in ("public", "under_review")
            ):
                await streams.resolved.send(
                    key=key.split("|", 1)[0].encode(),
                    value=key.encode(),
                    headers=[(CONTROL_HEADER, EXPIRY_CHECK)],
                )
