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
    end_notice,
    notice_id,
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
    # A re-sent or corrected restriction (a new event) keeps its notices' ids: they come from
    # the restriction's item and the department, so a sample file can name them.
    resent = notices_for(record(event_id="0f1c1f7e-8a53-4c61-9d6a-3f0d3c1b2a10"))
    assert ids == [n["notice_id"] for n in resent]
    other_item = notices_for(record(record_key="严重违法失信企业名单|第十七条|2024-05-01"))
    assert not set(ids) & {n["notice_id"] for n in other_item}
    assert ids[0] == notice_id(
        USCC, "restriction:严重违法失信企业名单|第十七条|2024-02-07", "税务局"
    )


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
        ({"receiving_department": COURT}, "只能反馈发给本部门"),
        ({"feedback_stage": "done"}, "feedback_stage .*'done'"),
        ({"feedback_on": "2024-03-06"}, "feedback_on"),
    ],
)
def test_feedback_that_does_not_fit_says_why(change, message) -> None:
    notice = notices_for(record())[0]
    payload = {**feedback(notice["notice_id"], "响应", dt.date(2024, 3, 6)), **change}
    with pytest.raises(NoticeError, match=message):
        apply_feedback(notice, payload)


def test_a_notice_carries_the_measures_expected_and_its_deadline() -> None:
    tax, court = notices_for(record())
    assert tax["measures_expected"].startswith("纳税信用评价从严")
    assert court["measures_expected"] == "依法限制高消费"
    assert (tax["initiated_on"], tax["deadline"]) == ("2024-03-05", "2024-04-04")
    assert tax["kind"] == "initiated"


def test_the_same_department_under_another_name_may_answer() -> None:
    notice = notices_for(record())[0]
    answered = apply_feedback(
        notice,
        feedback(
            notice["notice_id"], "响应", dt.date(2024, 3, 6), department="宁夏回族自治区税务局"
        ),
    )
    assert answered["stage"] == "responded"


def test_an_ended_restriction_ends_its_notice_once_and_stops_its_ageing() -> None:
    notice = notices_for(record())[0]
    ended = end_notice(notice, "repaired", dt.date(2024, 3, 9))
    assert (ended["kind"], ended["ended_on"], ended["ended_reason"]) == (
        "ended",
        "2024-03-09",
        "已信用修复",
    )
    assert open_notice_age_days(ended, dt.date(2024, 3, 15)) is None
    assert end_notice(ended, "expired", dt.date(2024, 4, 1))["ended_on"] == "2024-03-09"
