"""`creditsync sql` routing: through the running server when it owns the embedded ClickHouse."""

from __future__ import annotations

import os

import httpx
import pytest

from creditsync.operator_token import OperatorTokenRefused
from creditsync.ops.errors import AnalyticsQueryFailed
from creditsync.ops.sqlclient import choose_route, run_sql
from sinks.errors import ReadOnlyQueryRefused


@pytest.fixture
def owned(tmp_path):
    (tmp_path / "run.pid").write_text(str(os.getppid()))  # a live process that is not us
    return tmp_path


def test_route_is_the_server_only_for_chdb_owned_by_a_run(owned, tmp_path_factory):
    free = tmp_path_factory.mktemp("free")
    assert choose_route("chdb:///x", owned, "http://h:8080").via == "server"
    assert choose_route("chdb:///x", free, "http://h:8080").via == "direct"
    assert choose_route("http://ch:8123/db", owned, "http://h:8080").via == "direct"


def _answer(status: int, body: dict):
    def post(url, json, headers, timeout):
        assert url == "http://h:8080/v1/analytics/sql"
        assert json == {"sql": "SELECT 1"}
        assert headers["Authorization"].startswith("Bearer ") and len(headers["Authorization"]) > 40
        return httpx.Response(status, json=body)

    return post


def select_one_through_the_server(owned):
    return run_sql(
        "SELECT 1", dsn="chdb:///x", database="d", data_dir=owned, http_base="http://h:8080"
    )


def test_the_running_server_answers_the_query(owned, monkeypatch):
    monkeypatch.setattr(httpx, "post", _answer(200, {"columns": ["x"], "rows": [[1]]}))
    result, route = select_one_through_the_server(owned)
    assert (result.columns, result.rows, route.via) == (["x"], [(1,)], "server")


def test_server_errors_keep_clickhouses_message(owned, monkeypatch):
    refused = {"error": "query_failed", "message": "ClickHouse refused the query: Code: 47"}
    monkeypatch.setattr(httpx, "post", _answer(400, refused))
    with pytest.raises(AnalyticsQueryFailed, match="Code: 47"):
        select_one_through_the_server(owned)
    monkeypatch.setattr(httpx, "post", _answer(403, {"error": "not_read_only", "message": "no"}))
    with pytest.raises(ReadOnlyQueryRefused):
        select_one_through_the_server(owned)


def test_a_refused_operator_token_says_so(owned, monkeypatch):
    refusal = {"error": "operator_token_required", "message": "needs the operator token"}
    monkeypatch.setattr(httpx, "post", _answer(401, refusal))
    with pytest.raises(OperatorTokenRefused, match="refused the operator token"):
        select_one_through_the_server(owned)


def test_the_servers_refusal_is_shown_as_it_wrote_it(owned, monkeypatch):
    # The check needs ClickHouse's parser, so it runs where the query would run: here the
    # server, whose 403 message is passed on whole, not wrapped a second time.
    message = "refused: DROP is not a read-only statement (DropQuery) — only one SELECT …"
    monkeypatch.setattr(httpx, "post", _answer(403, {"error": "not_read_only", "message": message}))
    with pytest.raises(ReadOnlyQueryRefused) as info:
        select_one_through_the_server(owned)
    assert str(info.value) == message


def test_a_password_in_the_dsn_is_never_shown(owned):
    route = choose_route("https://analyst:pw-123@ch.example:8443/credit", owned, "http://h:8080")
    assert route.detail == "https://analyst:***@ch.example:8443/credit"
