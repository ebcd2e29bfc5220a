"""Ownership on the real broker, Redis and ClickHouse (issue #13): the tax bureau cannot rewrite
or withdraw the market regulator's penalty; an operator's reassignment lets a successor."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditsync.cli import app as cli_app
from creditsync.http import HttpDeps, create_http_app
from creditsync.ops.rejected import read_dead_letters
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.ownership_check import OwnershipPrecheck
from producers.publisher import KafkaPublisher
from schemas.topics import OWNERSHIP
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from streams.runtime.ownership_log import OwnershipLog
from tests.intake_factory import enterprise_codes, publish, registration
from tests.integration.helpers import count, run_until

pytestmark = [pytest.mark.integration, pytest.mark.security]

MARKET, TAX, MERGED = ("token-market-" + "m" * 20, "token-tax-" + "t" * 20,
                       "token-merged-" + "n" * 20)  # fmt: skip
NUMBER = "宁市监罚〔2024〕88号"


def departments_file(path: Path) -> Path:
    entries = [
        ("scjg-640000", "宁夏回族自治区市场监督管理厅", MARKET),
        ("sw-640000", "国家税务总局宁夏回族自治区税务局", TAX),
        ("scjg-merged", "合并后的市场监督管理部门", MERGED),
    ]
    path.write_text(
        "".join(
            f'[[departments]]\ncode = "{code}"\nname = "{name}"\n'
            f'token_sha256 = "{hash_token(token)}"\n'
            'categories = ["penalty", "penalty_change"]\n\n'
            for code, name, token in entries
        ),
        encoding="utf-8",
    )
    return path


def penalty(uscc: str, fine: str, **extra: str) -> dict[str, str]:
    return {
        "subject_code": uscc,
        "subject_name": "宁夏戊商贸有限公司",
        "penalising_authority": "宁夏回族自治区市场监督管理厅",
        "decision_number": NUMBER,
        "decided_on": "2024-03-01",
        "violation_type": "虚假宣传",
        "fine_amount": fine,
        "penalty_kind": "罚款",
        **extra,
    }


@pytest.fixture
def client(pipeline, tmp_path, redis_client):
    owners = OwnershipLog(pipeline.kafka, pipeline.topic(OWNERSHIP))
    intake = HttpIntake(
        departments=load_departments(departments_file(tmp_path / "departments.toml")),
        publisher=KafkaPublisher(pipeline.kafka),
        ledger=PublishedLedger(redis_client, pipeline.topic_prefix),
        topic_prefix=pipeline.topic_prefix,
        ownership=OwnershipPrecheck(PublicityReader(redis_client), owners),
    )
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client), intake=intake))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def send(client: TestClient, token: str, *records: dict[str, str]) -> list[dict]:
    response = client.post("/v1/intake/penalty", json={"records": list(records)},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code in (200, 422), response.text
    return response.json()["results"]


def shown_penalty(reader: PublicityReader, uscc: str) -> dict | None:
    items = (reader.profile(uscc) or {}).get("items", {}).get("penalty") or []
    return items[0] if items else None


def test_tax_bureau_cannot_rewrite_or_withdraw_the_market_regulators_penalty(
    pipeline, client, redis_client, tmp_path
):
    uscc = enterprise_codes(41)["uscc"]
    publish(pipeline.bootstrap, [registration(41, "宁夏戊商贸有限公司")], pipeline.topic_prefix)
    reader = PublicityReader(redis_client)
    [owned] = send(client, MARKET, penalty(uscc, "88888.00"))
    assert owned["status"] == "accepted"
    # Before the item is public the pre-check cannot know its owner: this one slips past.
    [slipped] = send(client, TAX, penalty(uscc, "1.00"))
    assert slipped["status"] == "accepted", slipped

    def not_owner_letters() -> list:
        letters = read_dead_letters(pipeline.kafka, pipeline.topic_prefix)
        return [dl for dl in letters if dl.reason_code == "not_owner"]

    assert run_until(pipeline, lambda: shown_penalty(reader, uscc) is not None
                     and bool(not_owner_letters()))  # fmt: skip
    item = shown_penalty(reader, uscc)
    assert item["payload"]["fine_amount"] == "88888.00"
    assert item["department"]["code"] == "scjg-640000"

    # The stage refused the record that slipped past, with the reason and the owner.
    [letter] = not_owner_letters()
    assert letter.event_id == slipped["event_id"] and letter.department == "sw-640000"
    assert letter.stage == "items"
    message = letter.message
    assert NUMBER in message and "scjg-640000（宁夏回族自治区市场监督管理厅）" in message

    # Now the item is public: the HTTP answer refuses per record, naming the owner.
    rewrite, withdraw = send(
        client, TAX, penalty(uscc, "1.00", remarks="改"), penalty(uscc, "1.00", operation="撤销")
    )
    for result in (rewrite, withdraw):
        assert result["status"] == "rejected" and result["reason_code"] == "not_owner", result
        assert "scjg-640000（宁夏回族自治区市场监督管理厅）" in result["reason"]
        assert NUMBER in result["reason"] and "sw-640000" in result["reason"]
    assert "无权撤销" in withdraw["reason"] and "无权修改" in rewrite["reason"]

    # Counted on the dashboard: the refusals are rows of the rejections view.
    def counted() -> bool:
        clickhouse = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
        return count(clickhouse, pipeline.clickhouse_database,
                     "SELECT sum(rejected) FROM {db}.v_rejections_by_reason "
                     "WHERE reason_code = 'not_owner'") >= 3  # fmt: skip

    assert run_until(pipeline, counted)
    item = shown_penalty(reader, uscc)
    assert item["payload"]["fine_amount"] == "88888.00"
    assert item["department"]["code"] == "scjg-640000"

    # The merged regulator takes over once an operator reassigns the items.
    env = {
        "CREDITSYNC_KAFKA_BOOTSTRAP": pipeline.bootstrap,
        "CREDITSYNC_TOPIC_PREFIX": pipeline.topic_prefix,
        "CREDITSYNC_DATA_DIR": str(tmp_path / "operator"),
        "CREDITSYNC_DEPARTMENTS_FILE": str(tmp_path / "departments.toml"),
    }
    [before] = send(client, MERGED, penalty(uscc, "66.00"))
    assert before["reason_code"] == "not_owner", before
    runner = CliRunner()
    result = runner.invoke(cli_app, ["owner", "reassign", "--from", "scjg-640000", "--to",
                                     "scjg-merged", "--reason", "机构合并"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli_app, ["owner", "list", "--json"], env=env)
    assert '"to": "scjg-merged"' in listed.stdout and "机构合并" in listed.stdout
    [after] = send(client, MERGED, penalty(uscc, "66.00", remarks="合并后更正"))
    assert after["status"] == "accepted", after

    def taken_over() -> bool:
        item = shown_penalty(reader, uscc)
        return item is not None and item["department"]["code"] == "scjg-merged"

    assert run_until(pipeline, taken_over)
    assert shown_penalty(reader, uscc)["payload"]["fine_amount"] == "66.00"
    # The former owner is now refused too.
    [old] = send(client, MARKET, penalty(uscc, "5.00"))
    assert old["reason_code"] == "not_owner" and "scjg-merged" in old["reason"]
