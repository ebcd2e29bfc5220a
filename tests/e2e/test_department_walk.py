"""A department's walk through its page in headless chromium (issue #16): a refused row with
its Chinese reason, downloaded as XLSX, fixed, uploaded again through the page and shown
closed once the worker has processed it; the joint-punishment notices of a receiving
department. Real broker, Redis and ClickHouse (chdb); chromium over the DevTools protocol.

The login goes through the page's own form (token typed, 进入 clicked); the XLSX is the file
chromium saved when the page's download button was clicked (Browser.setDownloadBehavior);
the corrected file is chosen in the upload form's file input (DOM.setFileInputFiles)."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from openpyxl import load_workbook

from creditsync.http import HttpDeps, create_http_app
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from sinks.clickhouse import connect_clickhouse, run_readonly_query
from sinks.publicity import PublicityReader
from tests.e2e.cdp import Chromium, Page
from tests.intake_factory import enterprise_codes, publish, registration, restriction
from tests.integration import conftest as integration
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MARKET, TAX = "token-market-" + "m" * 20, "token-tax-" + "t" * 20
NAME = "宁夏辛商贸有限公司"
BAD_NUMBER = "宁市监罚〔2024〕18号"
# The refusals table as the user reads it: the text of each cell, row by row.
ROW_CELLS = ("[...document.querySelectorAll('#panel-refusals tbody tr')]"
             ".map((tr) => [...tr.cells].map((td) => td.innerText))")  # fmt: skip
pipeline = integration.pipeline  # the worker configuration of the integration tests


def departments_file(path: Path) -> Path:
    entries = [
        ("scjg-640000", "宁夏回族自治区市场监督管理厅", MARKET,
         '"penalty", "registration", "restriction"'),
        ("sw-640000", "国家税务总局宁夏回族自治区税务局", TAX, '"notice_feedback"'),
    ]  # fmt: skip
    path.write_text("".join(
        f'[[departments]]\ncode = "{code}"\nname = "{name}"\n'
        f'token_sha256 = "{hash_token(token)}"\ncategories = [{categories}]\n\n'
        for code, name, token, categories in entries
    ), encoding="utf-8")  # fmt: skip
    return path


@pytest.fixture
def server(pipeline, tmp_path, redis_client) -> Iterator[str]:
    """The HTTP app (intake, department routes, pages) served by uvicorn in a thread."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    publisher = KafkaPublisher(pipeline.kafka)
    intake = HttpIntake(
        departments=load_departments(departments_file(tmp_path / "departments.toml")),
        publisher=publisher,
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
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue here until uvicorn accepts them
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()
        publisher.close()
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def browser(server, tmp_path) -> Iterator[Chromium]:
    chromium = Chromium(CHROMIUM, tmp_path)  # type: ignore[arg-type]
    try:
        yield chromium
    finally:
        chromium.close()
    refused = chromium.csp_refusals()
    assert not refused, "\n".join(refused[:5])


def api(server: str, path: str, token: str = MARKET) -> dict:
    answer = httpx.get(f"{server}{path}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def log_in(page: Page, server: str, token: str, department_name: str) -> None:
    """Open /department and log in through its form, as a person would."""
    page.goto(f"{server}/department")
    page.wait_text("请输入本部门的报送令牌", "#who")
    page.type_into("#token", token)
    page.click("#login button[type=submit]")
    page.wait_text(department_name, "#who")
    page.wait_for("document.body.dataset.ready === 'true'", "the page's panels loaded")


def test_refused_row_downloaded_fixed_uploaded_and_closed(pipeline, server, browser, tmp_path):
    uscc = enterprise_codes(71)["uscc"]
    publish(pipeline.bootstrap, [registration(71, NAME)], pipeline.topic_prefix)
    bad = {
        "subject_code": uscc, "subject_name": NAME,
        "penalising_authority": "宁夏回族自治区市场监督管理厅", "decision_number": BAD_NUMBER,
        "decided_on": "2024-02-30", "violation_type": "虚假宣传", "penalty_kind": "罚款",
    }  # fmt: skip
    sent = httpx.post(f"{server}/v1/intake/penalty", json={"records": [bad]},
                      headers={"Authorization": f"Bearer {MARKET}"})  # fmt: skip
    assert sent.status_code == 422, sent.text  # every record of the request refused
    assert sent.json()["results"][0]["status"] == "rejected"

    def refusal_stored() -> bool:
        return bool(api(server, "/v1/department/refusals")["rows"])

    assert run_until(pipeline, refusal_stored)

    page = browser.page()
    log_in(page, server, MARKET, "宁夏回族自治区市场监督管理厅（scjg-640000）")
    refusals = page.wait_text(BAD_NUMBER, "#panel-refusals tbody")
    # One row: its category, the record, the field and a reason in Chinese that names the
    # record, the field, the value and what was expected; open (待更正).
    [row] = page.evaluate(ROW_CELLS)
    assert row[:3] == ["行政处罚", "第 1 条记录", "作出行政处罚决定日期"], row
    assert row[3].startswith(f"第 1 条记录（行政处罚决定书文号 {BAD_NUMBER}）：字段「作出行政处罚"
                             "决定日期」的值「2024-02-30」不符合要求；应为日期"), refusals
    assert row[5] == "待更正"
    assert "下载「行政处罚」退回记录（XLSX）" in page.text("#downloads")
    assert "尚无报送记录" not in page.text("#panel-reconciliation")

    # Download through the page's button: chromium saves the XLSX the page fetched.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    page.download_to(downloads)
    page.click("#downloads button.download")
    begun = browser.wait_event("Browser.downloadWillBegin")
    assert begun["suggestedFilename"] == "scjg-640000-penalty-refused.xlsx"
    browser.wait_event(
        "Browser.downloadProgress",
        lambda p: p["guid"] == begun["guid"] and p["state"] in ("completed", "canceled"),
    )
    saved = downloads / begun["suggestedFilename"]
    book = load_workbook(saved)
    sheet = book.active
    headers = [c.value for c in sheet[1]]
    cells = {h: c for h, c in zip(headers, sheet[2], strict=True)}
    assert cells["行政处罚决定书文号"].value == BAD_NUMBER
    assert "应为日期" in cells["错误原因"].value
    assert sheet.max_row == 2  # the one refused row
    cells["作出行政处罚决定日期"].value = "2024-02-29"
    fixed = tmp_path / "更正-处罚.xlsx"
    book.save(fixed)

    # Upload the corrected file through the page's form.
    page.set_files("#upload-file", fixed)
    page.type_into("#upload-declared", "1")
    page.click("#upload-form button[type=submit]")
    result = page.wait_text("已接收", "#upload-result")
    assert "新发布 1 条" in result and "退回 0 条" in result and "申报 1 条" in result, result

    def closed() -> bool:
        return bool(api(server, "/v1/department/refusals?status=closed")["rows"])

    assert run_until(pipeline, closed)

    # The department comes back to the page: nothing left to correct, the row shown 已更正.
    page.goto(f"{server}/department")  # the token is kept in this tab: logged in again
    page.wait_for("document.body.dataset.ready === 'true'", "the page's panels loaded")
    page.wait_text("没有退回记录", "#panel-refusals .body")
    page.evaluate("(() => { const s = document.getElementById('refusal-status');"
                  " s.value = 'closed'; s.dispatchEvent(new Event('change')); })()")  # fmt: skip
    page.wait_text(BAD_NUMBER, "#panel-refusals tbody")
    [row] = page.evaluate(ROW_CELLS)
    assert row[:3] == ["行政处罚", "第 1 条记录", "作出行政处罚决定日期"], row
    assert row[5] == "已更正", row


def test_a_receiving_department_sees_its_notices(pipeline, server, browser):
    uscc = enterprise_codes(72)["uscc"]
    publish(pipeline.bootstrap,
            [registration(72, NAME), restriction(uscc, subject_name=NAME)],
            pipeline.topic_prefix)  # fmt: skip

    def notice_listed() -> bool:
        return bool(api(server, "/v1/department/notices", TAX)["notices"])

    assert run_until(pipeline, notice_listed)
    page = browser.page()
    log_in(page, server, TAX, "国家税务总局宁夏回族自治区税务局（sw-640000）")
    section = page.wait_text("联合惩戒通知", "#notices-section")
    section = page.wait_text(uscc, "#notices-section")
    assert NAME in section and "待响应" in section, section
    assert "2027-02-28" in section and "纳税信用评价从严" in section
    assert "查错查重" in section
