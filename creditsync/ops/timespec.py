"""Times as operators type them (--from, --to, --since) turned into Kafka timestamps (ms).

Accepted: an ISO date or date-time ("2024-03-08", "2024-03-08T09:30", with or without an
offset), a relative age ("90s", "15m", "2h", "3d", "1w" ago), "beginning"/"earliest", "now",
or epoch milliseconds. A time without an offset is China Standard Time (UTC+8): the time on
the operators' clocks, and the one the departments' documents use.
"""

from __future__ import annotations

import datetime as dt
import re

from creditsync.ops.errors import InvalidTimeSpec

CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")
BEGINNING = 0
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
EXPECTED = (
    "expected an ISO date or date-time (2024-03-08, 2024-03-08T09:30+08:00), an age such as "
    "30m, 2h, 3d, 'beginning', 'now', or epoch milliseconds"
)


def to_millis(instant: dt.datetime) -> int:
    return int(instant.timestamp() * 1000)


def parse_time(text: str, *, now: dt.datetime | None = None, option: str = "--from") -> int:
    """Epoch milliseconds of an operator's time spec (see the module docstring)."""
    spec = text.strip()
    now = now or dt.datetime.now(dt.UTC)
    if not spec:
        raise InvalidTimeSpec(f"{option}: empty; {EXPECTED}")
    lowered = spec.lower()
    if lowered in ("beginning", "earliest", "start"):
        return BEGINNING
    if lowered == "now":
        return to_millis(now)
    if spec.isdigit():
        # A bare year (2024) is not a timestamp anyone means; epoch ms have 12+ digits today.
        if len(spec) < 10:
            raise InvalidTimeSpec(
                f"{option}: {spec!r} is too short for epoch milliseconds; {EXPECTED}"
            )
        return int(spec)
    relative = _RELATIVE.match(spec)
    if relative:
        seconds = float(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()]
        return max(BEGINNING, to_millis(now - dt.timedelta(seconds=seconds)))
    try:
        parsed = dt.datetime.fromisoformat(spec)
    except ValueError:
        raise InvalidTimeSpec(f"{option}: {spec!r} is not a time; {EXPECTED}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA_TZ)
    return max(BEGINNING, to_millis(parsed))


def describe_millis(millis: int) -> str:
    """A Kafka timestamp for people, in China Standard Time."""
    if millis <= BEGINNING:
        return "the beginning"
    return dt.datetime.fromtimestamp(millis / 1000, CHINA_TZ).isoformat(timespec="seconds")
