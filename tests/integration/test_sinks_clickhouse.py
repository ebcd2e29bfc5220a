"""ClickHouse sink against real ClickHouse (chdb): idempotence, history, views, read-only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from schemas.categories import ITEM_AND_CHANGE_CATEGORIES
from sinks.clickhouse import ClickHouseSink, connect_clickhouse, rows, run_readonly_query
from sinks.clickhouse.migrations import MIGRATIONS
from sinks.errors import ReadOnlyQueryRefused
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(chdb_dsn: str, clickhouse_database: str) -> Iterator[ClickHouseSink]:
    sink = ClickHouseSink(connect_clickhouse(chdb_dsn, clickhouse_database))
    sink.setup()
    try:
        yield sink
    finally:
        sink.client.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`")
        sink.close()


def count(sink: ClickHouseSink, table: str, final: bool = True) -> int:
    return sink.client.query(f"SELECT count() FROM {table}{' FINAL' if final else ''}").result_rows[
        0
    ][0]


def test_migrations_are_recorded_and_applied_once(sink: ClickHouseSink) -> None:
    assert sink.setup() == []
    applied = sink.client.query("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in applied.result_rows] == [m.version for m in MIGRATIONS]


@pytest.mark.parametrize("category", [*ITEM_AND_CHANGE_CATEGORIES, "registration"])
def test_tables_have_exactly_the_mapped_columns(sink: ClickHouseSink, category: str) -> None:
    # The migrations freeze the DDL; a new field in schemas/categories.py needs a migration.
    record = make_enriched(category)
    table = "entities" if category == "registration" else category
    described = {r[0] for r in sink.client.query(f"DESCRIBE TABLE {table}").result_rows}
    mapped = rows.rows_for(record)[table][0]
    assert set(mapped) == described


def _batch() -> list:
    reg = make_enriched("registration", n=101)
    penalty = make_enriched("penalty", n=101)
    return [
        reg,
        penalty,
        newer(penalty, payload={"fine_amount": "8000"}),
        make_enriched("license", n=101),
        make_enriched("restriction", n=102),
        make_enriched("objection", n=101),
    ]


def test_retry_and_replay_converge_to_one_row_per_business_key(sink: ClickHouseSink) -> None:
    batch = _batch()
    first = sink.write_batch(batch)
    assert first.applied == len(batch) and not first.rejected
    raw_after_first = count(sink, "records_raw", final=False)
    sink.write_batch(batch)  # the sink loop retried the same batch: same dedup token
    assert count(sink, "records_raw", final=False) == raw_after_first
    for half in (batch[:3], batch[3:]):  # a replay from Kafka forms other batches
        sink.write_batch(half)
    assert count(sink, "records_raw") == len({r["event_id"] for r in batch})
    assert count(sink, "penalty") == 1
    assert count(sink, "entities") == 1
    assert count(sink, "restriction") == 1
    fine = sink.client.query("SELECT fine_amount FROM penalty FINAL").result_rows
    assert [str(r[0]) for r in fine] == ["8000.00"]


def test_out_of_order_versions_keep_the_newest(sink: ClickHouseSink) -> None:
    v1 = make_enriched("penalty", n=103)
    v2 = newer(v1, payload={"fine_amount": "2.00"})
    v3 = newer(v2, publication_status="withdrawn")
    for record in (v3, v1, v2):
        sink.write_batch([record])
    status = sink.client.query("SELECT publication_status, version FROM penalty FINAL")
    assert status.result_rows == [("withdrawn", v3["version"])]
    assert count(sink, "records_raw") == 3  # every version kept as history


def test_records_that_do_not_fit_are_rejected_and_the_rest_written(sink: ClickHouseSink) -> None:
    bad = make_enriched("penalty", payload={"decided_on": "昨天"})
    leaked = make_enriched("restriction", payload={"id_document_number": "640422199001011234"})
    good = make_enriched("license")
    result = sink.write_batch([bad, leaked, good])
    assert result.applied == 1
    reasons = {r.event_id: (r.reason_code, r.reason) for r in result.rejected}
    assert reasons[bad["event_id"]][0] == "schema_mismatch"
    assert "'decided_on'" in reasons[bad["event_id"]][1]
    assert reasons[leaked["event_id"]][0] == "raw_personal_id"
    assert count(sink, "records_raw") == 1


def test_dashboard_views_show_the_expected_figures(sink: ClickHouseSink) -> None:
    day = dt.date(2024, 6, 3)
    at = dt.datetime(2024, 6, 3, 1, 0, tzinfo=dt.UTC)  # 09:00 in Beijing
    late = {"working_days": 9, "deadline_working_days": 7, "deadline_met": False}
    records = [
        make_enriched("penalty", n=201, emitted_at=at),
        make_enriched("penalty", n=202, emitted_at=at, timeliness=late),
        make_enriched("license", n=203, emitted_at=at, publication_status="withdrawn"),
        make_enriched("restriction", n=204, emitted_at=at),
        make_enriched("restriction", n=205, emitted_at=at, region_code="110105"),
        make_enriched("restriction", n=206, emitted_at=at, publication_status="expired"),
    ]
    sink.write_batch(records)
    sink.write_control_totals(
        [
            {
                "department_code": "scjg-640000",
                "day": day,
                "category": "penalty",
                "declared": 8,
                "received": 8,  # what the adapter counted (migration 4)
                "batch_id": "f1",
                "reported_at": at,
            }
        ]
    )
    sink.write_rejections(
        [
            {
                "rejection_id": "t:0:1",
                "event_id": None,
                "department_code": "scjg-640000",
                "category": "penalty",
                "reason_code": "invalid_code",
                "reason": "bad USCC",
                "field": "uscc",
                "emitted_at": at,
                "rejected_at": at,
            }
        ]
    )
    sink.write_parked(
        [
            {
                "event_id": "p1",
                "department_code": "scjg-640000",
                "category": "penalty",
                "subject_code": "640422000000001",
                "reason_code": "unknown_registration_number",
                "status": "parked",
                "emitted_at": at,
                "updated_at": at,
            }
        ]
    )
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the view counts China days
    sink.write_notices(
        [
            {
                "notice_id": "n1",
                "department_code": "tax",
                "department_name": "税务局",
                "uscc": records[3]["uscc"],
                "initiated_on": (today - dt.timedelta(days=10)).isoformat(),
                "stage": "initiated",
            },
            {
                "notice_id": "n2",
                "department_code": "tax",
                "department_name": "税务局",
                "uscc": records[3]["uscc"],
                "initiated_on": (today - dt.timedelta(days=2)).isoformat(),
                "stage": "fed_back",
                "fed_back_on": today.isoformat(),
            },
        ]
    )

    def view(sql: str) -> list[tuple]:
        return run_readonly_query(sink.client, sql).rows

    volume = view(
        "SELECT category, province_code, records FROM v_daily_volume "
        "WHERE day = '2024-06-03' ORDER BY category, province_code"
    )
    assert volume == [
        ("license", "64", 1),
        ("penalty", "64", 2),
        ("restriction", "11", 1),
        ("restriction", "64", 2),
    ]
    assert view(
        "SELECT with_deadline, within_deadline, share_within_deadline FROM v_timeliness "
        "WHERE category = 'penalty'"
    ) == [(2, 1, 0.5)]
    assert view(
        "SELECT declared, received, published, difference FROM v_control_totals "
        "WHERE department_code = 'scjg-640000' AND day = '2024-06-03'"
    ) == [(8, 8, 6, 0)]  # 6 through (withdrawn/expired too) + 1 refused + 1 parked
    assert view("SELECT reason_code, rejected FROM v_rejections_by_reason") == [("invalid_code", 1)]
    assert view("SELECT reason_code, parked FROM v_parked_by_reason") == [
        ("unknown_registration_number", 1)
    ]
    assert view(
        "SELECT region_code, information_type, restrictions FROM v_restrictions_by_region "
        "ORDER BY region_code"
    ) == [("110105", "严重违法失信企业名单", 1), ("640422", "严重违法失信企业名单", 1)]
    assert view("SELECT stage, age_bucket, notices, oldest_days FROM v_open_notices_by_age") == [
        ("initiated", "8-30", 1, 10)
    ]


def test_control_totals_replayed_are_counted_once(sink: ClickHouseSink) -> None:
    at = dt.datetime(2024, 6, 3, 1, 0, tzinfo=dt.UTC)
    row = {
        "department_code": "d",
        "day": dt.date(2024, 6, 3),
        "category": "penalty",
        "declared": 3,
        "batch_id": "f1",
        "reported_at": at,
    }
    sink.write_control_totals([row])
    sink.write_control_totals([row])
    sink.write_control_totals([row, {**row, "batch_id": "f2"}])
    assert run_readonly_query(sink.client, "SELECT declared FROM v_control_totals").rows == [(6,)]


@pytest.mark.parametrize(
    "sql", ["INSERT INTO penalty (event_id) VALUES ('x')", "DROP TABLE penalty"]
)
def test_readonly_query_refuses_writes(sink: ClickHouseSink, sql: str) -> None:
    with pytest.raises(ReadOnlyQueryRefused, match="is not a read-only statement"):
        run_readonly_query(sink.client, sql)
    assert sink.client.command("EXISTS TABLE penalty") == 1


def test_a_select_that_lifts_the_read_only_mode_is_refused(sink: ClickHouseSink) -> None:
    with pytest.raises(ReadOnlyQueryRefused, match=r"a SETTINGS clause \(readonly\)"):
        run_readonly_query(sink.client, "SELECT 1 SETTINGS readonly = 0")


def test_readonly_query_returns_columns_and_rows(sink: ClickHouseSink) -> None:
    result = run_readonly_query(sink.client, "SELECT 1 AS one, 'x' AS letter")
    assert result.columns == ["one", "letter"]
    assert result.rows == [(1, "x")]
