"""`creditsync sql`: one read-only analytics query, run where the ClickHouse data lives.

With a ClickHouse server (http DSN) the query goes straight to it. With embedded ClickHouse
(chdb DSN) one process owns the data directory: when `creditsync run` owns it (run.pid), the
query is sent to that process's `POST /v1/analytics/sql`; otherwise this process opens chdb
itself. Either way ClickHouse's parser checks it is one read-only SELECT
(sinks/clickhouse/readonly.py) and it runs with readonly=1 and the limits of
`analytics_limits()`. The server asks for the operator token (creditsync/operator_token.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditsync.operator_token import OperatorTokenRefused, presented_token
from creditsync.ops.errors import AnalyticsQueryFailed
from creditsync.ops.runlock import running_main_job
from creditsync.settings import ClickHouseSettings
from sinks.clickhouse import QueryResult, connect_clickhouse, run_readonly_query
from sinks.clickhouse.client import redact_dsn
from sinks.clickhouse.readonly import QueryLimits
from sinks.errors import QueryLimitExceeded, ReadOnlyQueryRefused

HTTP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class SqlRoute:
    """Where a query runs: "server" (the running `creditsync run`) or "direct"."""

    via: str
    detail: str


def analytics_limits(settings: ClickHouseSettings | None = None) -> QueryLimits:
    """The limits of one analytics query, from CREDITSYNC_ANALYTICS_* (settings.py)."""
    settings = settings or ClickHouseSettings()
    return QueryLimits(
        max_execution_time=settings.analytics_max_seconds,
        max_result_rows=settings.analytics_max_result_rows,
        max_memory_usage=settings.analytics_max_memory_bytes,
        max_rows_to_read=settings.analytics_max_rows_to_read,
    )


def choose_route(dsn: str, data_dir: Path, http_base: str) -> SqlRoute:
    """Direct, unless chdb's data directory is owned by a running `creditsync run`."""
    if dsn.startswith("chdb:"):
        pid = running_main_job(data_dir)
        if pid is not None:
            return SqlRoute("server", f"{http_base} (creditsync run, pid {pid}, owns {dsn})")
    return SqlRoute("direct", redact_dsn(dsn))


def run_sql(
    sql: str, *, dsn: str, database: str, data_dir: Path, http_base: str
) -> tuple[QueryResult, SqlRoute]:
    """Run one read-only query; ReadOnlyQueryRefused for anything else, QueryLimitExceeded
    when it hits a limit, AnalyticsQueryFailed with ClickHouse's message when it fails."""
    route = choose_route(dsn, data_dir, http_base)
    if route.via == "server":
        return query_server(sql, http_base, token=presented_token(data_dir)), route
    client = connect_clickhouse(dsn, database)
    try:
        return run_readonly_query(client, sql, analytics_limits()), route
    except (ReadOnlyQueryRefused, QueryLimitExceeded):
        raise
    except Exception as exc:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        if isinstance(exc, ClickHouseError):
            raise AnalyticsQueryFailed(f"ClickHouse refused the query: {exc}") from exc
        raise
    finally:
        client.close()


def query_server(sql: str, http_base: str, *, token: str | None) -> QueryResult:
    """The query through the running server's analytics endpoint, with the operator token."""
    import httpx

    url = f"{http_base.rstrip('/')}/v1/analytics/sql"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(url, json={"sql": sql}, headers=headers, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise AnalyticsQueryFailed(
            f"`creditsync run` owns the embedded ClickHouse but {url} did not answer: {exc}"
        ) from exc
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500]}
    if response.status_code == 200:
        return QueryResult(list(body["columns"]), [tuple(r) for r in body["rows"]])
    message = _message(body) or f"HTTP {response.status_code}"
    if response.status_code == 401:
        raise OperatorTokenRefused(f"{url} refused the operator token: {message}")
    if response.status_code == 403:
        raise ReadOnlyQueryRefused(sql, message, message=message)
    if response.status_code == 404:
        message = f"{url}: not found — the running server has no analytics SQL endpoint"
    raise AnalyticsQueryFailed(message)


def _message(body: Any) -> str | None:
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, dict):
            return str(detail.get("message") or detail.get("error") or detail)
        return str(detail)
    return None
