"""End to end on the real services: intake topics -> streams -> ClickHouse and Redis.

Each test has its own topic prefix, consumer group and ClickHouse database; the worker runs
in-process and stops when what a user would see is there (or a hard timeout passes).
"""

from __future__ import annotations

import json

import pytest

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
from tests.integration.helpers import count, run_until, sinks_caught_up

pytestmark = pytest.mark.integration


def test_records_reach_both_stores_once_and_legacy_codes_resolve(pipeline, redis_client):
    a, b = enterprise_codes(1), enterprise_codes(2)
    events = [
        registration(1, "宁夏甲商贸有限公司"),
        license_(a["uscc"], "JY16404220000001"),
        # B is known only by its registration number, and registers after the penalty.
        penalty(b["registration_number"], "西市监罚〔2024〕12号"),
        restriction(a["uscc"]),
    ]
    publish(pipeline.bootstrap, events, pipeline.topic_prefix)
    reader = PublicityReader(redis_client)

    def b_visible() -> bool:
        profile = reader.profile(b["uscc"])
        return bool(profile and profile.get("items", {}).get("penalty"))

    # B's penalty is parked: it cannot be visible before B's registration arrives.
    def a_complete() -> bool:
        profile = reader.profile(a["uscc"])
        items = (profile or {}).get("items", {})
        return bool(items.get("license") and items.get("restriction"))

    assert run_until(pipeline, a_complete), "A's licence and restriction never became visible"
    assert not b_visible()

    publish(pipeline.bootstrap, [registration(2, "宁夏乙餐饮有限公司")], pipeline.topic_prefix)
    # The index shows a record as soon as it arrives; ClickHouse takes it in its next
    # insert (once a second): wait for both sinks to have committed everything.
    assert run_until(pipeline, lambda: b_visible() and sinks_caught_up(pipeline)), (
        "B's parked penalty was not released"
    )

    profile_b = reader.profile(b["registration_number"])
    assert profile_b["name"] == "宁夏乙餐饮有限公司"
    assert profile_b["codes"]["uscc"] == b["uscc"]
    profile_a = reader.profile(a["uscc"])
    assert "64042219800101123X" not in json.dumps(profile_a, ensure_ascii=False)

    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database
    assert count(client, db, "SELECT count() FROM {db}.license FINAL") == 1
    assert count(client, db, "SELECT count() FROM {db}.penalty FINAL") == 1

    # A second run over the same topics with the same group re-applies nothing new.
    publish(pipeline.bootstrap, [license_(a["uscc"], "JY16404220000002")], pipeline.topic_prefix)

    def second_licence() -> bool:
        return count(client, db, "SELECT count() FROM {db}.license FINAL") == 2

    assert run_until(pipeline, second_licence)
    assert count(client, db, "SELECT count() FROM {db}.penalty FINAL") == 1
    assert count(client, db, "SELECT count() FROM {db}.penalty") == 1
