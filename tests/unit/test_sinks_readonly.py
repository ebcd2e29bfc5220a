"""The text check of `creditsync sql` (the server-side readonly=1 is tested with chdb)."""

from __future__ import annotations

import pytest

from sinks.clickhouse.readonly import check_read_only
from sinks.errors import ReadOnlyQueryRefused


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select count() from penalty FINAL;",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "SHOW TABLES",
        "DESCRIBE TABLE penalty",
        "EXPLAIN SELECT 1",
        "(SELECT 1) UNION ALL (SELECT 2)",
        "-- daily volume\nSELECT * FROM v_daily_volume",
        "SELECT ';' AS semicolon",
    ],
)
def test_read_only_queries_pass(sql: str) -> None:
    assert check_read_only(sql)


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("INSERT INTO penalty VALUES (1)", "INSERT is not a read-only statement"),
        ("DROP TABLE penalty", "DROP is not a read-only statement"),
        ("/* SELECT */ ALTER TABLE penalty DELETE WHERE 1", "ALTER is not a read-only"),
        ("SELECT 1; DROP TABLE penalty", "more than one statement"),
        ("  ;  ", "the query is empty"),
    ],
)
def test_other_statements_are_refused_with_the_reason(sql: str, reason: str) -> None:
    with pytest.raises(ReadOnlyQueryRefused, match=reason) as info:
        check_read_only(sql)
    assert "only SELECT, WITH, SHOW, DESCRIBE, EXPLAIN run" in str(info.value)
