"""`creditsync sql` and the dashboard views: one read-only query, checked by ClickHouse's parser.

How a query runs (`run_readonly_query`):

1. ClickHouse parses it, with the text bound as a query parameter so it is never executed:
   `SELECT formatQuery({sql:String})` refuses more than one statement ("Multi-statements
   are not allowed") and gives the statement back as ClickHouse writes it — no comments, no
   trailing `;`. That text is both the one whose AST `parseQueryToJSON({statement:String})`
   returns for the check and the one executed (no stripping in between). Statements that
   parseQueryToJSON cannot write (GRANT, DESCRIBE, SHOW PROCESSLIST …) are not SELECTs.
2. sinks/clickhouse/sql_policy.py checks the AST: one SELECT; no INTO OUTFILE, FORMAT or
   SETTINGS; no table functions; no file(), dictGet*, joinGet …; only the project's tables
   and system.one/tables/columns/parts.
3. It runs with `readonly=1` and the limits of `QueryLimits` as settings of that query.

Found on chdb 4.4 (ClickHouse 26.9) with clickhouse-connect 1.12, and why the steps are so:

- chdb executes every statement of a `;`-separated text. clickhouse-connect appends
  `SETTINGS readonly=1 FORMAT Native` to the text, which binds to the last statement only:
  `SELECT '/*'; DROP TABLE t; SELECT '*/'` dropped t (the old regex read `/*…*/` as a comment
  where ClickHouse reads string literals). Even `EXPLAIN AST <text>` is no safe check:
  `EXPLAIN AST SELECT '/*'; DROP TABLE t; SELECT '*/'` dropped t as well, which is why the
  text only ever reaches ClickHouse as a bound parameter until it is known to be one statement.
- In ClickHouse's lexer `--` and `/* */` inside string literals are text, `/* */` comments
  nest, and an unclosed `/*` is a syntax error ("Multiline comment is not closed").
- `SET` in chdb is engine-wide, not per connection handle: `SET readonly=1` on a second
  clickhouse-connect client made the sink's client read-only too (and the SET a
  clickhouse-connect `command(settings=…)` uses to apply settings cannot be undone once
  readonly=1). So the read-only mode rides as a query-level SETTINGS clause, never as SET.
- Under readonly=1 ClickHouse refuses DROP, INSERT, SET and a top-level `SETTINGS
  readonly=0` or other change ("Cannot modify 'max_execution_time' setting in readonly
  mode"); a SETTINGS clause inside a subquery is ignored (getSetting there still read
  readonly=1 and the outer max_execution_time). But it still allows `INTO OUTFILE` (the file
  was written, also as `SELECT * FROM (…) INTO OUTFILE`), the scalar `file('/etc/hostname')`,
  `numbers()` and reading system.settings — hence step 2.
- `EXPLAIN SYNTAX SELECT 1 INTO OUTFILE 'f'` wrote f; INTO OUTFILE and FORMAT appear in the
  AST as `out_file` / `format_ast` of the SelectWithUnionQuery, SETTINGS as a `settings`
  SetQuery, table functions as `table_function` of a TableExpression.
- max_result_rows (and max_rows_to_read) count rows read from tables: `SELECT
  arrayJoin(range(20000))` returned 20,000 rows under max_result_rows=10, so the row count
  is checked here too; max_execution_time and max_memory_usage stop such queries.
- A SETTINGS clause at the end of a UNION applies to every SELECT of it and to subqueries
  (getSetting('max_execution_time') read the same value in each).

Needs a ClickHouse with parseQueryToJSON (chdb 4.x, ClickHouse 25.x and later).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.sql_policy import PolicyViolation, check_statement, not_a_select
from sinks.errors import QueryLimitExceeded, ReadOnlyQueryRefused, clickhouse_error_code

# Longer texts are refused before ClickHouse sees them (its own max_query_size is 256 KiB).
MAX_QUERY_CHARS = 100_000
_FORMAT = (
    "SELECT formatQuery({sql:String}), "
    "(SELECT groupArray(lower(name)) FROM system.table_functions)"
)
_AST = "SELECT parseQueryToJSON({statement:String})"
CH_SYNTAX_ERROR = 62
CH_BAD_ARGUMENTS = 36  # parseQueryToJSON on a statement it cannot write as JSON (GRANT …)


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """What one analytics query may use; exceeding any is an error naming the limit."""

    max_execution_time: float = 30.0
    max_result_rows: int = 10_000
    max_result_bytes: int = 64 * 1024 * 1024
    max_memory_usage: int = 1024 * 1024 * 1024
    max_rows_to_read: int = 2_000_000_000

    def settings(self) -> dict[str, Any]:
        """The query settings: read-only, and every limit set to throw, not truncate."""
        return {
            "readonly": 1,
            "max_execution_time": self.max_execution_time,
            "timeout_overflow_mode": "throw",
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_usage,
            "max_rows_to_read": self.max_rows_to_read,
            "read_overflow_mode": "throw",
        }

    def named(self, code: int | None) -> str | None:
        """The limit a ClickHouse error code reports as exceeded, if it is one of ours."""
        return {
            159: f"max_execution_time = {self.max_execution_time:g} s",  # TIMEOUT_EXCEEDED
            160: f"max_execution_time = {self.max_execution_time:g} s (estimated)",  # TOO_SLOW
            158: f"max_rows_to_read = {self.max_rows_to_read:,}",  # TOO_MANY_ROWS
            396: f"max_result_rows = {self.max_result_rows:,} / max_result_bytes = "
            f"{self.max_result_bytes:,}",  # TOO_MANY_ROWS_OR_BYTES
            241: f"max_memory_usage = {self.max_memory_usage:,} bytes",  # MEMORY_LIMIT_EXCEEDED
        }.get(code or 0)


DEFAULT_LIMITS = QueryLimits()


def check_read_only(client: Client, sql: str, limits: QueryLimits = DEFAULT_LIMITS) -> str:
    """The statement to execute — ClickHouse's own formatting of `sql` — once ClickHouse has
    parsed it as one statement that sql_policy admits; else ReadOnlyQueryRefused.

    A text ClickHouse cannot parse raises ClickHouse's error (a typo is not a refusal),
    except more than one statement, which is refused."""
    if not sql.strip().strip(";").strip():
        raise ReadOnlyQueryRefused(sql, "the query is empty")
    if len(sql) > MAX_QUERY_CHARS:
        raise ReadOnlyQueryRefused(
            sql, f"the query is {len(sql):,} characters long; at most {MAX_QUERY_CHARS:,}"
        )
    settings = limits.settings()
    try:
        formatted = client.query(_FORMAT, parameters={"sql": sql}, settings=settings)
    except Exception as exc:
        if clickhouse_error_code(exc) == CH_SYNTAX_ERROR and "Multi-statements" in str(exc):
            raise ReadOnlyQueryRefused(
                sql, "more than one statement (ClickHouse's parser found a second one)"
            ) from None
        raise
    statement, table_functions = formatted.result_rows[0]
    statement = str(statement)
    keyword = statement.split(maxsplit=1)[0].upper() if statement.strip() else "?"
    try:
        try:
            parsed = client.query(_AST, parameters={"statement": statement}, settings=settings)
        except Exception as exc:
            if clickhouse_error_code(exc) == CH_BAD_ARGUMENTS and "JSON" in str(exc):
                raise not_a_select(keyword, "an AST parseQueryToJSON cannot write") from None
            raise
        check_statement(
            json.loads(parsed.result_rows[0][0]),
            keyword=keyword,
            database=client.database or "default",
            table_functions=frozenset(table_functions),
        )
    except PolicyViolation as exc:
        raise ReadOnlyQueryRefused(sql, exc.reason) from None
    return statement


def run_readonly_query(
    client: Client, sql: str, limits: QueryLimits = DEFAULT_LIMITS
) -> QueryResult:
    """Run one checked read-only query under `limits`; its column names and rows.

    ReadOnlyQueryRefused when the check refuses it, QueryLimitExceeded when it hits a limit,
    ClickHouse's own error otherwise."""
    statement = check_read_only(client, sql, limits)
    try:
        result = client.query(statement, settings=limits.settings())
    except Exception as exc:
        limit = limits.named(clickhouse_error_code(exc))
        if limit is None:
            raise
        raise QueryLimitExceeded(limit, str(exc)) from exc
    rows = result.result_rows
    if len(rows) > limits.max_result_rows:
        # ClickHouse counts result rows where it reads tables; rows an arrayJoin makes
        # from nothing (SELECT arrayJoin(range(20000))) pass its max_result_rows.
        raise QueryLimitExceeded(
            f"max_result_rows = {limits.max_result_rows:,}", f"the result has {len(rows):,} rows"
        )
    return QueryResult(list(result.column_names), [tuple(r) for r in rows])
