"""Versioned ClickHouse migrations: numbered statement lists, each applied once.

`schema_migrations` records what ran. Statements are idempotent (IF NOT EXISTS, OR REPLACE)
because ClickHouse DDL is not transactional: a migration that stopped halfway is re-run
whole, and only recorded once every statement has succeeded.

On a cluster (a client connected with a cluster, or `cluster=`), every statement, the ledger's
included, goes through sinks/clickhouse/cluster.py first: ON CLUSTER, replicated local tables,
Distributed tables under the original names. Without one the statements run exactly as written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.client import cluster_of
from sinks.clickhouse.cluster import ClusterTarget, cluster_ddl
from sinks.clickhouse.migrations import (
    m0001_tables,
    m0002_views,
    m0003_department,
    m0004_department,
    m0005_landing,
    m0006_categories,
    m0007_timeliness,
    m0008_indicators,
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tables", tuple(m0001_tables.STATEMENTS)),
    Migration(2, "dashboard views", tuple(m0002_views.STATEMENTS)),
    Migration(3, "findings and department notices", tuple(m0003_department.STATEMENTS)),
    Migration(4, "department views", tuple(m0004_department.STATEMENTS)),
    Migration(5, "landing stage views", tuple(m0005_landing.STATEMENTS)),
    Migration(6, "issue #17 category tables", tuple(m0006_categories.STATEMENTS)),
    Migration(7, "back-loads and decision dates", tuple(m0007_timeliness.STATEMENTS)),
    Migration(8, "monthly indicators, scorecards, conversion", tuple(m0008_indicators.STATEMENTS)),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY version"""


def applied_versions(client: Client, cluster: ClusterTarget | None = None) -> set[int]:
    """The migration versions recorded in `schema_migrations` of the client's database."""
    for statement in cluster_ddl([_LEDGER], cluster or cluster_of(client)):
        client.command(statement)
    return {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}


def apply_migrations(
    client: Client,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    cluster: ClusterTarget | None = None,
) -> list[int]:
    """Apply what is not yet applied, in order; the versions applied now."""
    cluster = cluster or cluster_of(client)
    done = applied_versions(client, cluster)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        for statement in cluster_ddl(migration.statements, cluster):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, dt.datetime.now(dt.UTC)]],
            column_names=["version", "name", "applied_at"],
        )
        applied.append(migration.version)
    return applied
