"""Working days and publication deadlines on the official calendar with its 调休 days."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import TimelinessError
from streams.rules.timeliness import (
    FIXED_DATE_HOLIDAYS,
    assess_timeliness,
    calendar_known,
    china_date,
    working_days_between,
)

D = dt.date
known_days = st.dates(min_value=D(2004, 1, 1), max_value=D(2026, 12, 31))


def test_spring_festival_2024_with_its_swapped_sundays() -> None:
    # 2024 春节: 10-17 February off; Sunday 4 and Sunday 18 February worked (调休).
    assert chinese_calendar.is_workday(D(2024, 2, 4))
    assert not chinese_calendar.is_workday(D(2024, 2, 12))
    # After Thu 8 Feb: Fri 9, then the holiday, then Sun 18 (worked), Mon 19, Tue 20.
    assert working_days_between(D(2024, 2, 8), D(2024, 2, 20)) == 4
    # Sat 3 Feb is a rest day, Sun 4 Feb a working day.
    assert working_days_between(D(2024, 2, 2), D(2024, 2, 3)) == 0
    assert working_days_between(D(2024, 2, 3), D(2024, 2, 4)) == 1
    assert working_days_between(D(2024, 2, 1), D(2024, 2, 29)) == 17


def test_a_penalty_decided_before_spring_festival_is_late_only_after_7_working_days() -> None:
    decided = D(2024, 2, 7)  # Wednesday
    # 7 working days later: 8, 9 Feb, 18, 19, 20, 21, 22 Feb (the holiday week not counted).
    on_time = dt.datetime(2024, 2, 22, 9, 0, tzinfo=dt.UTC)
    late = dt.datetime(2024, 2, 23, 9, 0, tzinfo=dt.UTC)
    assert assess_timeliness("penalty", decided, on_time) == {
        "working_days": 7,
        "deadline_working_days": 7,
        "deadline_met": True,
    }
    assert assess_timeliness("penalty", decided, late)["deadline_met"] is False


# No deadline: timing is not what these tests check, and CI machines are shared.
@settings(deadline=None, max_examples=50)
@given(known_days, known_days)
def test_count_agrees_with_chinese_calendar(start, end) -> None:
    low, high = sorted((start, end))
    expected = (
        len(chinese_calendar.get_workdays(low + dt.timedelta(days=1), high)) if low < high else 0
    )
    assert working_days_between(low, high) == expected
    assert working_days_between(high, low) == -expected


# No deadline: timing is not what these tests check, and CI machines are shared.
@settings(deadline=None)
@given(known_days, known_days, known_days)
def test_counts_add_up(a, b, c) -> None:
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)


def test_years_the_calendar_does_not_know_count_monday_to_friday() -> None:
    assert not calendar_known(2099)
    # Thu 1 Jan 2099 → Thu 8 Jan 2099: Fri, Mon, Tue, Wed, Thu.
    assert working_days_between(D(2099, 1, 1), D(2099, 1, 8)) == 5
    # Across the boundary from a known year into an unknown one does not fail either.
    assert working_days_between(D(2026, 12, 30), D(2099, 1, 8)) > 0
    assert calendar_known(2024)


def test_received_instant_is_read_as_the_day_in_china() -> None:
    # 17:00 UTC on Friday 1 March is already Saturday 2 March in Beijing.
    assert china_date(dt.datetime(2024, 3, 1, 17, 0, tzinfo=dt.UTC)) == D(2024, 3, 2)
    with pytest.raises(TimelinessError, match="no time zone"):
        china_date(dt.datetime(2024, 3, 1, 17, 0))


def test_without_a_decision_date_or_deadline_nothing_is_judged() -> None:
    at = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    assert assess_timeliness("penalty", None, at) == {
        "working_days": None,
        "deadline_working_days": 7,
        "deadline_met": None,
    }
    inspection = assess_timeliness("inspection", D(2024, 2, 29), at)
    assert inspection == {"working_days": 1, "deadline_working_days": None, "deadline_met": None}


def test_registration_has_one_working_day() -> None:
    result = assess_timeliness(
        "registration", D(2024, 2, 9), dt.datetime(2024, 2, 18, tzinfo=dt.UTC)
    )
    assert result == {"working_days": 1, "deadline_working_days": 1, "deadline_met": True}


def _slow_count(start: dt.date, end: dt.date) -> int:
    """Day by day, as the rules read: the official calendar where known, else Monday-Friday,
    less the fixed-date statutory holidays after the calendar's last year."""
    low, high = sorted((start, end))
    days = 0
    day = low + dt.timedelta(days=1)
    while day <= high:
        if calendar_known(day.year):
            days += chinese_calendar.is_workday(day)
        elif day.year > LAST_KNOWN:
            days += day.weekday() < 5 and (day.month, day.day) not in FIXED_DATE_HOLIDAYS
        else:
            days += day.weekday() < 5
        day += dt.timedelta(days=1)
    return days if start <= end else -days


any_days = st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31))
FIRST_KNOWN = min(chinese_calendar.holidays).year
LAST_KNOWN = max(chinese_calendar.holidays).year


# No deadline: the slow reference count walks up to two centuries day by day.
@settings(deadline=None, max_examples=60)
@given(any_days, any_days)
def test_constant_time_count_agrees_with_the_day_by_day_count_1900_to_2100(start, end) -> None:
    assert working_days_between(start, end) == _slow_count(start, end)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (D(1900, 1, 1), D(2100, 12, 31)),
        (D(1900, 1, 1), D(1900, 1, 1)),
        (D(2100, 12, 30), D(2100, 12, 31)),
        (D(FIRST_KNOWN - 1, 12, 31), D(FIRST_KNOWN, 1, 1)),
        (D(FIRST_KNOWN - 1, 12, 25), D(FIRST_KNOWN, 1, 10)),
        (D(LAST_KNOWN, 12, 31), D(LAST_KNOWN + 1, 1, 1)),
        (D(LAST_KNOWN, 9, 25), D(LAST_KNOWN + 1, 1, 10)),
        (D(1905, 6, 1), D(2024, 3, 8)),
        (D(2024, 3, 8), D(1905, 6, 1)),
    ],
)
def test_boundaries_of_the_range_and_of_the_calendar(start, end) -> None:
    assert working_days_between(start, end) == _slow_count(start, end)


def test_a_century_back_needs_no_calendar_walk(monkeypatch) -> None:
    # issue #13: each record dated 1905 rebuilt 120 year tables (150 ms); now nothing is
    # counted day by day once the module is loaded.
    def refuse(day):  # pragma: no cover - called only on a regression
        raise AssertionError(f"the calendar was walked ({day})")

    expected = _slow_count(D(1905, 3, 1), D(2024, 3, 8))
    monkeypatch.setattr(chinese_calendar, "is_workday", refuse)
    received = dt.datetime(2024, 3, 8, 2, 0, tzinfo=dt.UTC)
    result = assess_timeliness("penalty", D(1905, 3, 1), received)
    assert result["working_days"] == expected > 30_000
    assert result["deadline_met"] is False
