"""The cluster DDL (sinks/clickhouse/cluster.py) of every migration, judged by ClickHouse."""

from __future__ import annotations

import re

import pytest

from creditsync.settings import ClickHouseSettings
from sinks.clickhouse import native
from sinks.clickhouse.client import connect_clickhouse, split_cluster
from sinks.clickhouse.cluster import (
    ClusterDDLError,
    ClusterTarget,
    cluster_ddl,
    cluster_statements,
)
from sinks.clickhouse.migrations import _LEDGER, MIGRATIONS, apply_migrations
from sinks.errors import SinkError

CLUSTER = ClusterTarget("province", "creditsync")
ON = " ON CLUSTER province"
PATH = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
ALL = [s for m in MIGRATIONS for s in m.statements] + [_LEDGER]
LANDING = native.landing_statements(native.kept_fingerprints()[-1])


def _head(sql: str) -> str:
    return " ".join(sql.split()[:8]).upper()


CREATE_TABLES = [s for s in ALL if re.match(r"CREATE TABLE", s)]
VIEWS = [s for s in ALL if re.match(r"CREATE OR REPLACE VIEW", s)]
MVS = [s for s in ALL if re.match(r"CREATE MATERIALIZED VIEW", s)]
ALTERS = [s for s in ALL if re.match(r"ALTER TABLE", s)]
# m0007 re-creates the native path's views: it drops them first.
DROPS = [s for s in ALL if re.match(r"DROP (VIEW|TABLE)", s)]


@pytest.fixture(scope="module")
def fmt(chdb_dsn: str):
    """ClickHouse's own formatQuery (the embedded engine parses; no cluster is needed)."""
    client = connect_clickhouse(chdb_dsn, "cs_test_cluster_ddl")

    def format_query(sql: str) -> str:
        # As bytes: the landing table's Avro header literal is not UTF-8 once formatted.
        result = client.query(
            "SELECT formatQuery({q:String})", parameters={"q": sql},
            query_formats={"String": "bytes"},
        )  # fmt: skip
        return result.result_rows[0][0].decode("utf-8", "surrogateescape")

    yield format_query
    client.close()


def _name(sql: str) -> str:
    return re.search(r"(?:TABLE|VIEW)(?: IF NOT EXISTS)? (\w+)", sql).group(1)


def test_every_statement_of_every_migration_has_a_cluster_form() -> None:
    # m0006 … m0008 land here too once merged: a statement kind it cannot distribute fails.
    assert CREATE_TABLES and VIEWS and MVS and ALTERS
    out = cluster_ddl(ALL + LANDING, CLUSTER)
    assert all(ON in s or s.startswith("INSERT") for s in out)
    assert len(CREATE_TABLES) + len(VIEWS) + len(MVS) + len(ALTERS) + len(DROPS) == len(ALL)


def test_one_node_runs_the_statements_byte_for_byte_as_written() -> None:
    for statements in [m.statements for m in MIGRATIONS] + [tuple(LANDING)]:
        out = cluster_ddl(statements, None)
        assert out == list(statements)
        assert all(a is b for a, b in zip(out, statements, strict=True))


@pytest.mark.parametrize("sql", CREATE_TABLES + LANDING[:1], ids=_name)
def test_a_table_becomes_a_replicated_local_table_and_a_distributed_one(sql: str, fmt) -> None:
    name = _name(sql)
    local, distributed = cluster_statements(sql, CLUSTER)
    expected = fmt(sql).replace(f"EXISTS {name}\n", f"EXISTS {name}_local{ON}\n", 1)
    engine = re.search(r"^ENGINE = `?(\w+)`?(?:\((.*)\))?", expected, re.M)
    if engine.group(1) != "Null":
        args = f"{PATH}, {engine.group(2)}" if engine.group(2) else PATH
        expected = expected.replace(
            engine.group(0), f"ENGINE = Replicated{engine.group(1)}({args})"
        ).replace("non_replicated_deduplication_window", "replicated_deduplication_window")
    # Columns, ORDER BY, PARTITION BY and the engine's own parameters exactly as on one node.
    assert fmt(local) == expected
    assert "non_replicated" not in local
    assert fmt(distributed) == (
        f"CREATE TABLE IF NOT EXISTS {name}{ON} AS {name}_local\n"
        f"ENGINE = Distributed('province', 'creditsync', '{name}_local', "
        f"{_expected_key(name)})"
    )


def _expected_key(name: str) -> str:
    by_key = {
        "control_totals": "cityHash64(department_code, day, category, batch_id)",
        "rejections": "cityHash64(rejection_id)",
        "parked": "cityHash64(event_id)",
        "notices": "cityHash64(notice_id)",
        "findings": "cityHash64(finding_id)",
        "schema_migrations": "cityHash64(version)",
    }
    return by_key.get(name, "cityHash64(uscc)")


def test_every_table_with_an_enterprise_key_shards_by_its_uscc() -> None:
    keys = {}
    for sql in CREATE_TABLES + LANDING[:1]:
        distributed = cluster_statements(sql, CLUSTER)[1]
        keys[_name(sql)] = re.search(r", (cityHash64\(.*\))\)$", distributed).group(1)
    uscc = {t for t, k in keys.items() if k == "cityHash64(uscc)"}
    assert {"records_raw", "entities", "entity_names", "records_stage", "penalty"} <= uscc
    assert LANDING[0].split()[5] in uscc
    assert keys == {t: _expected_key(t) for t in keys}


@pytest.mark.parametrize("sql", VIEWS, ids=_name)
def test_a_view_is_created_on_the_cluster_reading_the_distributed_tables(sql: str, fmt) -> None:
    (out,) = cluster_statements(sql, CLUSTER)
    name = _name(sql)
    assert fmt(out) == fmt(sql).replace(f"VIEW {name}\n", f"VIEW {name}{ON}\n", 1)
    assert "_local" not in out


@pytest.mark.parametrize("sql", MVS + LANDING[1:], ids=_name)
def test_a_materialized_view_reads_and_writes_the_shards_local_tables(sql: str, fmt) -> None:
    (out,) = cluster_statements(sql, CLUSTER)
    name = _name(sql)
    target = re.search(r" TO (\w+)", sql).group(1)
    source = re.search(r"FROM (\w+)", sql).group(1)
    head = f"VIEW IF NOT EXISTS {name}"
    expected = fmt(sql).replace(f"{head} TO {target}\n", f"{head}{ON} TO {target}_local\n", 1)
    expected = re.sub(rf"FROM {source}\b", f"FROM {source}_local", expected)
    assert fmt(out) == expected
    assert out.count("_local") == 2


@pytest.mark.parametrize("sql", ALTERS, ids=_name)
def test_a_column_change_reaches_the_local_and_the_distributed_table(sql: str, fmt) -> None:
    local, distributed = cluster_statements(sql, CLUSTER)
    name = _name(sql)
    assert fmt(local) == fmt(sql).replace(f"TABLE {name}\n", f"TABLE {name}_local{ON}\n", 1)
    assert fmt(distributed) == fmt(sql).replace(f"TABLE {name}\n", f"TABLE {name}{ON}\n", 1)


def test_other_statements_keep_to_the_local_tables_or_pass_through() -> None:
    mutation = "ALTER TABLE parked DELETE WHERE status = 'gone'"
    assert cluster_statements(mutation, CLUSTER) == [
        f"ALTER TABLE parked_local{ON} DELETE WHERE status = 'gone'"
    ]
    insert = "INSERT INTO penalty SELECT * FROM penalty WHERE 0"
    assert cluster_statements(insert, CLUSTER) == [insert]
    assert cluster_statements("DROP TABLE IF EXISTS `old`", CLUSTER) == [
        f"DROP TABLE IF EXISTS `old`{ON}",
        f"DROP TABLE IF EXISTS `old_local`{ON}",
    ]
    assert cluster_statements("DROP VIEW v_x", CLUSTER) == [f"DROP VIEW v_x{ON}"]


def test_keywords_inside_strings_and_comments_are_not_rewritten() -> None:
    sql = """CREATE MATERIALIZED VIEW m TO t AS
-- FROM nowhere
SELECT 'FROM x' AS a, extract(payload, 'FROM y') AS b, `from`
FROM (SELECT * FROM s WHERE k = 'TO z')"""
    (out,) = cluster_statements(sql, CLUSTER)
    assert out == sql.replace("m TO t", f"m{ON} TO t_local").replace("FROM s ", "FROM s_local ")


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("CREATE MATERIALIZED VIEW m ENGINE = MergeTree ORDER BY a AS SELECT a FROM s",
         "no TO table"),
        ("CREATE TABLE t (a UInt8) ENGINE = Memory", "no replicated form"),
        ("CREATE TABLE t (a UInt8) ENGINE = Null", "no uscc column"),
        ("CREATE TABLE t ON CLUSTER c (a UInt8) ENGINE = MergeTree ORDER BY a", "ON CLUSTER"),
        ("CREATE TABLE db.t (a UInt8) ENGINE = MergeTree ORDER BY a", "names a database"),
        ("ALTER TABLE t ADD COLUMN b UInt8, DELETE WHERE a = 1", "split it in two"),
        ("OPTIMIZE TABLE t FINAL", "no cluster form"),
        ("CREATE MATERIALIZED VIEW m TO t AS SELECT * FROM numbers(3)", "not a table"),
    ],
)  # fmt: skip
def test_what_cannot_be_distributed_is_refused_by_name(sql: str, says: str) -> None:
    with pytest.raises(ClusterDDLError, match=says):
        cluster_statements(sql, CLUSTER)


class _Recorder:
    """A client that records the DDL it is given (no server here)."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def command(self, sql: str, **_: object) -> None:
        self.commands.append(sql)

    def query(self, sql: str):
        return type("R", (), {"result_rows": []})()

    def insert(self, *args: object, **kwargs: object) -> None:
        pass


def test_the_runner_sends_the_single_node_ddl_unchanged_and_the_cluster_ddl_on_a_cluster() -> None:
    single = _Recorder()
    assert apply_migrations(single) == [m.version for m in MIGRATIONS]
    assert single.commands == [_LEDGER] + [s for m in MIGRATIONS for s in m.statements]
    clustered = _Recorder()
    apply_migrations(clustered, cluster=CLUSTER)
    assert clustered.commands == cluster_ddl(single.commands, CLUSTER)
    replicated = [s for s in clustered.commands if "ENGINE = Replicated" in s]
    distributed = [s for s in clustered.commands if "ENGINE = Distributed" in s]
    null_tables = [s for s in CREATE_TABLES if "ENGINE = Null" in s]
    assert len(replicated) == len(CREATE_TABLES) - len(null_tables)
    assert len(distributed) == len(CREATE_TABLES)


def test_the_cluster_setting_travels_in_the_dsn_and_chdb_refuses_it(tmp_path) -> None:
    settings = ClickHouseSettings(
        clickhouse_dsn="http://ch1:8123/creditsync", clickhouse_cluster="province"
    )
    assert settings.dsn() == "http://ch1:8123/creditsync?cluster=province"
    assert split_cluster(settings.dsn()) == ("http://ch1:8123/creditsync", "province")
    assert split_cluster("http://h:8123/db?a=1&cluster=c") == ("http://h:8123/db?a=1", "c")
    assert ClickHouseSettings(clickhouse_dsn="http://h:8123/db").dsn() == "http://h:8123/db"
    with pytest.raises(SinkError, match="needs servers"):
        connect_clickhouse(f"chdb://{tmp_path}?cluster=province", "creditsync")
