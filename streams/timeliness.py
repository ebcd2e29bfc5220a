"""Publication deadlines in official working days (DOMAIN.md "Timeliness", 「双公示」 7 days).

Working days follow the State Council calendar with its holidays and swapped working
weekends (调休), as the chinese-calendar package publishes it.
"""

from __future__ import annotations

import datetime as dt
from functools import cache, lru_cache

import chinese_calendar

from schemas.categories import category_spec
from schemas.records import Timeliness
from streams.errors import TimelinessError

# China has kept one offset without daylight saving since 1991; a fixed offset avoids
# depending on the system's tz database for the one zone the calendar is defined in.
CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


@cache
def calendar_known(year: int) -> bool:
    """Whether chinese-calendar has the official holidays and 调休 days of `year`."""
    try:
        chinese_calendar.is_workday(dt.date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def _is_working_day(day: dt.date) -> bool:
    if calendar_known(day.year):
        return chinese_calendar.is_workday(day)
    return day.weekday() < 5


@lru_cache(maxsize=64)
def _cumulative(year: int) -> tuple[int, ...]:
    """Working days of `year` from 1 January up to and including each day (index 0 = 1 Jan)."""
    counts: list[int] = []
    total = 0
    day = dt.date(year, 1, 1)
    while day.year == year:
        total += _is_working_day(day)
        counts.append(total)
        day += dt.timedelta(days=1)
    return tuple(counts)


def _through(day: dt.date) -> int:
    """Working days of day.year from 1 January up to and including `day`."""
    return _cumulative(day.year)[day.timetuple().tm_yday - 1]


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Official working days after `start` up to and including `end`.

    A decision on Friday and intake on the following Monday is 1. When `end` is before
    `start` the count is negative (-working_days_between(end, start)), so a decision dated
    after its intake shows up instead of hiding as 0.

    Years that chinese-calendar does not cover (it publishes each year's calendar once the
    State Council announces it) are counted Monday to Friday, without holidays — an
    approximation that never fails; `calendar_known(year)` tells whether it was used.
    """
    if end < start:
        return -working_days_between(end, start)
    # Year tables make this O(years) instead of O(days): backfills span a decade.
    if start.year == end.year:
        return _through(end) - _through(start)
    days = _cumulative(start.year)[-1] - _through(start)
    days += sum(_cumulative(year)[-1] for year in range(start.year + 1, end.year))
    return days + _through(end)


def china_date(instant: dt.datetime) -> dt.date:
    """The calendar day in China at a timezone-aware instant."""
    if instant.tzinfo is None:
        raise TimelinessError(
            f"instant {instant.isoformat()} has no time zone; expected a UTC datetime"
        )
    return instant.astimezone(CHINA_STANDARD_TIME).date()


def assess_timeliness(
    category: str, decided_on: dt.date | None, received_at: dt.datetime
) -> Timeliness:
    """Working days from the decision to intake, against the category's deadline.

    `received_at` is an instant (UTC); it is read as the day it was in China. Without a
    decision date nothing can be measured; without a deadline (inspections, workflow events)
    the days are still counted for the dashboards but `deadline_met` is None.
    """
    deadline = category_spec(category).deadline_working_days
    if decided_on is None:
        return Timeliness(working_days=None, deadline_working_days=deadline, deadline_met=None)
    days = working_days_between(decided_on, china_date(received_at))
    return Timeliness(
        working_days=days,
        deadline_working_days=deadline,
        deadline_met=None if deadline is None else days <= deadline,
    )
