"""Joint punishment end to end and 查错查重 on the real broker, Redis and ClickHouse (issue #16):
a restriction's notices listed for the receiving department, checked at the point of decision
(a recorded 响应), answered over HTTP (反馈), refused for unknown or others' notices, ended by
credit repair; findings listed for the registering department only."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from creditsync.http import HttpDeps, create_http_app
from creditsync.ops.rejected import read_dead_letters
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from sinks.clickhouse import connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityReader
from streams.rules.notices import notice_id
from tests.intake_factory import enterprise_codes, intake, publish, registration, restriction
from tests.integration.helpers import count, run_until

pytestmark = [pytest.mark.integration, pytest.mark.security]

MARKET, TAX, COURT = ("token-market-" + "m" * 20, "token-tax-" + "t" * 20,
                      "token-court-" + "c" * 20)  # fmt: skip
TAX_DEPT = {"code": "sw-640000", "name": "国家税务总局宁夏回族自治区税务局"}


def departments_file(path: Path) -> Path:
    entries = [
        ("scjg-640000", "宁夏回族自治区市场监督管理厅", MARKET, '"registration", "restriction"'),
        ("sw-640000", TAX_DEPT["name"], TAX, '"notice_feedback"'),
        ("fy-640000", "宁夏回族自治区高级人民法院", COURT, '"notice_feedback"'),
    ]
    path.write_text(
        "".join(
            f'[[departments]]\ncode = "{code}"\nname = "{name}"\n'
            f'token_sha256 = "{hash_token(token)}"\ncategories = [{categories}]\n\n'
            for code, name, token, categories in entries
        ),
        encoding="utf-8",
    )
    return path


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def stores(pipeline, tmp_path, redis_client):
    clickhouse = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    intake_handler = HttpIntake(
        departments=load_departments(departments_file(tmp_path / "departments.toml")),
        publisher=KafkaPublisher(pipeline.kafka),
        ledger=PublishedLedger(redis_client, pipeline.topic_prefix),
        topic_prefix=pipeline.topic_prefix,
    )
    app = create_http_app(
        HttpDeps(
            reader=PublicityReader(redis_client),
            intake=intake_handler,
            analytics=functools.partial(run_readonly_query, clickhouse),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, clickhouse


def test_a_notice_is_listed_checked_answered_refused_to_others_and_ended(pipeline, stores):
    client, clickhouse = stores
    db = pipeline.clickhouse_database
    codes = enterprise_codes(61)
    uscc = codes["uscc"]
    restricted = restriction(uscc, subject_name="宁夏庚商贸有限公司")
    publish(
        pipeline.bootstrap,
        [registration(61, "宁夏庚商贸有限公司"), restricted],
        pipeline.topic_prefix,
    )
    item = f"restriction:{restricted['record_key']}"
    tax_notice = notice_id(uscc, item, "税务局")

    def notices_stored(sql: str, n: int = 2):
        return lambda: count(clickhouse, db, sql) >= n

    assert run_until(pipeline, notices_stored("SELECT count() FROM {db}.notices FINAL"))

    # The tax bureau sees its notice with the restriction, measures expected and deadline.
    listed = client.get("/v1/department/notices", headers=auth(TAX))
    assert listed.status_code == 200, listed.text
    [notice] = listed.json()["notices"]
    assert notice["notice_id"] == tax_notice
    assert notice["restricted_to"] == "2027-02-28" and notice["stage"] == "initiated"
    assert notice["measures_expected"].startswith("纳税信用评价从严")
    assert notice["deadline"] and notice["legal_basis"] == "《企业信息公示暂行条例》第十八条"

    # The court was sent nothing: it sees no notice, and may not read or answer the tax one.
    assert client.get("/v1/department/notices", headers=auth(COURT)).json()["notices"] == []
    other = client.get(f"/v1/department/notices/{tax_notice}", headers=auth(COURT))
    assert other.status_code == 403 and "不是本部门" in other.json()["message"]
    answered_by_court = client.post(
        f"/v1/department/notices/{tax_notice}/feedback",
        json={"stage": "反馈", "measures": "限制高消费"},
        headers=auth(COURT),
    )
    assert answered_by_court.status_code == 403, answered_by_court.text
    unknown = client.post(
        "/v1/department/notices/00000000-0000-5000-8000-000000000000/feedback",
        json={"stage": "响应"},
        headers=auth(TAX),
    )
    assert unknown.status_code == 404 and "不存在" in unknown.json()["message"]
    assert client.get("/v1/department/notices", headers=auth("wrong-token")).status_code == 401

    # The check at the point of decision: the restriction in force, recorded as a 响应.
    check = client.get(f"/v1/department/check/{uscc}?purpose=tender", headers=auth(TAX))
    assert check.status_code == 200, check.text
    body = check.json()
    assert body["restricted"] is True
    assert [r["notice_id"] for r in body["restrictions"]] == [tax_notice]
    assert body["recorded_responses"][0]["status"] == "accepted"
    court_check = client.get(f"/v1/department/check/{uscc}", headers=auth(COURT)).json()
    assert court_check["restricted"] is False and court_check["recorded_responses"] == []

    stage_sql = f"SELECT stage FROM {{db}}.notices FINAL WHERE notice_id = '{tax_notice}'"

    def stage_is(stage: str):
        return lambda: clickhouse.query(stage_sql.replace("{db}", db)).result_rows == [(stage,)]

    assert run_until(pipeline, stage_is("responded"))

    # 反馈 over HTTP: the measures taken.
    fed_back = client.post(
        f"/v1/department/notices/{tax_notice}/feedback",
        json={"stage": "fed_back", "measures": "纳税信用级别降为D级", "feedback_on": "2024-03-20"},
        headers=auth(TAX),
    )
    assert fed_back.status_code == 202, fed_back.text
    assert run_until(pipeline, stage_is("fed_back"))
    shown = client.get(f"/v1/department/notices/{tax_notice}", headers=auth(TAX)).json()
    assert (shown["stage"], shown["measures"]) == ("fed_back", "纳税信用级别降为D级")

    # Feedback in a file for a notice never sent is dead-lettered with a Chinese reason.
    stray = intake(
        "notice_feedback",
        {"subject_code": uscc, "notice_id": "no-such-notice",
         "receiving_department": TAX_DEPT["name"], "feedback_stage": "反馈",
         "measures": "x", "feedback_on": "2024-03-20"},
        department=TAX_DEPT,
    )  # fmt: skip
    publish(pipeline.bootstrap, [stray], pipeline.topic_prefix)

    def stray_refused() -> list:
        letters = read_dead_letters(pipeline.kafka, pipeline.topic_prefix)
        return [dl for dl in letters if dl.event_id == stray["event_id"]]

    assert run_until(pipeline, lambda: bool(stray_refused()))
    [letter] = stray_refused()
    assert "通知编号" in letter.message and "不存在" in letter.message

    # Credit repair takes the restriction out of the public view: its notices end.
    repair = intake(
        "credit_repair",
        {"subject_code": uscc, "target_category": "restriction",
         "target_record_key": restricted["record_key"], "repaired_on": "2024-03-25",
         "repairing_authority": "宁夏回族自治区市场监督管理厅"},
    )  # fmt: skip
    publish(pipeline.bootstrap, [repair], pipeline.topic_prefix)
    assert run_until(
        pipeline,
        notices_stored("SELECT count() FROM {db}.notices FINAL WHERE ended_reason = '已信用修复'"),
    )
    ended = client.get(f"/v1/department/notices/{tax_notice}", headers=auth(TAX)).json()
    assert ended["ended_on"] and ended["stage"] == "fed_back"
    assert client.get("/v1/department/notices?open=true", headers=auth(TAX)).json()["count"] == 0


def test_findings_are_listed_for_the_registering_department_only(pipeline, stores):
    client, clickhouse = stores
    db = pipeline.clickhouse_database
    first, second = enterprise_codes(71), enterprise_codes(72)
    publish(
        pipeline.bootstrap,
        [
            registration(71, "宁夏辛建材有限公司"),
            # Another USCC under the same name: likely one enterprise registered twice.
            registration(72, "宁夏辛建材有限公司"),
        ],
        pipeline.topic_prefix,
    )

    def found(n: int):
        return lambda: count(clickhouse, db, "SELECT count() FROM {db}.v_findings") >= n

    # The registrations first: intake topics are read in no fixed order between them, and a
    # record can only be found to name its USCC wrongly once that USCC's name is known.
    assert run_until(pipeline, found(1))
    # A record naming the first USCC by another enterprise's name.
    restricted = restriction(first["uscc"], subject_name="固原市壬化工有限公司")
    publish(pipeline.bootstrap, [restricted], pipeline.topic_prefix)
    assert run_until(pipeline, found(2))
    listed = client.get("/v1/department/findings", headers=auth(MARKET))
    assert listed.status_code == 200, listed.text
    by_reason = {f["reason"]: f for f in listed.json()["findings"]}
    twice = by_reason["one_name_two_codes"]
    assert {twice["uscc"], twice["other_uscc"]} == {first["uscc"], second["uscc"]}
    assert twice["status"] == "open" and twice["reason_text"].startswith("一个名称、两个代码")
    named = by_reason["one_code_two_names"]
    assert named["uscc"] == first["uscc"] and "固原市壬化工有限公司" in named["detail"]
    # The tax bureau registered nothing: it sees none of the market regulator's findings.
    assert client.get("/v1/department/findings", headers=auth(TAX)).json()["findings"] == []

    # The second enterprise re-registered under its own name: its finding is resolved.
    publish(pipeline.bootstrap, [registration(72, "宁夏辛建材二厂有限公司")], pipeline.topic_prefix)

    resolved_sql = (
        "SELECT count() FROM {db}.v_findings "
        "WHERE reason = 'one_name_two_codes' AND status = 'resolved'"
    )

    def resolved() -> bool:
        return count(clickhouse, db, resolved_sql) == 1

    assert run_until(pipeline, resolved)
    view = client.get("/v1/analytics/views/findings_by_reason").json()
    assert ["scjg-640000", "one_name_two_codes", "resolved", 1] in [r[:4] for r in view["rows"]]
