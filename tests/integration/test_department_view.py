"""A department's own view on the real broker, Redis and ClickHouse (issue #16): 对账 against
its declared count, a refusal in Chinese, the refused row downloaded, fixed, uploaded again
and closed; another department sees none of it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from creditsync.http import HttpDeps, create_http_app
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from sinks.clickhouse import connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityReader
from tests.intake_factory import enterprise_codes, publish, registration
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration

MARKET, TAX = "token-market-" + "m" * 20, "token-tax-" + "t" * 20
NUMBER, BAD_DATE_NUMBER = "宁市监罚〔2024〕7号", "宁市监罚〔2024〕8号"


def departments_file(path: Path) -> Path:
    entries = [
        ("scjg-640000", "宁夏回族自治区市场监督管理厅", MARKET, '["penalty", "registration"]'),
        ("sw-640000", "国家税务总局宁夏回族自治区税务局", TAX, '["restriction"]'),
    ]
    path.write_text("".join(
        f'[[departments]]\ncode = "{code}"\nname = "{name}"\n'
        f'token_sha256 = "{hash_token(token)}"\ncategories = {categories}\n\n'
        for code, name, token, categories in entries
    ), encoding="utf-8")  # fmt: skip
    return path


def penalty(code: str, number: str, decided_on: str = "2024-03-04") -> dict[str, str]:
    return {
        "subject_code": code, "subject_name": "宁夏己商贸有限公司",
        "penalising_authority": "宁夏回族自治区市场监督管理厅", "decision_number": number,
        "decided_on": decided_on, "violation_type": "虚假宣传", "penalty_kind": "罚款",
    }  # fmt: skip


@pytest.fixture
def client(pipeline, tmp_path, redis_client):
    intake = HttpIntake(
        departments=load_departments(departments_file(tmp_path / "departments.toml")),
        publisher=KafkaPublisher(pipeline.kafka),
        ledger=PublishedLedger(redis_client, pipeline.topic_prefix),
        topic_prefix=pipeline.topic_prefix,
    )

    def analytics(sql: str):
        # The worker run by run_until owns the same embedded ClickHouse in this process.
        ch = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
        return run_readonly_query(ch, sql)

    app = create_http_app(
        HttpDeps(reader=PublicityReader(redis_client), intake=intake, analytics=analytics)
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def get(client: TestClient, path: str, token: str = MARKET, **headers: str):
    return client.get(path, headers={"Authorization": f"Bearer {token}", **headers})


def test_refused_row_downloaded_fixed_uploaded_and_closed(pipeline, client):
    uscc = enterprise_codes(51)["uscc"]
    waiting = enterprise_codes(52)["registration_number"]  # never registered: parked
    publish(pipeline.bootstrap, [registration(51, "宁夏己商贸有限公司")], pipeline.topic_prefix)
    sent = client.post(
        "/v1/intake/penalty",
        json={"records": [penalty(uscc, NUMBER), penalty(uscc, BAD_DATE_NUMBER, "2024-02-30"),
                          penalty(waiting, "宁市监罚〔2024〕9号")], "declared_count": 4},
        headers={"Authorization": f"Bearer {MARKET}"},
    )  # fmt: skip
    assert sent.status_code == 200, sent.text
    refused = sent.json()["results"][1]
    assert refused["status"] == "rejected"
    # Chinese by default, naming the record, the field and what was expected.
    assert refused["message"].startswith("第 2 条记录：字段「作出行政处罚决定日期」"), refused
    assert "应为日期，如 2017-03-07" in refused["message"]

    def reconciled() -> bool:
        rows = get(client, "/v1/department/reconciliation?category=penalty").json().get("rows")
        return bool(rows) and rows[0]["published"] == 1 and rows[0]["parked"] == 1 \
            and rows[0]["refused"] == 1  # fmt: skip

    assert run_until(pipeline, reconciled)
    registrations = get(client, "/v1/department/reconciliation?category=registration").json()
    # Published without control totals: nothing declared, nothing to check against.
    assert registrations["rows"][0]["declared"] is None
    assert registrations["rows"][0]["unaccounted"] is None
    [row] = get(client, "/v1/department/reconciliation?category=penalty").json()["rows"]
    # The department declared 4, the intake received 3: a difference of −1, highlighted.
    assert (row["declared"], row["received"], row["published"], row["refused"],
            row["parked"], row["difference"], row["unaccounted"], row["mismatch"]) \
        == (4, 3, 1, 1, 1, -1, 0, True)  # fmt: skip

    [refusal] = get(client, "/v1/department/refusals").json()["rows"]
    assert refusal["status"] == "open" and refusal["record_key"] == BAD_DATE_NUMBER
    assert refusal["reason_text"].startswith(
        f"第 2 条记录（行政处罚决定书文号 {BAD_DATE_NUMBER}）：字段「作出行政处罚决定日期」的值"
        "「2024-02-30」不符合要求；应为日期"
    ), refusal["reason_text"]
    english = get(client, "/v1/department/refusals", **{"Accept-Language": "en"}).json()
    assert english["rows"][0]["reason_text"].startswith("record 2 (key 宁市监罚〔2024〕8号): field")
    [waits] = get(client, "/v1/department/parked").json()["rows"]
    assert waits["subject_code"] == waiting and waits["age_days"] == 0
    assert "尚无对应的企业登记信息" in waits["reason_text"]

    # Another department sees none of it: 404 for the refusal, 403 for the category.
    other = get(client, f"/v1/department/refusals/{refusal['rejection_id']}", token=TAX)
    assert other.status_code == 404 and "没有编号为" in other.json()["message"]
    assert get(client, "/v1/department/refusals", token=TAX).json()["rows"] == []
    assert get(client, "/v1/department/reconciliation", token=TAX).json()["rows"] == []
    denied = get(client, "/v1/department/refusals.xlsx?category=penalty", token=TAX)
    assert denied.status_code == 403 and "无权" in denied.json()["message"]
    assert client.get("/v1/department/refusals").status_code == 401
    assert get(client, f"/v1/department/refusals/{refusal['rejection_id']}").status_code == 200

    # Download in the national template, fix the date, upload again.
    download = get(client, "/v1/department/refusals.xlsx?category=penalty")
    assert download.status_code == 200
    book = load_workbook(io.BytesIO(download.content))
    sheet = book.active
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["行号", "错误字段", "错误值", "错误原因"]
    assert "作出行政处罚决定日期" in headers and "行政处罚决定书文号" in headers
    cells = {h: c for h, c in zip(headers, sheet[2], strict=True)}
    assert cells["行政处罚决定书文号"].value == BAD_DATE_NUMBER
    assert "应为日期" in cells["错误原因"].value
    cells["作出行政处罚决定日期"].value = "2024-02-29"
    fixed = io.BytesIO()
    book.save(fixed)
    for _ in range(2):  # the same file twice: the second publishes nothing new
        uploaded = client.post(
            "/v1/department/uploads?filename=更正.xlsx", content=fixed.getvalue(),
            headers={"Authorization": f"Bearer {MARKET}", "X-Declared-Count": "1"},
        )  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["already_published"] == 1 and uploaded.json()["rejected"] == 0

    def closed() -> bool:
        rows = get(client, "/v1/department/refusals?status=closed").json().get("rows") or []
        return len(rows) == 1

    assert run_until(pipeline, closed)
    assert get(client, "/v1/department/refusals").json()["rows"] == []
