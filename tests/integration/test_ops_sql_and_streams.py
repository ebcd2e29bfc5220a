"""`creditsync sql` on embedded ClickHouse, and `replay --stage streams` on the real broker."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from creditsync.cli import app
from creditsync.ops.kafka_read import read_all
from creditsync.ops.stream_reset import apply_stream_reset, plan_stream_reset
from schemas.kafka.config import client_config
from sinks.publicity import PublicityReader
from tests.intake_factory import enterprise_codes, license_, publish, registration
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration


def test_sql_prints_rows_and_refuses_writes_and_bad_queries(
    chdb_dsn, clickhouse_database, monkeypatch, tmp_path
):
    monkeypatch.setenv("CREDITSYNC_CLICKHOUSE_DSN", chdb_dsn)
    monkeypatch.setenv("CREDITSYNC_CLICKHOUSE_DATABASE", clickhouse_database)
    monkeypatch.setenv("CREDITSYNC_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def sql(query: str):
        return runner.invoke(app, ["sql", query], env={"COLUMNS": "200"})

    ok = sql("SELECT 41 + 1 AS answer, '宁夏' AS province")
    assert ok.exit_code == 0, ok.output
    assert "answer" in ok.output and "42" in ok.output and "宁夏" in ok.output
    assert "direct" in ok.output
    refused = sql("DROP DATABASE default")
    assert refused.exit_code == 2
    assert "DROP is not a read-only statement" in refused.output
    failed = sql("SELECT no_such_column FROM system.one")
    assert failed.exit_code == 1
    assert "no_such_column" in failed.output and "ClickHouse refused the query" in failed.output


def test_stream_reset_rederives_records_from_intake(pipeline, redis_client):
    a = enterprise_codes(61)
    publish(
        pipeline.bootstrap,
        [registration(61, "宁夏辛能源有限公司"), license_(a["uscc"], "JY16404220000061")],
        pipeline.topic_prefix,
    )
    reader = PublicityReader(redis_client)
    records = f"{pipeline.topic_prefix}credit.records"
    assert run_until(pipeline, lambda: bool((reader.profile(a["uscc"]) or {}).get("items")))
    first = len(read_all(pipeline.kafka, [records], "t"))
    group = f"{pipeline.topic_prefix}{pipeline.app_id}"

    plan = plan_stream_reset(pipeline.kafka, group, pipeline.topic_prefix, 0)
    assert plan.to_reprocess == 2
    assert f"{group}-registry-changelog" in plan.changelogs
    assert f"{group}-items-changelog" in plan.changelogs
    assert plan.generation == 1
    apply_stream_reset(pipeline.kafka, pipeline.topic_prefix, plan)
    remaining = AdminClient(client_config(pipeline.kafka)).list_topics(timeout=10)
    assert not set(plan.changelogs) & set(remaining.topics)

    # The workers re-read the intake with empty tables and derive the records again.
    def rederived() -> bool:
        return len(read_all(pipeline.kafka, [records], "t")) >= 2 * first

    assert run_until(pipeline, rederived), "the records were not derived again"
    assert len(read_all(pipeline.kafka, [records], "t")) == 2 * first

    # What the public sees is the re-derivation: its records carry generation 1 and were
    # applied over those derived before, not skipped as "not newer".
    def licence_versions() -> list[str]:
        items = (reader.profile(a["uscc"]) or {}).get("items") or {}
        return [item["version"] for item in items.get("license", [])]

    assert run_until(
        pipeline,
        lambda: licence_versions() and all(v.endswith(".000001") for v in licence_versions()),
    ), licence_versions()
