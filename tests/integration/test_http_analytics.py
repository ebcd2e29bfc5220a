"""Analytics over HTTP against embedded ClickHouse (chdb): dashboard views and read-only SQL."""

from __future__ import annotations

import functools

import pytest
from fastapi.testclient import TestClient

from creditsync import http as http_module
from creditsync.http import DASHBOARD_VIEWS, HttpDeps, create_http_app
from producers.departments import hash_token
from sinks.clickhouse import ClickHouseSink, QueryResult, connect_clickhouse, run_readonly_query
from sinks.errors import QueryLimitExceeded
from sinks.publicity import PublicityReader
from tests.factories import make_enriched

pytestmark = pytest.mark.integration

OPERATOR_TOKEN = "analyst-operator-token-for-tests"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def client(chdb_dsn, clickhouse_database, redis_client):
    clickhouse = connect_clickhouse(chdb_dsn, clickhouse_database)
    sink = ClickHouseSink(clickhouse)
    sink.setup()
    records = [
        make_enriched("penalty", n=201),
        make_enriched("penalty", n=202),
        make_enriched(
            "penalty",
            n=203,
            timeliness={"working_days": 12, "deadline_working_days": 7, "deadline_met": False},
        ),
        make_enriched("restriction", n=201),
        make_enriched("restriction", n=204, region_code="110105"),
        make_enriched("license", n=201),
    ]
    result = sink.write_batch(records)
    assert not result.rejected
    deps = HttpDeps(
        reader=PublicityReader(redis_client),
        analytics=functools.partial(run_readonly_query, clickhouse),
        operator_token_sha256=hash_token(OPERATOR_TOKEN),
    )
    with TestClient(create_http_app(deps), headers=OPERATOR) as test_client:
        yield test_client
    clickhouse.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`")
    clickhouse.close()


def rows_of(body):
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def test_every_dashboard_view_answers(client):
    for view in DASHBOARD_VIEWS:
        response = client.get(f"/v1/analytics/views/{view}")
        assert response.status_code == 200, (view, response.text)
        assert response.json()["view"] == view


def test_daily_volume_and_timeliness_count_what_was_written(client):
    volume = rows_of(client.get("/v1/analytics/views/daily_volume").json())
    by_category = {}
    for row in volume:
        by_category[row["category"]] = by_category.get(row["category"], 0) + row["records"]
    assert by_category == {"penalty": 3, "restriction": 2, "license": 1}
    timeliness = rows_of(client.get("/v1/analytics/views/v_timeliness").json())
    penalty = next(r for r in timeliness if r["category"] == "penalty")
    assert (penalty["with_deadline"], penalty["within_deadline"]) == (3, 2)
    assert penalty["share_within_deadline"] == pytest.approx(0.6667)


def test_restrictions_by_region(client):
    rows = rows_of(client.get("/v1/analytics/views/restrictions_by_region").json())
    assert sorted((r["county"], r["restrictions"]) for r in rows) == [("朝阳区", 1), ("西吉县", 1)]


def test_read_only_sql_returns_columns_and_rows(client):
    response = client.post(
        "/v1/analytics/sql",
        json={"sql": "SELECT category, count() AS n FROM records_raw GROUP BY 1 ORDER BY 1"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["columns"] == ["category", "n"]
    assert body["rows"] == [["license", 1], ["penalty", 3], ["restriction", 2]]


def test_bad_query_is_400_with_clickhouses_message(client):
    response = client.post(
        "/v1/analytics/sql", json={"sql": "SELECT no_such_column FROM records_raw"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "query_failed"
    assert "no_such_column" in body["message"]
    assert "UNKNOWN_IDENTIFIER" in body["message"]


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE records_raw",
        "INSERT INTO records_raw SELECT * FROM records_raw",
        "SELECT 1; DROP TABLE records_raw",
    ],
)
def test_statements_that_write_are_403(client, sql):
    response = client.post("/v1/analytics/sql", json={"sql": sql})
    assert response.status_code == 403
    assert response.json()["error"] == "not_read_only"
    count = client.post("/v1/analytics/sql", json={"sql": "SELECT count() FROM records_raw"})
    assert count.json()["rows"] == [[6]]


def test_a_settings_clause_is_refused_naming_it(client):
    sql = "SELECT * FROM records_raw SETTINGS readonly = 0"
    response = client.post("/v1/analytics/sql", json={"sql": sql})
    assert response.status_code == 403
    assert response.json()["error"] == "not_read_only"
    assert "a SETTINGS clause (readonly)" in response.json()["message"]


def test_unknown_view_is_404_listing_the_views(client):
    response = client.get("/v1/analytics/views/records_raw")
    assert response.status_code == 404
    assert "v_daily_volume" in response.json()["message"]


def test_sql_needs_the_operator_token_and_the_views_do_not(client):
    anonymous = {"Authorization": ""}
    refused = client.post("/v1/analytics/sql", json={"sql": "SELECT 1"}, headers=anonymous)
    assert refused.status_code == 401
    assert refused.json()["error"] == "operator_token_required"
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (
        client.post("/v1/analytics/sql", json={"sql": "SELECT 1"}, headers=wrong).status_code == 401
    )
    view = client.get("/v1/analytics/views/daily_volume", headers=anonymous)
    assert view.status_code == 200 and view.json()["rows"]


@pytest.mark.security
def test_views_are_computed_once_per_cache_period_whatever_the_callers_ask(
    redis_client, monkeypatch
):
    # Anonymous callers cannot hold the chdb lock with full scans: each view is one query
    # per VIEW_CACHE_SECONDS, whatever `limit` they send.
    monkeypatch.setattr(http_module, "VIEW_CACHE_SECONDS", 3600.0)
    queries = []

    def analytics(sql):
        queries.append(sql)
        return QueryResult(["n"], [(i,) for i in range(50)])

    deps = HttpDeps(reader=PublicityReader(redis_client), analytics=analytics)
    with TestClient(create_http_app(deps)) as anonymous:
        for limit in (1, 2, 3, 10_000, 50):
            body = anonymous.get(f"/v1/analytics/views/daily_volume?limit={limit}").json()
            assert body["row_count"] == min(limit, 50)
        assert anonymous.get("/v1/analytics/views/timeliness").status_code == 200
    assert queries == [
        "SELECT * FROM v_daily_volume LIMIT 10000",
        "SELECT * FROM v_timeliness LIMIT 10000",
    ]


@pytest.mark.security
def test_a_failing_view_says_so_in_chinese_and_is_not_retried_by_every_caller(
    redis_client, monkeypatch
):
    monkeypatch.setattr(http_module, "VIEW_CACHE_SECONDS", 3600.0)
    calls = []

    def analytics(sql):
        calls.append(sql)
        raise QueryLimitExceeded("max_execution_time = 30 s", "Timeout exceeded")

    deps = HttpDeps(reader=PublicityReader(redis_client), analytics=analytics)
    with TestClient(create_http_app(deps)) as anonymous:
        for _ in range(3):
            response = anonymous.get("/v1/analytics/views/v_timeliness")
            assert response.status_code == 400
            body = response.json()
            assert body["error"] == "query_limit_exceeded"
            assert (
                body["message"] == "看板视图 v_timeliness：查询超出了分析查询的限制，请联系运维人员"
            )
            assert "max_execution_time = 30 s" in body["detail"]
    assert len(calls) == 1


def test_a_query_over_a_limit_is_400_naming_the_limit(client):
    response = client.post("/v1/analytics/sql", json={"sql": "SELECT arrayJoin(range(10001))"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "query_limit_exceeded"
    assert body["limit"] == "max_result_rows = 10,000"
    assert "exceeded the analytics limit max_result_rows = 10,000" in body["message"]


def test_without_clickhouse_analytics_is_503(redis_client):
    deps = HttpDeps(reader=PublicityReader(redis_client), operator_token_sha256=hash_token("t"))
    with TestClient(create_http_app(deps), headers={"Authorization": "Bearer t"}) as client:
        response = client.post("/v1/analytics/sql", json={"sql": "SELECT 1"})
    assert response.status_code == 503
    assert "no ClickHouse connection" in response.json()["message"]
