"""Joint-punishment notices: one per receiving department, feedback moving only forward."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.identifiers import make_uscc
from schemas.records import EnrichedRecord, Lineage
from schemas.topics import DEFAULT_NOTICE_DEPARTMENTS
from streams.errors import NoticeError
from streams.rules.notices import (
    apply_feedback,
    department_code,
    notices_for,
    open_notice_age_days,
    receiving_departments,
)

USCC = make_uscc("9", "1", "640422", "MA76Y5XX")
TAX = "国家税务总局宁夏回族自治区税务局"
COURT = "宁夏回族自治区高级人民法院"


def record(departments: object = (TAX, COURT), **overrides: object) -> EnrichedRecord:
    base: dict = {
        "event_id": "6f1c1f7e-8a53-4c61-9d6a-3f0d3c1b2a10",
        "category": "restriction",
        "operation": "upsert",
        "department": {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"},
        "record_key": "严重违法失信企业名单|第十七条|2024-02-07",
        "subject": {
            "uscc": USCC,
            "registration_number": None,
            "organisation_code": None,
            "name": "x",
        },
        "uscc": USCC,
        "canonical_name": "宁夏丰源农业科技有限公司",
        "entity_type": "企业",
        "region": {"code": "640422", "province": None, "prefecture": None, "county": None},
        "occurred_at": dt.date(2024, 2, 7),
        "emitted_at": dt.datetime(2024, 2, 22, 1, 0, tzinfo=dt.UTC),
        # 20:00 UTC on 4 March is 5 March in Beijing.
        "processed_at": dt.datetime(2024, 3, 4, 20, 0, tzinfo=dt.UTC),
        "source_sequence": 1,
        "version": "v",
        "adapter": "http/1",
        "publication_status": "public",
        "timeliness": {"working_days": 1, "deadline_working_days": 7, "deadline_met": True},
        "lineage": Lineage(topic="t", partition=0, offset=0, schema_fingerprint="f"),
        "payload": {
            "information_type": "严重违法失信企业名单",
            "legal_basis": "第十七条",
            "restricted_from": dt.date(2024, 2, 7),
            "restricted_to": dt.date(2027, 2, 6),
            "sending_department": "宁夏回族自治区市场监督管理厅",
            "receiving_departments": departments,
        },
    }
    base.update(overrides)
    return base  # type: ignore[return-value]


def feedback(notice_id: str, stage: str, on: dt.date, department: str = TAX, **more) -> dict:
    return {
        "notice_id": notice_id,
        "receiving_department": department,
        "feedback_stage": stage,
        "feedback_on": on,
        **more,
    }


def test_one_notice_per_receiving_department() -> None:
    notices = notices_for(record())
    assert [(n["department_code"], n["department_name"]) for n in notices] == [
        ("tax", TAX),
        ("court", COURT),
    ]
    first = notices[0]
    assert first["stage"] == "initiated"
    assert first["initiated_on"] == "2024-03-05"
    assert first["restricted_to"] == "2027-02-06"
    assert first["item_id"] == "restriction:严重违法失信企业名单|第十七条|2024-02-07"
    assert first["uscc"] == USCC


def test_notice_ids_are_deterministic_and_distinct() -> None:
    ids = [n["notice_id"] for n in notices_for(record())]
    assert ids == [n["notice_id"] for n in notices_for(record())]
    assert len(set(ids)) == 2
    other_event = notices_for(record(event_id="0f1c1f7e-8a53-4c61-9d6a-3f0d3c1b2a10"))
    assert not set(ids) & {n["notice_id"] for n in other_event}


def test_departments_in_one_cell_are_split_and_deduplicated() -> None:
    assert receiving_departments(f"{TAX}、{COURT}；{TAX} ") == [TAX, COURT]
    assert len(notices_for(record(f"{TAX}, {COURT}"))) == 2
    assert receiving_departments(None) == []


def test_no_notices_for_other_categories_withdrawals_or_ended_restrictions() -> None:
    assert notices_for(record(category="penalty")) == []
    assert notices_for(record(operation="withdraw")) == []
    assert notices_for(record(publication_status="expired")) == []
    assert notices_for(record(departments=None)) == []


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("国家税务总局西吉县税务局", "tax"),
        ("固原市中级人民法院", "court"),
        ("宁夏回族自治区市场监督管理厅", "market"),
        ("西吉县住房和城乡建设局", "housing"),
        ("固原市生态环境局", "environment"),
        ("中国人民银行银川中心支行", "finance"),
        ("宁夏回族自治区发展和改革委员会", "development"),
    ],
)
def test_department_codes(name, code) -> None:
    assert department_code(name) == code


def test_default_notice_topics_cover_the_mapped_codes() -> None:
    mapped = {
        department_code(n)
        for n in ("税务局", "法院", "市场监督管理局", "住建局", "环保局", "人民银行")
    }
    assert mapped == set(DEFAULT_NOTICE_DEPARTMENTS)


def test_unknown_department_gets_a_stable_topic_safe_code() -> None:
    code = department_code("西吉县退役军人事务局")
    assert code == department_code(" 西吉县退役军人事务局")
    assert code.startswith("dept-")
    assert set(code) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert code != department_code("固原市退役军人事务局")


def test_feedback_moves_initiated_responded_fed_back() -> None:
    notice = notices_for(record())[0]
    nid = notice["notice_id"]
    assert open_notice_age_days(notice, dt.date(2024, 3, 15)) == 10
    responded = apply_feedback(notice, feedback(nid, "响应", dt.date(2024, 3, 6)))
    assert (responded["stage"], responded["responded_on"]) == ("responded", "2024-03-06")
    assert open_notice_age_days(responded, dt.date(2024, 3, 15)) == 10
    done = apply_feedback(
        responded, feedback(nid, "fed_back", dt.date(2024, 3, 20), measures="限制招投标")
    )
    assert (done["stage"], done["fed_back_on"], done["measures"]) == (
        "fed_back",
        "2024-03-20",
        "限制招投标",
    )
    assert open_notice_age_days(done, dt.date(2024, 4, 1)) is None
    assert notice["stage"] == "initiated"  # the earlier state is not changed


def test_late_feedback_never_reopens() -> None:
    notice = notices_for(record())[0]
    nid = notice["notice_id"]
    done = apply_feedback(
        notice, feedback(nid, "反馈", dt.date(2024, 3, 20), measures="限制招投标")
    )
    late = apply_feedback(done, feedback(nid, "响应", dt.date(2024, 3, 6), measures="已受理"))
    assert late["stage"] == "fed_back"
    assert late["responded_on"] == "2024-03-06"
    assert late["measures"] == "限制招投标"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"notice_id": "other"}, "applied to notice"),
        ({"receiving_department": COURT}, "only its own notices"),
        ({"feedback_stage": "done"}, "feedback_stage .*'done'"),
        ({"feedback_on": "2024-03-06"}, "feedback_on"),
    ],
)
def test_feedback_that_does_not_fit_says_why(change, message) -> None:
    notice = notices_for(record())[0]
    payload = {**feedback(notice["notice_id"], "响应", dt.date(2024, 3, 6)), **change}
    with pytest.raises(NoticeError, match=message):
        apply_feedback(notice, payload)
