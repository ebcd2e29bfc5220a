"""Reporting periods: a calendar month and when its monitoring indicators are due.

Seed 003 #26: 「每月25日前」 the city's credit monitoring indicators are reported. The figures
of a month are complete only once it has ended, so a month's report is due before the 25th
of the month after it (a November report before 25 December).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from creditsync.errors import CreditSyncError

DUE_DAY = 25
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class ReportError(CreditSyncError):
    """A report that cannot be made as asked (a month that is not YYYY-MM, an unknown
    format); the message says what was expected."""


@dataclass(frozen=True, slots=True)
class ReportingPeriod:
    """One calendar month: its first and last day and the day its report is due before."""

    month: str  # YYYY-MM, as the views' `month` column
    first_day: dt.date
    last_day: dt.date
    due_before: dt.date

    @property
    def label(self) -> str:
        return f"{self.first_day.isoformat()} 至 {self.last_day.isoformat()}"

    def as_dict(self) -> dict[str, str]:
        return {
            "month": self.month,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "due_before": self.due_before.isoformat(),
        }


def reporting_period(month: str) -> ReportingPeriod:
    """The period `month` (YYYY-MM) names; ReportError for anything else."""
    found = _MONTH.match(month.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        raise ReportError(f"--month {month!r}: expected a month as YYYY-MM, e.g. 2026-11")
    year, number = int(found.group(1)), int(found.group(2))
    last = calendar.monthrange(year, number)[1]
    next_year, next_month = (year + 1, 1) if number == 12 else (year, number + 1)
    return ReportingPeriod(
        month=f"{year:04d}-{number:02d}",
        first_day=dt.date(year, number, 1),
        last_day=dt.date(year, number, last),
        due_before=dt.date(next_year, next_month, DUE_DAY),
    )


def previous_month(today: dt.date) -> str:
    """The month a report made on `today` is normally about: the last complete one."""
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


__all__ = ["DUE_DAY", "ReportError", "ReportingPeriod", "previous_month", "reporting_period"]
