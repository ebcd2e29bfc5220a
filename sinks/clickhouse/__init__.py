"""ClickHouse sink: typed history tables, dashboard views, read-only analytics queries."""

from sinks.clickhouse.client import connect_clickhouse
from sinks.clickhouse.migrations import MIGRATIONS, Migration, apply_migrations
from sinks.clickhouse.operations import ControlTotalRow, ParkedRow, RejectionRow
from sinks.clickhouse.readonly import QueryResult, check_read_only, run_readonly_query
from sinks.clickhouse.rows import version_number
from sinks.clickhouse.sink import ClickHouseSink

__all__ = [
    "MIGRATIONS",
    "ClickHouseSink",
    "ControlTotalRow",
    "Migration",
    "ParkedRow",
    "QueryResult",
    "RejectionRow",
    "apply_migrations",
    "check_read_only",
    "connect_clickhouse",
    "run_readonly_query",
    "version_number",
]
