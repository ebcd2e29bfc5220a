"""`creditsync sql`: read-only analytics queries, refused unless they only read.

Two locks, because either alone can be got round: a check that the text is one statement
starting with SELECT / WITH / SHOW / DESCRIBE / EXPLAIN, and ClickHouse's own `readonly=1`
setting on the query, which refuses writes, DDL and changes of settings server-side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.errors import ReadOnlyQueryRefused

READ_ONLY_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"})
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`(?:[^`\\]|\\.)*`", re.DOTALL)
_FIRST_WORD = re.compile(r"^[\s(]*([A-Za-z]+)")


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(sql: str) -> str:
    """The statement to run (one trailing ';' removed), or ReadOnlyQueryRefused.

    Comments are stripped only for the check; the query runs as written, so a '--' inside
    a string literal keeps its meaning."""
    without_comments = _COMMENTS.sub(" ", sql).strip()
    statement = without_comments.rstrip().removesuffix(";").strip()
    if not statement:
        raise ReadOnlyQueryRefused(sql, "the query is empty")
    if ";" in _QUOTED.sub("''", statement):
        raise ReadOnlyQueryRefused(sql, "more than one statement (a ';' inside the query)")
    match = _FIRST_WORD.match(statement)
    keyword = match.group(1).upper() if match else statement.split()[0]
    if keyword not in READ_ONLY_KEYWORDS:
        raise ReadOnlyQueryRefused(sql, f"{keyword} is not a read-only statement")
    return sql.strip().removesuffix(";")


def run_readonly_query(client: Client, sql: str) -> QueryResult:
    """Run one read-only query with `readonly=1`; its column names and rows."""
    statement = check_read_only(sql)
    result = client.query(statement, settings={"readonly": 1})
    return QueryResult(list(result.column_names), [tuple(r) for r in result.result_rows])
