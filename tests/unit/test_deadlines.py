"""Issue #17 deadlines: the right start date, 1 or 5 days by network status, back-loads."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from producers.departments import load_departments
from producers.errors import DepartmentConfigError
from producers.http_payload import IntakeLimits, backfill_flag, parse_request_flags
from streams.rules.timeliness import (
    assess_timeliness,
    calendar_known,
    deadline_for,
    is_backfill,
    working_days_between,
)
from tests.factories import make_codes
from tests.intake_factory import intake

D = dt.date
UTC = dt.UTC


def at(day: dt.date, hour: int = 2) -> dt.datetime:
    """An instant on `day` in China (02:00 UTC is 10:00 in Beijing)."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_national_day_2025_holiday_week_is_not_counted() -> None:
    # 2025: 1-8 October off; Sunday 28 September and Saturday 11 October worked (调休).
    assert chinese_calendar.is_workday(D(2025, 9, 28))
    assert chinese_calendar.is_workday(D(2025, 10, 11))
    # Penalty decided Friday 26 Sep: Sun 28, Mon 29, Tue 30 Sep, Thu 9, Fri 10, Sat 11 Oct,
    # Mon 13 Oct = 7 working days: on time on the 13th, late on the 14th.
    assert assess_timeliness("penalty", D(2025, 9, 26), at(D(2025, 10, 13)))["deadline_met"]
    late = assess_timeliness("penalty", D(2025, 9, 26), at(D(2025, 10, 14)))
    assert late == {"working_days": 8, "deadline_working_days": 7, "deadline_met": False}


def test_a_swapped_working_saturday_counts_for_a_registration() -> None:
    # Saturday 11 October 2025 is a working day (调休): a code assigned on Friday 10 October
    # and returned on Saturday is on time; on Monday 13 it is late for a networked authority.
    assert assess_timeliness("registration", D(2025, 10, 10), at(D(2025, 10, 11)))[
        "deadline_met"
    ]
    assert not assess_timeliness("registration", D(2025, 10, 10), at(D(2025, 10, 13)))[
        "deadline_met"
    ]


def test_2027_has_no_calendar_data_and_falls_back_to_fixed_date_holidays() -> None:
    assert not calendar_known(2027)
    # Thu 31 Dec 2026 → Mon 4 Jan 2027: Friday 1 January (元旦) is not counted.
    assert working_days_between(D(2026, 12, 31), D(2027, 1, 4)) == 1
    # Thu 30 Sep 2027 → Fri 8 Oct 2027: 国庆节 1 October (Fri) is not counted; the rest of
    # the week is, since the 2027 调休 is not yet announced.
    assert working_days_between(D(2027, 9, 30), D(2027, 10, 8)) == 5
    # 劳动节: Sat 1 and Sun 2 May 2027 are weekend days anyway.
    assert working_days_between(D(2027, 4, 30), D(2027, 5, 3)) == 1
    result = assess_timeliness("penalty", D(2027, 3, 1), at(D(2027, 3, 10)))
    assert result == {"working_days": 7, "deadline_working_days": 7, "deadline_met": True}


def test_registration_deadline_is_1_working_day_networked_and_5_without_network() -> None:
    assert deadline_for("registration") == 1
    assert deadline_for("registration", networked=False) == 5
    assert deadline_for("penalty", networked=False) == 7  # only registrations differ
    assigned = D(2024, 3, 4)  # Monday
    friday = at(D(2024, 3, 8))  # 4 working days later
    assert assess_timeliness("registration", assigned, friday)["deadline_met"] is False
    offline = assess_timeliness("registration", assigned, friday, networked=False)
    assert offline == {"working_days": 4, "deadline_working_days": 5, "deadline_met": True}
    next_tuesday = at(D(2024, 3, 12))  # 6 working days
    assert not assess_timeliness("registration", assigned, next_tuesday, networked=False)[
        "deadline_met"
    ]


def test_a_converted_registration_is_measured_from_its_code_assignment_not_its_founding() -> None:
    # Issue #17: established 2009, code assigned (存量转换) in 2018, returned the next day.
    codes = make_codes(41)
    event = intake(
        "registration",
        {
            **codes,
            "name": "宁夏西吉县老字号商贸有限公司",
            "established_on": "2009-05-04",
            "code_assigned_on": "2018-03-05",
        },
    )
    assert event["occurred_at"] == D(2018, 3, 5)
    result = assess_timeliness("registration", event["occurred_at"], at(D(2018, 3, 6)))
    assert result == {"working_days": 1, "deadline_working_days": 1, "deadline_met": True}


def test_a_registration_without_code_assignment_date_is_not_measured() -> None:
    codes = make_codes(42)
    fields = {**codes, "name": "宁夏西吉县无日期商贸有限公司", "established_on": "2009-05-04"}
    event = intake("registration", fields)
    assert event["occurred_at"] is None
    assert assess_timeliness("registration", None, at(D(2018, 3, 6)))["deadline_met"] is None


def _licence(**extra: str) -> dict[str, str]:
    return {
        "subject_code": make_codes(43)["uscc"],
        "license_number": "宁环审〔2024〕12号",
        "license_name": "排污许可证",
        "valid_from": "2024-07-01",
        "licensing_authority": "宁夏回族自治区生态环境厅",
        **extra,
    }


def test_a_licence_is_measured_from_its_decision_date_not_its_validity_start() -> None:
    event = intake("license", _licence(decided_on="2024-06-03"))
    assert event["occurred_at"] == D(2024, 6, 3)  # 许可决定日期, not 有效期自 (1 July)
    # Sent Friday 14 June: 8 working days after Monday 3 June (10 June 端午节 is a holiday)
    # — late, although it is before the validity start.
    assert assess_timeliness("license", event["occurred_at"], at(D(2024, 6, 13)))[
        "deadline_met"
    ]
    result = assess_timeliness("license", event["occurred_at"], at(D(2024, 6, 14)))
    assert result == {"working_days": 8, "deadline_working_days": 7, "deadline_met": False}


def test_a_licence_without_decision_date_is_not_measured_from_its_validity_start() -> None:
    event = intake("license", _licence())
    assert event["occurred_at"] is None


def test_backfill_flag_and_cutoff() -> None:
    cutoff = D(2026, 1, 1)
    assert is_backfill(True, D(2026, 5, 1), cutoff)
    assert is_backfill(True, None, None)
    assert is_backfill(False, D(2025, 12, 31), cutoff)
    assert not is_backfill(False, D(2026, 1, 1), cutoff)
    assert not is_backfill(False, D(2015, 1, 1), None)
    assert not is_backfill(False, None, cutoff)


def test_a_back_load_is_counted_but_never_late() -> None:
    decided, received = D(2016, 3, 1), at(D(2026, 3, 2))
    judged = assess_timeliness("penalty", decided, received)
    assert judged["deadline_met"] is False
    loaded = assess_timeliness("penalty", decided, received, backfill=True)
    assert loaded["deadline_met"] is None
    assert loaded["working_days"] == judged["working_days"] > 2000
    assert loaded["deadline_working_days"] == 7


def test_http_backfill_flag_in_body_and_header() -> None:
    limits = IntakeLimits()
    body = b'{"records": [{"a": 1}], "backfill": true}'
    assert parse_request_flags(body, limits)[2] is True
    assert parse_request_flags(b'{"records": [{"a": 1}]}', limits)[2] is None
    assert backfill_flag("true", "X-Backfill") is True
    assert backfill_flag("0", "X-Backfill") is False
    with pytest.raises(Exception, match="X-Backfill: expected true or false"):
        backfill_flag("maybe", "X-Backfill")


_DEPARTMENT = """
[[departments]]
code = "mz-640422"
name = "西吉县民政局"
token_sha256 = "{hash}"
categories = ["registration"]
{extra}
"""


def test_departments_file_networked_defaults_to_true(tmp_path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(_DEPARTMENT.format(hash="a" * 64, extra=""), encoding="utf-8")
    assert load_departments(path).get("mz-640422").networked is True
    path.write_text(_DEPARTMENT.format(hash="a" * 64, extra="networked = false"), "utf-8")
    assert load_departments(path).get("mz-640422").networked is False
    path.write_text(_DEPARTMENT.format(hash="a" * 64, extra='networked = "no"'), "utf-8")
    with pytest.raises(DepartmentConfigError, match="networked: expected true or false"):
        load_departments(path)
