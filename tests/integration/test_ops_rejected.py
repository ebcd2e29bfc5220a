"""`creditsync rejected` and `creditsync status` on the real broker: dead letters with their
reasons, re-drive after a correction, and the open view; lag, parked records and notices."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from creditsync.cli import app
from creditsync.local import create_topics
from creditsync.ops.kafka_read import read_all
from creditsync.ops.rejected import read_dead_letters
from creditsync.ops.status import collect_status
from producers.departments import hash_token
from producers.events import build_intake_event
from producers.publisher import KafkaPublisher, rejection_record
from schemas.codec import decode_intake
from schemas.kafka.config import kafka_at
from schemas.topics import intake_topic, topic_specs
from tests.intake_factory import DEPARTMENT, enterprise_codes, penalty, publish, restriction
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration
NOW = dt.datetime(2024, 3, 8, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def cli(kafka_bootstrap, topic_prefix, monkeypatch, tmp_path):
    monkeypatch.setenv("CREDITSYNC_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("CREDITSYNC_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("CREDITSYNC_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env={"COLUMNS": "250"})

    return invoke


def refused_penalty(codes: dict, fine: str):
    fields = {
        "subject_code": codes["uscc"],
        "subject_name": "宁夏庚餐饮有限公司",
        "penalising_authority": "西吉县市场监督管理局",
        "decision_number": "西市监罚〔2024〕77号",
        "decided_on": "2024-03-04",
        "violation_type": "虚假宣传",
        "fine_amount": fine,
        "penalty_kind": "罚款",
    }
    rejection = build_intake_event("penalty", fields, DEPARTMENT, "spreadsheet/1", 1, NOW)
    assert not isinstance(rejection, dict), "the test record should be invalid"
    return fields, rejection


def test_rejected_list_show_and_redrive_after_a_correction(kafka_bootstrap, topic_prefix, cli):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(topic_prefix, partitions=1))
    codes = enterprise_codes(51)
    fields, rejection = refused_penalty(codes, "五千元")
    with KafkaPublisher(kafka_at(kafka_bootstrap)) as publisher:
        publisher.publish(
            [
                rejection_record(
                    rejection,
                    category="penalty",
                    department_code=DEPARTMENT["code"],
                    adapter="spreadsheet/1",
                    fields=fields,
                    topic_prefix=topic_prefix,
                )
            ]
        )

    # It is on credit.rejected with its reason headers.
    (letter,) = read_dead_letters(kafka_at(kafka_bootstrap), topic_prefix)
    assert (letter.stage, letter.reason_code, letter.field) == (
        "validate",
        "invalid_value",
        "fine_amount",
    )
    assert letter.id == f"{topic_prefix}credit.rejected:0:0"

    listed = cli("rejected", "list", "--reason", "invalid_value")
    assert listed.exit_code == 0, listed.output
    assert letter.id in listed.output and "fine_amount" in listed.output
    assert letter.id not in cli("rejected", "list", "--reason", "invalid_code").output

    shown = cli("rejected", "show", letter.id)
    assert shown.exit_code == 0, shown.output
    assert "五千元" in shown.output and "creditsync.reason_code" in shown.output
    missing = cli("rejected", "show", f"{topic_prefix}credit.rejected:0:99")
    assert missing.exit_code == 1 and "no such dead letter" in missing.output

    # Without a correction it is still rejected, says why, and stays open.
    still = cli("rejected", "redrive", letter.id)
    assert still.exit_code == 3, still.output
    assert "still rejected" in still.output
    assert letter.id in cli("rejected", "list").output

    # Where the deployment configured an operator token, a wrong one re-drives nothing.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CREDITSYNC_OPERATOR_TOKEN_SHA256", hash_token("the-operators-token"))
        env.setenv("CREDITSYNC_OPERATOR_TOKEN", "a-guess")
        refused = cli("rejected", "redrive", letter.id, "--set", "fine_amount=5000")
    assert refused.exit_code == 1 and "not the operator token" in refused.output
    assert not read_all(kafka_at(kafka_bootstrap), [intake_topic("penalty", topic_prefix)], "t0")

    # Corrected, it is published to its intake topic and leaves the open view.
    fixed = cli("rejected", "redrive", letter.id, "--set", "fine_amount=5000")
    assert fixed.exit_code == 0, fixed.output
    (published,) = read_all(kafka_at(kafka_bootstrap), [intake_topic("penalty", topic_prefix)], "t")
    event = decode_intake(published.value())
    assert str(event["payload"]["fine_amount"]) == "5000.00"
    assert event["subject"]["uscc"] == codes["uscc"]
    assert published.key() == codes["uscc"].encode()
    assert letter.id not in cli("rejected", "list").output
    history = cli("rejected", "list", "--all", "--json")
    (row,) = json.loads(history.output)
    assert (row["id"], row["redriven"]) == (letter.id, True)


def test_status_shows_lag_parked_records_rejections_and_open_notices(pipeline, redis_client, cli):
    a, unknown = enterprise_codes(52), enterprise_codes(53)
    publish(
        pipeline.bootstrap,
        [
            penalty(
                unknown["registration_number"], "西市监罚〔2024〕78号"
            ),  # parked: not registered
            restriction(a["uscc"]),  # notices to 税务局 and 住建局
        ],
        pipeline.topic_prefix,
    )

    def processed() -> bool:
        messages = read_all(pipeline.kafka, [f"{pipeline.topic_prefix}credit.parked"], "t")
        notices = [t for t in ("tax", "housing")]
        return (
            bool(messages)
            and len(
                read_all(
                    pipeline.kafka,
                    [f"{pipeline.topic_prefix}credit.notices.{d}" for d in notices],
                    "t",
                )
            )
            == 2
        )

    assert run_until(pipeline, processed), "the parked record or the notices never appeared"
    status = collect_status(pipeline.kafka, pipeline.topic_prefix, pipeline.app_id)
    group = f"{pipeline.topic_prefix}{pipeline.app_id}"
    # The stream stages' group, one group per sink (streams/runtime/sink_loop.py) and the
    # operations loop's, which the broker lists only if it committed before the stop.
    sink_groups = {f"{group}-sink-clickhouse", f"{group}-sink-publicity"}
    ours = {group, f"{group}-operations", *sink_groups}
    assert {group, *sink_groups} <= set(status.groups) <= ours, status.groups
    records_lag = [x for x in status.lag if x.topic == f"{pipeline.topic_prefix}credit.records"]
    assert {x.group for x in records_lag} == sink_groups, records_lag
    intake_lag = [
        x for x in status.lag if x.topic == intake_topic("penalty", pipeline.topic_prefix)
    ]
    # every partition is listed, also those the group never committed on
    assert [x.partition for x in intake_lag] == [0, 1, 2, 3]
    intake_lags = [x.lag for x in status.lag if ".credit.intake." in x.topic]
    assert sum(intake_lags) == 0, status.lag
    assert status.stage_counts["intake (credit.intake.*)"] == 2
    assert status.parked.waiting == 1 and status.parked.oldest_parked_at is not None
    assert sorted(n.department for n in status.notices) == ["住建局", "税务局"]
    assert all(n.age_days >= 0 and n.uscc == a["uscc"] for n in status.notices)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("CREDITSYNC_REDIS_URL", pipeline.redis_url)
        shown = cli("status", "--json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["parked"]["waiting"] == 1
    assert body["open_notices"]["count"] == 2
    assert len(body["open_notices"]["oldest"]) == 2
    listed = cli("notices", "list", "--json", "--department", "税务局")
    assert listed.exit_code == 0, listed.output
    assert [n["department"] for n in json.loads(listed.output)] == ["税务局"]
    # The operations loop's group shows lag rows once it has committed (after its first
    # batch); the stages' and the sinks' have by now.
    lag_groups = {row["group"] for row in body["lag"]}
    assert {group, *sink_groups} <= lag_groups <= {group, f"{group}-operations", *sink_groups}
