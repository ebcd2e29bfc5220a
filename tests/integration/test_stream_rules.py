"""The rules of streams/ on the real broker: legacy codes, conflicts, changes before their
originals, objections, joint-punishment notices and expiry by timer (controllable clock)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from confluent_kafka import Consumer

from schemas.kafka.config import client_config, kafka_at
from schemas.topics import QUALITY, notices_topic
from sinks.publicity import PublicityReader
from tests.intake_factory import (
    enterprise_codes,
    intake,
    license_,
    penalty,
    publish,
    registration,
    restriction,
)
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration


def read_topic(bootstrap: str, topic: str, group: str, expected: int) -> list[dict]:
    consumer = Consumer(
        client_config(kafka_at(bootstrap), group_id=group, auto_offset_reset="earliest")
    )
    consumer.subscribe([topic])
    found: list[dict] = []
    try:
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(json.loads(msg.value()))
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


class Clock:
    """The worker's clock, moved by the test (expiry must happen without a new event)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_rules_of_publication(pipeline, redis_client):
    from dataclasses import replace

    clock = Clock(dt.datetime(2024, 3, 9, 2, 0, tzinfo=dt.UTC))
    config = replace(pipeline, clock=clock, expiry_check_seconds=0.5)
    c, d = enterprise_codes(11), enterprise_codes(12)
    change = intake(
        "license_change",
        {
            "subject_code": c["uscc"],
            "license_number": "JY1640422000011",
            "change_item": "有效期至",
            "content_before": "2029-02-28",
            "content_after": "2030-12-31",
            "changed_on": "2024-03-06",
        },
    )
    objection = intake(
        "objection",
        {
            "subject_code": c["uscc"],
            "target_category": "penalty",
            "target_record_key": "宁市监罚〔2024〕7号",
            "objection_status": "open",
            "reason": "处罚对象有误",
            "filed_on": "2024-03-07",
        },
    )
    events = [
        registration(11, "宁夏丙建材有限公司"),
        # The change comes before the licence it changes.
        change,
        license_(c["uscc"], "JY1640422000011"),
        # Known only by its organisation code.
        penalty(c["organisation_code"], "宁市监罚〔2024〕7号"),
        objection,
        restriction(c["uscc"], restricted_to="2024-03-10"),
        # D's registration claims C's registration number: a data-quality finding.
        registration(12, "宁夏丁商贸有限公司", registration_number=c["registration_number"]),
    ]
    publish(config.bootstrap, events, config.topic_prefix)
    reader = PublicityReader(redis_client)

    def settled() -> bool:
        items = (reader.profile(c["uscc"]) or {}).get("items", {})
        return bool(items.get("license") and items.get("penalty") and items.get("restriction"))

    assert run_until(config, settled)
    profile = reader.profile(c["organisation_code"])
    licence = profile["items"]["license"][0]
    assert licence["payload"]["valid_to"] == "2030-12-31", "the early change was not applied"
    assert profile["items"]["penalty"][0]["status"] == "under_review"
    assert profile["items"]["restriction"][0]["payload"]["id_document_number_masked"] == (
        "640422********123X"
    )

    # The licence and the restriction name C "测试企业", not its registered name: up to two
    # one-code-two-names findings (when they come after C's registration) beside the
    # registration number D claims; read them all.
    quality = read_topic(config.bootstrap, config.topic(QUALITY), f"{config.topic_prefix}q", 3)
    assert any(
        q.get("code") == c["registration_number"] and q.get("other_uscc") == d["uscc"]
        for q in quality
    ), quality
    for department in ("税务局", "住建局"):
        from streams.rules.notices import department_code

        topic = notices_topic(department_code(department), config.topic_prefix)
        notices = read_topic(config.bootstrap, topic, f"{config.topic_prefix}n{department}", 1)
        assert [n["stage"] for n in notices] == ["initiated"]
        assert notices[0]["uscc"] == c["uscc"]

    # Two days later the restriction's period (限制期限至 2024-03-10) has passed: a timer
    # takes it out of the public view without any new event.
    clock.now = dt.datetime(2024, 3, 11, 2, 0, tzinfo=dt.UTC)

    def expired() -> bool:
        items = (reader.profile(c["uscc"]) or {}).get("items", {})
        return "restriction" not in items

    assert run_until(config, expired, timeout=60)
    assert reader.profile(c["uscc"])["items"]["license"], "expiry must not touch other items"
