"""Publication deadlines in official working days (DOMAIN.md "Timeliness", 「双公示」 7 days).

Working days follow the State Council calendar with its holidays and swapped working
weekends (调休), as the chinese-calendar package publishes it. The deadline runs from the
category's decision date (schemas/categories.py `decision_date_field`: 作出行政处罚决定日期,
许可决定日期, 赋码日期 …); a registration authority without a network has 5 working days
instead of 1 (seed 000 §二(二)); a back-load (存量, `backfill`) is counted but never judged.

Years the package has no data for (it publishes each year once the State Council announces
its calendar, e.g. 2027 with chinese-calendar 1.11) fall back to Monday to Friday less the
fixed-date statutory holidays of 《全国年节及纪念日放假办法》 (元旦 1 January, 劳动节 1-2 May,
国庆节 1-3 October); the lunar holidays (春节, 清明, 端午, 中秋) and the 调休 days are not known
in advance, so such a count can be up to a few days too high around them. Years before 2004
count Monday to Friday. `calendar_known(year)` tells which applied.
"""

from __future__ import annotations

import datetime as dt
import functools

import chinese_calendar

from schemas.categories import category_spec
from schemas.records import Timeliness
from streams.errors import TimelinessError

# China has kept one offset without daylight saving since 1991; a fixed offset avoids
# depending on the system's tz database for the one zone the calendar is defined in.
CHINA_STANDARD_TIME = dt.timezone(dt.timedelta(hours=8), "CST")


# The years chinese-calendar publishes (2004 to the year the State Council last announced).
_FIRST_KNOWN = min(chinese_calendar.holidays).year
_LAST_KNOWN = max(chinese_calendar.holidays).year


def calendar_known(year: int) -> bool:
    """Whether chinese-calendar has the official holidays and 调休 days of `year`."""
    return _FIRST_KNOWN <= year <= _LAST_KNOWN


def _weekdays_through(day: dt.date) -> int:
    """Mondays to Fridays from 0001-01-01 (a Monday) up to and including `day`: arithmetic,
    so a decision dated a century back costs what one dated yesterday does."""
    weeks, rest = divmod(day.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def _known_year_tables() -> tuple[dict[int, tuple[int, ...]], dict[int, int]]:
    """Per known year: the official working days from 1 January through each day minus the
    Monday-to-Friday count (the holidays and 调休 correction, index 0 = 1 January); and the
    corrections of all known years before each year, summed."""
    within: dict[int, tuple[int, ...]] = {}
    before: dict[int, int] = {}
    carried = 0
    for year in range(_FIRST_KNOWN, _LAST_KNOWN + 1):
        before[year] = carried
        offsets: list[int] = []
        correction = 0
        day = dt.date(year, 1, 1)
        while day.year == year:
            official = day in chinese_calendar.workdays or (
                day.weekday() < 5 and day not in chinese_calendar.holidays
            )
            correction += int(official) - int(day.weekday() < 5)
            offsets.append(correction)
            day += dt.timedelta(days=1)
        within[year] = tuple(offsets)
        carried += correction
    before[_LAST_KNOWN + 1] = carried
    return within, before


# Built once at import (23 years × 366 days, a few milliseconds): the count for any date is
# then two look-ups and a division.
_WITHIN, _BEFORE = _known_year_tables()


# The statutory holidays on a fixed Gregorian date (《全国年节及纪念日放假办法》, as revised
# by 国务院令第795号, 2024): the part of a year's calendar known before it is announced.
FIXED_DATE_HOLIDAYS: tuple[tuple[int, int], ...] = (
    (1, 1),  # 元旦
    (5, 1),  # 劳动节
    (5, 2),
    (10, 1),  # 国庆节
    (10, 2),
    (10, 3),
)


def _fixed_holidays_on_weekdays(year: int, through: dt.date | None = None) -> int:
    """The fixed-date holidays of `year` that fall Monday to Friday (up to `through`)."""
    count = 0
    for month, day in FIXED_DATE_HOLIDAYS:
        holiday = dt.date(year, month, day)
        if holiday.weekday() < 5 and (through is None or holiday <= through):
            count += 1
    return count


@functools.lru_cache(maxsize=64)
def _fixed_holidays_before(year: int) -> int:
    """Fixed-date weekday holidays of the unknown years after the last known one, before
    `year` (a handful of years in practice; cached)."""
    return sum(_fixed_holidays_on_weekdays(y) for y in range(_LAST_KNOWN + 1, year))


def _through(day: dt.date) -> int:
    """Working days from 0001-01-01 up to and including `day`: Monday to Friday, corrected
    by the official calendar in the years it knows, and by the fixed-date holidays after."""
    year = day.year
    if year < _FIRST_KNOWN:
        return _weekdays_through(day)
    if year > _LAST_KNOWN:
        return (
            _weekdays_through(day)
            + _BEFORE[_LAST_KNOWN + 1]
            - _fixed_holidays_before(year)
            - _fixed_holidays_on_weekdays(year, day)
        )
    return _weekdays_through(day) + _BEFORE[year] + _WITHIN[year][day.timetuple().tm_yday - 1]


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Official working days after `start` up to and including `end`.

    A decision on Friday and intake on the following Monday is 1. When `end` is before
    `start` the count is negative (-working_days_between(end, start)), so a decision dated
    after its intake shows up instead of hiding as 0.

    Years that chinese-calendar does not cover are counted as the module docstring says
    (Monday to Friday less the fixed-date holidays after 2026, Monday to Friday before
    2004) — an approximation that never fails; `calendar_known(year)` tells whether it was
    used.
    Constant time for any dates (issue #13: a decision dated 1905 cost 150 ms per record
    when each year was counted day by day).
    """
    return _through(end) - _through(start)


def china_date(instant: dt.datetime) -> dt.date:
    """The calendar day in China at a timezone-aware instant."""
    if instant.tzinfo is None:
        raise TimelinessError(
            f"instant {instant.isoformat()} has no time zone; expected a UTC datetime"
        )
    return instant.astimezone(CHINA_STANDARD_TIME).date()


# Registration authorities without a network return code assignments within 5 working days
# instead of the category's 1 (seed 000 §二(二)「暂时不具备网络条件的回传周期为5个工作日」).
NOT_NETWORKED_REGISTRATION_DAYS = 5


def deadline_for(category: str, networked: bool = True) -> int | None:
    """Working days allowed from decision to intake: the category's, or 5 for a
    registration from an authority without a network."""
    deadline = category_spec(category).deadline_working_days
    if category == "registration" and not networked:
        return NOT_NETWORKED_REGISTRATION_DAYS
    return deadline


def is_backfill(flagged: bool, decided_on: dt.date | None, cutoff: dt.date | None) -> bool:
    """Whether a record is a back-load (存量): flagged so by its sender (`--backfill`, the
    request's `backfill`), or decided before the configured cut-off
    (CREDITSYNC_BACKFILL_BEFORE). A record without a decision date is judged by its flag."""
    if flagged:
        return True
    return cutoff is not None and decided_on is not None and decided_on < cutoff


def assess_timeliness(
    category: str,
    decided_on: dt.date | None,
    received_at: dt.datetime,
    *,
    networked: bool = True,
    backfill: bool = False,
) -> Timeliness:
    """Working days from the decision to intake, against the category's deadline.

    `received_at` is an instant (UTC); it is read as the day it was in China. Without a
    decision date nothing can be measured; without a deadline (inspections, workflow events)
    the days are still counted for the dashboards but `deadline_met` is None. `networked`:
    whether the sending registration authority has a network (1 or 5 working days for
    registrations). A back-load (`backfill`) keeps its count and deadline but is not judged
    (`deadline_met` None): archives loaded years later are not late submissions, and every
    figure built on deadline_met leaves them out without knowing the flag.
    """
    deadline = deadline_for(category, networked)
    if decided_on is None:
        return Timeliness(working_days=None, deadline_working_days=deadline, deadline_met=None)
    days = working_days_between(decided_on, china_date(received_at))
    return Timeliness(
        working_days=days,
        deadline_working_days=deadline,
        deadline_met=None if deadline is None or backfill else days <= deadline,
    )
