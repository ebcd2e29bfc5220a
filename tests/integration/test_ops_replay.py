"""`creditsync replay` on the real services: rebuilding both stores from credit.records gives
back exactly what the workers made, and a replay over intact stores changes nothing."""

from __future__ import annotations

import pytest

from creditsync.ops.replay import close_sinks, open_replay_sinks, replay_records
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from tests.intake_factory import (
    enterprise_codes,
    license_,
    penalty,
    publish,
    registration,
    restriction,
)
from tests.integration.helpers import run_until, sinks_caught_up

pytestmark = pytest.mark.integration

TABLES = ("records_raw", "entities", "license", "penalty", "restriction", "entity_names")


def snapshot_clickhouse(client, db: str) -> dict[str, list[tuple]]:
    """Every table after dedup (FINAL), as sorted rows of the columns a replay must restore."""
    out = {}
    for table in TABLES:
        rows = client.query(
            f"SELECT * EXCEPT (processed_at) FROM {db}.{table} FINAL"
            if table != "entity_names"
            else f"SELECT uscc, name, version_number FROM {db}.{table} FINAL"
        ).result_rows
        out[table] = sorted(map(repr, rows))
    return out


def replay(pipeline, *, dry_run=False, target=("clickhouse", "publicity"), **kw):
    sinks = open_replay_sinks(
        target,
        clickhouse_dsn=pipeline.clickhouse_dsn,
        database=pipeline.clickhouse_database,
        redis_url=pipeline.redis_url,
    )
    try:
        return replay_records(
            pipeline.kafka,
            pipeline.topic_prefix,
            sinks,
            start_ms=0,
            dry_run=dry_run,
            batch_size=3,
            **kw,
        )
    finally:
        close_sinks(sinks)


def test_replay_rebuilds_both_stores_and_over_intact_stores_changes_nothing(pipeline, redis_client):
    a, b = enterprise_codes(31), enterprise_codes(32)
    events = [
        registration(31, "宁夏丁物流有限公司"),
        registration(32, "宁夏戊农业专业合作社"),
        license_(a["uscc"], "JY16404220000031"),
        penalty(b["registration_number"], "西市监罚〔2024〕41号"),
        restriction(a["uscc"]),
        # a later version of the same licence: the replay must keep it, not the first
        license_(a["uscc"], "JY16404220000031", license_content="预包装食品销售；散装食品销售"),
    ]
    reader = PublicityReader(redis_client)
    # The registrations first: each category has its own intake topic, so otherwise the
    # licence may reach credit.records before its enterprise's registration — and the replay
    # keeps an enterprise's first record in the range (it fills the identity), which would
    # then be licence v1 and change the counts below.
    publish(pipeline.bootstrap, events[:2], pipeline.topic_prefix)
    assert run_until(pipeline, lambda: all(reader.profile(c["uscc"]) for c in (a, b)))
    publish(pipeline.bootstrap, events[2:], pipeline.topic_prefix)
    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database

    def all_there() -> bool:
        pa, pb = reader.profile(a["uscc"]) or {}, reader.profile(b["uscc"]) or {}
        licence = (pa.get("items", {}).get("license") or [{}])[0]
        if not (
            "散装" in str(licence)
            and pa["items"].get("restriction")
            and pb.get("items", {}).get("penalty")
        ):
            return False
        # Redis has them, so the sinks are set up and ClickHouse's tables exist.
        raw = client.query(f"SELECT count() FROM {db}.records_raw FINAL").result_rows[0][0]
        # And both sinks committed to the end of credit.records: the ClickHouse sink gathers
        # records for a few seconds, so rows seen so far may not be all of them.
        return raw >= len(events) and sinks_caught_up(pipeline)

    assert run_until(pipeline, all_there), "the pipeline never made both stores complete"
    profiles = {code: reader.profile(code) for code in (a["uscc"], b["uscc"])}
    tables = snapshot_clickhouse(client, db)
    stats = reader.index_stats()

    # Over intact stores: publicity applies nothing, a dry run would change nothing.
    preview = replay(pipeline, dry_run=True)
    assert preview.read == preview.selected >= len(events)
    assert preview.sinks["publicity"].applied == 0
    assert preview.items_changed == {"clickhouse": 0, "publicity": 0}
    again = replay(pipeline)
    publicity = again.sinks["publicity"]
    assert publicity.applied == 0
    # licence v1 is left out (collapsed): v2 of the same item is in the range.
    assert publicity.collapsed == 1
    assert (
        publicity.skipped_not_newer + publicity.not_applicable + publicity.collapsed == again.read
    )
    assert snapshot_clickhouse(client, db) == tables
    assert {c: reader.profile(c) for c in profiles} == profiles

    # Lose both stores, preview, then replay: the same profiles and the same rows.
    redis_client.flushdb()
    client.command(f"DROP DATABASE {db}")
    client.close()
    lost = replay(pipeline, dry_run=True, target=("publicity",))
    assert lost.sinks["publicity"].applied > 0
    assert lost.items_changed["publicity"] == lost.sinks["publicity"].applied - 1  # licence v1→v2
    assert reader.profile(a["uscc"]) is None, "a dry run wrote to Redis"
    rebuilt = replay(pipeline)
    # One write per item that changes: the licence's v1 is collapsed into v2.
    assert rebuilt.sinks["publicity"].applied == lost.items_changed["publicity"]
    assert rebuilt.sinks["publicity"].collapsed == 1
    assert rebuilt.sinks["clickhouse"].applied == rebuilt.read
    assert {c: reader.profile(c) for c in profiles} == profiles
    assert reader.index_stats()["enterprises"] == stats["enterprises"]
    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    try:
        assert snapshot_clickhouse(client, db) == tables
    finally:
        client.close()


def test_replay_selects_by_department_and_category_and_time(pipeline, redis_client):
    a = enterprise_codes(33)
    publish(
        pipeline.bootstrap,
        [registration(33, "宁夏己科技有限公司"), license_(a["uscc"], "JY16404220000033")],
        pipeline.topic_prefix,
    )
    reader = PublicityReader(redis_client)
    assert run_until(pipeline, lambda: bool((reader.profile(a["uscc"]) or {}).get("items")))
    redis_client.flushdb()
    only_licences = replay(pipeline, target=("publicity",), category="license")
    assert only_licences.selected == 1
    assert only_licences.sinks["publicity"].applied == 1
    other_department = replay(pipeline, target=("publicity",), department="tax-640000")
    assert other_department.selected == 0
    import time

    later = replay_records_from(pipeline, start_ms=int(time.time() * 1000) + 3_600_000)
    assert later.to_read == 0


def replay_records_from(pipeline, start_ms):
    return replay_records(pipeline.kafka, pipeline.topic_prefix, {}, start_ms=start_ms)
