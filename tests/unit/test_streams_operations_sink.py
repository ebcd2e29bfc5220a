"""The operations sink: each operational topic's messages become rows of their own table."""

from __future__ import annotations

import datetime as dt
import json

from confluent_kafka import TIMESTAMP_CREATE_TIME

from schemas.topics import CONTROL_TOTALS, NOTICES_LOG, PARKED, REJECTED
from streams.operations_stage import OperationsSink


class FakeMessage:
    def __init__(self, topic: str, value: bytes, headers=None, offset: int = 7) -> None:
        self._topic, self._value, self._headers, self._offset = topic, value, headers, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def headers(self):
        return self._headers

    def timestamp(self):
        return TIMESTAMP_CREATE_TIME, 1_764_000_000_000


class RecordingClickHouse:
    def __init__(self) -> None:
        self.written: dict[str, list] = {}

    def __getattr__(self, name: str):
        return lambda rows: self.written.setdefault(name, []).extend(rows)


def test_each_topic_lands_in_its_table():
    ch = RecordingClickHouse()
    sink = OperationsSink(ch, "p.")
    rejected = FakeMessage(
        f"p.{REJECTED}",
        b"",
        [
            ("creditsync.event_id", b"e1"),
            ("creditsync.reason_code", b"invalid_uscc"),
            ("__connect.errors.exception.message", "统一社会信用代码校验位错误".encode()),
        ],
    )
    parked = FakeMessage(
        f"p.{PARKED}",
        json.dumps(
            {"topic": "t", "offset": 3, "code": "L1", "kind": "legacy_code", "state": "parked",
             "parked_at": "2026-11-30T08:00:00+00:00", "headers": [["event_id", "e2"]]}
        ).encode(),
    )  # fmt: skip
    totals = FakeMessage(
        f"p.{CONTROL_TOTALS}",
        json.dumps(
            {"department": {"code": "scjg-640000"}, "category": "penalty", "declared": 12,
             "emitted_at": "2026-11-30T09:00:00+08:00", "source_name": "b.csv"}
        ).encode(),
    )  # fmt: skip
    notice = FakeMessage(f"p.{NOTICES_LOG}", json.dumps({"notice_id": "n1"}).encode())

    result = sink.write_batch([rejected, parked, totals, notice])

    assert result.applied == 4
    [rejection] = ch.written["write_rejections"]
    assert rejection["event_id"] == "e1"
    assert rejection["reason"] == "统一社会信用代码校验位错误"
    assert rejection["rejection_id"] == f"p.{REJECTED}:2:7"
    assert rejection["rejected_at"] == dt.datetime(2025, 11, 24, 16, 0, tzinfo=dt.UTC)
    [park] = ch.written["write_parked"]
    assert (park["event_id"], park["status"], park["subject_code"]) == ("e2", "parked", "L1")
    [total] = ch.written["write_control_totals"]
    assert (total["department_code"], total["declared"]) == ("scjg-640000", 12)
    assert ch.written["write_notices"] == [{"notice_id": "n1"}]
