"""Notices through the items rules: feedback to unknown or others' notices refused, restrictions
that leave the public view end their notices; and the name findings of 查错查重."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from schemas.codec import encode_enriched
from streams.errors import NoticeError
from streams.rules.items import notice_key, reduce_expiry_check, reduce_feedback, reduce_record
from streams.rules.registry import RegistryEntry, name_conflict
from tests.factories import make_enriched, newer

TODAY = dt.date(2024, 6, 10)
SW = {"code": "sw-640000", "name": "国家税务总局宁夏回族自治区税务局"}
HB = {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"}


class Tables:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.notices: dict[str, Any] = {}

    def apply(self, record: dict[str, Any], today: dt.date = TODAY) -> Any:
        out = reduce_record(record, self.items.get, today, encode_enriched(record))
        self.items.update(out.states)
        for n in out.notices:
            self.notices[notice_key(n["uscc"], n["notice_id"])] = n
        return out


def restriction() -> dict[str, Any]:
    return make_enriched(
        "restriction",
        n=3,
        payload={"restricted_from": dt.date(2024, 6, 1), "restricted_to": dt.date(2024, 7, 1)},
    )


def feedback(record: dict[str, Any], notice_id: str, department: dict[str, str]) -> Any:
    return make_enriched(
        "notice_feedback",
        n=3,
        department=department,
        payload={"notice_id": notice_id, "receiving_department": department["name"],
                 "feedback_on": TODAY},
    )  # fmt: skip


def test_feedback_on_a_notice_never_sent_is_refused_in_chinese() -> None:
    tables = Tables()
    tables.apply(restriction())
    with pytest.raises(NoticeError, match=r"通知编号.*不存在"):
        reduce_feedback(feedback(restriction(), "no-such-notice", SW), tables.notices.get)


def test_feedback_from_another_department_is_refused_in_chinese() -> None:
    tables = Tables()
    out = tables.apply(restriction())
    tax = next(n for n in out.notices if n["department_code"] == "tax")
    with pytest.raises(NoticeError, match="不能反馈"):
        reduce_feedback(feedback(restriction(), tax["notice_id"], HB), tables.notices.get)
    key, answered = reduce_feedback(feedback(restriction(), tax["notice_id"], SW),
                                    tables.notices.get)  # fmt: skip
    assert (key, answered["stage"]) == (notice_key(tax["uscc"], tax["notice_id"]), "responded")


def test_an_expired_restriction_ends_every_notice_it_sent() -> None:
    tables = Tables()
    out = tables.apply(restriction())
    sent = {notice_key(n["uscc"], n["notice_id"]) for n in out.notices}
    assert len(sent) == 2
    [key] = tables.items
    later = reduce_expiry_check(key, tables.items[key], dt.date(2024, 7, 2))
    assert sorted(later.ended) == sorted((k, "expired") for k in sent)
    tables.items.update(later.states)
    # A second timer finds nothing new to end.
    assert reduce_expiry_check(key, tables.items[key], dt.date(2024, 7, 3)).ended == []


def test_a_withdrawn_restriction_ends_its_notices() -> None:
    tables = Tables()
    original = restriction()
    tables.apply(original)
    out = tables.apply(newer(original, operation="withdraw"))
    assert {status for _, status in out.ended} == {"withdrawn"}


def entry(name: str = "西吉县丰源农业有限公司", former: tuple[str, ...] = ()) -> RegistryEntry:
    return RegistryEntry("91640422MA76Y5XX0X", None, None, name, list(former))


def test_one_code_under_two_names_is_a_finding_former_names_and_spelling_are_not() -> None:
    assert name_conflict(entry(), "西吉县丰源农业有限公司") is None
    assert name_conflict(entry(), " 西吉县丰源农业有限公司　") is None  # full-width space
    assert (
        name_conflict(entry(former=("西吉县丰源商贸有限公司",)), "西吉县丰源商贸有限公司") is None
    )
    found = name_conflict(entry(), "固原市星火化工有限公司")
    assert found is not None and found.reason == "one_code_two_names"
    assert "固原市星火化工有限公司" in found.detail and found.uscc == entry().uscc
