"""Pure parts of the department view (issue #16): Chinese reasons, declared totals, the
refused record kept from a dead letter, the demo's control totals."""

from __future__ import annotations

import json
from pathlib import Path

from producers.ingest import sidecar_total, trailer_total
from schemas.reasons import explain, language
from streams.rules.refused import refused_record


def test_reasons_name_record_field_and_expectation_in_chinese_by_default():
    text = explain("invalid_value", category="penalty", field="decided_on", value="2024-02-30",
                   record_ref="row 7 (序号 6)", record_key="宁市监罚〔2018〕99号")  # fmt: skip
    assert text == (
        "第 7 行（序号 6，行政处罚决定书文号 宁市监罚〔2018〕99号）：字段「作出行政处罚决定日期」"
        "的值「2024-02-30」不符合要求；应为日期，如 2017-03-07、2017/3/7 或 2017年3月7日"
    )
    english = explain("required", lang="en", category="penalty", field="decided_on",
                      record_ref="record 3")  # fmt: skip
    assert english.startswith("record 3: the required field decided_on is empty; expected a date")
    for code in ("unknown_registration_number", "unpublishable", "missing_field", "not_owner",
                 "state_bound_exceeded", "invalid_code", "required"):  # fmt: skip
        assert "原因代码" not in explain(code, category="penalty", field="subject_code")
    assert language("en-GB,en;q=0.9") == "en" and language("zh-CN,en;q=0.5") == "zh"
    assert language(None) == "zh"


def test_a_stage_message_already_in_chinese_is_kept():
    detail = "行政处罚 决定书文号 X 属于 scjg-640000（市场监管厅），sw-640000 无权修改"
    assert explain("not_owner", category="penalty", detail=detail) == detail


def test_declared_totals_from_a_trailer_row_or_a_sidecar(tmp_path: Path):
    trailer = {"序号": "合计", "统一社会信用代码（企业注册号）": "12", "企业名称": ""}
    assert trailer_total(trailer) == 12
    assert trailer_total({"序号": "1", "企业名称": "某公司"}) is None
    data = tmp_path / "penalty.csv"
    assert sidecar_total(data) is None
    (tmp_path / "penalty.csv.total").write_text("合计,1,024\n", encoding="utf-8")
    assert sidecar_total(data) == 1024


def test_an_adapters_refusal_keeps_the_row_by_template_header_with_id_numbers_blanked():
    body = {"category": "restriction", "fields": {
        "decision_number": "x", "id_document_number": "sealed-envelope", "序号": "3"}}
    headers = {
        "__connect.errors.exception.message": "row 4 (序号 3): 证件号码 …",
        "creditsync.category": "restriction", "creditsync.field": "id_document_number",
        "creditsync.original.content-type": "application/json",
    }  # fmt: skip
    record = refused_record(json.dumps(body).encode(), headers)
    assert record["record_ref"] == "row 4 (序号 3)"
    fields = json.loads(record["fields_json"])
    assert fields["证件号码"] == "" and fields["序号"] == "3"


def test_the_demo_declares_what_it_sends():
    from creditsync.runtime import _demo_control_totals
    from producers.demo import DemoFeed
    from producers.publisher import intake_record, rejection_record
    from schemas.codec import encode_intake, fingerprint_of

    records = []
    for event in DemoFeed(seed=7).events(300):
        if isinstance(event, dict):
            value = encode_intake(event)
            records.append(intake_record(event, value, fingerprint_of(value), ""))
        else:
            records.append(rejection_record(
                event, category="penalty", department_code="scjg-640000", adapter="demo/1",
                fields=dict(event.row or {}),
            ))  # fmt: skip
    totals = [json.loads(t.value) for t in _demo_control_totals(records, "")]
    assert sum(t["declared"] for t in totals) == len(records)
    assert all(t["balanced"] for t in totals)
    assert any(t["rejected"] for t in totals)
