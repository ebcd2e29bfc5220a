"""The SQL poller's order and position on SQLite, with the publishing step recorded instead of
sent: equal timestamps, restarts and a crash mid-way neither skip nor repeat a row."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from producers.changefeed import PositionStore, SqlPoller, parse_mapping
from producers.changefeed.publishing import FeedStats
from producers.changefeed.sql_poller import is_deleted, row_sequence, timestamp_sequence
from producers.events import spreadsheet_sequence
from producers.publisher import PublishFailed
from tests.intake_factory import enterprise_codes

MAPPING = parse_mapping(
    {
        "department": {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
        "tables": [
            {
                "table": "penalties",
                "category": "penalty",
                "key_columns": ["id"],
                "sequence_column": "updated_at",
                "sequence_timezone": "Asia/Shanghai",
                "deleted_column": "is_deleted",
                "columns": {
                    "credit_code": "统一社会信用代码（企业注册号）",
                    "ent_name": "企业名称",
                    "doc_no": "行政处罚决定书文号",
                    "authority": "作出行政处罚决定机关名称",
                    "decided_on": "作出行政处罚决定日期",
                    "violation": "违法行为类型",
                    "kind": "处罚种类",
                },
            }
        ],
    }
)


class RecordingPublisher:
    """Stands in for FeedPublisher: keeps what would be sent; can fail on a chosen call."""

    topic_prefix = ""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.events: list[dict] = []
        self.refusals: list = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    def send(self, events, refusals, stats: FeedStats) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise PublishFailed("1 record(s) not acknowledged by Kafka within 30s")
        self.events += events
        self.refusals += refusals
        stats.published += len(events)


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'hb.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE penalties (id INTEGER PRIMARY KEY, credit_code TEXT, ent_name TEXT, "
            "doc_no TEXT, authority TEXT, decided_on DATE, violation TEXT, kind TEXT, "
            "is_deleted INTEGER DEFAULT 0, updated_at TIMESTAMP)"
        )
    yield engine
    engine.dispose()


def insert(engine, rows: list[tuple[int, str]], **extra) -> None:
    with engine.begin() as conn:
        for number, updated_at in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO penalties VALUES (:id, :code, '测试企业', :doc, '生态环境厅', "
                    "'2024-03-04', '超标排放', '罚款', :deleted, :updated)"
                ),
                {"id": number, "code": extra.get("code", enterprise_codes(number)["uscc"]),
                 "doc": f"宁环罚〔2024〕{number}号", "deleted": extra.get("deleted", 0),
                 "updated": updated_at},
            )  # fmt: skip


def poller(engine, tmp_path, publisher, batch_size=2) -> SqlPoller:
    return SqlPoller(MAPPING, engine, publisher, tmp_path, batch_size=batch_size, settle_seconds=0)


def numbers(events) -> list[int]:
    return [int(e["record_key"].split("〕")[1].rstrip("号")) for e in events]


def test_a_restart_reads_exactly_the_new_rows_including_an_equal_timestamp(engine, tmp_path):
    insert(engine, [(1, "2024-03-04 10:00:00"), (2, "2024-03-04 10:00:05"),
                    (3, "2024-03-04 10:00:05")])  # fmt: skip
    first = RecordingPublisher()
    assert poller(engine, tmp_path, first).poll_once().read == 3
    assert numbers(first.events) == [1, 2, 3]
    # Row 4 carries the very timestamp of the last row read; row 5 is later.
    insert(engine, [(4, "2024-03-04 10:00:05"), (5, "2024-03-04 10:01:00")])
    second = RecordingPublisher()
    poller(engine, tmp_path, second).poll_once()
    assert numbers(second.events) == [4, 5]
    third = RecordingPublisher()
    poller(engine, tmp_path, third).poll_once()
    assert third.events == []


def test_a_failed_publish_keeps_the_position_before_that_batch(engine, tmp_path):
    insert(engine, [(n, f"2024-03-04 10:00:0{n}") for n in range(1, 6)])
    failing = RecordingPublisher(fail_on_call=2)
    with pytest.raises(PublishFailed):
        poller(engine, tmp_path, failing).poll_once()
    assert numbers(failing.events) == [1, 2]
    store = PositionStore.under(tmp_path, "hb-640000", "penalties")
    assert store.load().key == (2,)
    retry = RecordingPublisher()
    poller(engine, tmp_path, retry).poll_once()
    assert numbers(retry.events) == [3, 4, 5]


def test_soft_deletes_withdraw_and_bad_rows_are_refused_with_reasons(engine, tmp_path):
    insert(engine, [(1, "2024-03-04 10:00:00")], deleted=1)
    insert(engine, [(2, "2024-03-04 10:00:01")], code="12345")
    publisher = RecordingPublisher()
    poller(engine, tmp_path, publisher).poll_once()
    assert [e["operation"] for e in publisher.events] == ["withdraw"]
    (refusal,) = publisher.refusals
    assert refusal.reason_code == "invalid_code"
    headers = dict(refusal.record.headers)
    assert b"penalties (id=2)" in headers["__connect.errors.exception.message"]
    # Naive times are Beijing time: 10:00 there is 02:00 UTC.
    assert publisher.events[0]["emitted_at"] == dt.datetime(2024, 3, 4, 2, 0, tzinfo=dt.UTC)


def test_young_rows_wait_for_the_settle_delay(engine, tmp_path):
    now = dt.datetime(2024, 3, 4, 2, 0, 10, tzinfo=dt.UTC)  # 10:00:10 in Beijing
    insert(engine, [(1, "2024-03-04 10:00:00"), (2, "2024-03-04 10:00:08")])
    publisher = RecordingPublisher()
    settled = SqlPoller(MAPPING, engine, publisher, tmp_path, settle_seconds=5, clock=lambda: now)
    settled.poll_once()
    assert numbers(publisher.events) == [1]


def test_a_null_sequence_is_counted_as_invisible(engine, tmp_path):
    insert(engine, [(1, None), (2, "2024-03-04 10:00:00")])
    p = poller(engine, tmp_path, RecordingPublisher())
    p.poll_once()
    assert p.invisible_rows == {"penalties": 1}


def test_sequences_share_the_spreadsheet_scale():
    moment = dt.datetime(2024, 3, 4, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert timestamp_sequence(moment) >> 21 == spreadsheet_sequence(moment, 0) >> 21
    later = moment + dt.timedelta(microseconds=1)
    assert timestamp_sequence(later) > timestamp_sequence(moment)
    assert row_sequence("2024-03-04 18:00:00", "Asia/Shanghai") == timestamp_sequence(
        dt.datetime(2024, 3, 4, 10, tzinfo=dt.UTC)
    )
    assert row_sequence(17, "UTC") == 17
    assert row_sequence(-1, "UTC") is None
    assert row_sequence("soon", "UTC") is None


@pytest.mark.parametrize(
    ("value", "deleted"),
    [(None, False), (0, False), ("N", False), (1, True), ("是", True), ("true", True)],
)
def test_soft_delete_flags(value, deleted):
    assert is_deleted(value) is deleted
