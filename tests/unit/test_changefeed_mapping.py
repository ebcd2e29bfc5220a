"""Change-feed mappings: columns resolve to fields by English or Chinese name, and a mapping
that would lose a required field fails on load, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.changefeed import MappingError, load_mapping, parse_mapping

EXAMPLE = (
    Path(__file__).resolve().parents[2] / "producers" / "changefeed" / "department.example.toml"
)


def penalty_doc(**columns: str) -> dict:
    base = {
        "credit_code": "统一社会信用代码（企业注册号）",
        "ent_name": "企业名称",
        "doc_no": "行政处罚决定书文号",
        "authority": "penalising_authority",
        "decided": "作出行政处罚决定日期",
        "violation": "violation_type",
        "kind": "处罚种类",
    }
    base.update(columns)
    return {
        "department": {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
        "tables": [
            {
                "table": "public.penalties",
                "category": "penalty",
                "key_columns": ["id"],
                "sequence_column": "updated_at",
                "columns": {k: v for k, v in base.items() if v},
            }
        ],
    }


def test_the_example_mapping_loads_with_chinese_and_english_names():
    mapping = load_mapping(EXAMPLE)
    assert mapping.department["code"] == "hb-640000"
    penalties = mapping.table("penalties")
    assert penalties.columns["credit_code"] == "subject_code"
    assert penalties.columns["doc_no"] == "decision_number"
    assert penalties.columns["basis"] == "penalty_basis"
    assert mapping.table("public.licences").column_types["valid_from"] == "epoch_days"
    assert mapping.debezium is not None and "hbdb.public.penalties" in mapping.debezium.topics


def test_a_missing_required_field_is_named_in_chinese_and_english():
    with pytest.raises(MappingError) as info:
        parse_mapping(penalty_doc(kind=""), "hb.toml")
    assert "hb.toml" in str(info.value)
    assert "处罚种类 (penalty_kind)" in str(info.value)


def test_a_mapping_without_a_subject_code_is_refused():
    with pytest.raises(MappingError, match="统一社会信用代码（企业注册号）"):
        parse_mapping(penalty_doc(credit_code=""))


def test_a_column_naming_no_field_lists_the_fields_of_the_category():
    with pytest.raises(MappingError) as info:
        parse_mapping(penalty_doc(extra="许可文件编号"))
    assert "'extra'" in str(info.value) and "violation_type" in str(info.value)


def test_two_columns_for_one_field_are_refused():
    with pytest.raises(MappingError, match="'doc_no' and 'doc_no2' both map to decision_number"):
        parse_mapping(penalty_doc(doc_no2="decision_number"))


def test_the_operation_cannot_be_mapped_from_a_column():
    with pytest.raises(MappingError, match="operation comes from the change"):
        parse_mapping(penalty_doc(op="操作类型"))


def test_unknown_category_and_bad_column_type_are_refused():
    doc = penalty_doc()
    doc["tables"][0]["category"] = "fines"
    with pytest.raises(MappingError, match="unknown category 'fines'"):
        parse_mapping(doc)
    doc = penalty_doc()
    doc["tables"][0]["column_types"] = {"decided": "epoch_weeks"}
    with pytest.raises(MappingError, match="epoch_days"):
        parse_mapping(doc)


def test_row_fields_carry_the_operation_and_missing_columns_are_found():
    table = parse_mapping(penalty_doc()).tables[0]
    row = {"id": 7, "credit_code": "X", "doc_no": "环罚〔2024〕1号"}
    fields = table.row_fields(row, "withdraw")
    assert fields["operation"] == "withdraw"
    assert fields["decision_number"] == "环罚〔2024〕1号"
    assert "authority" in table.missing_columns(row)
    assert "doc_no" not in table.missing_columns(row)
    assert table.row_ref(row) == "public.penalties (id=7)"
    assert table.matches("public", "penalties") and not table.matches("other", "penalties")
    assert table.matches(None, "penalties")


def test_a_file_that_is_not_toml_names_itself(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[department\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"bad\.toml: not valid TOML"):
        load_mapping(bad)
