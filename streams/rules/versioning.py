"""Record versions: one string per event whose plain string order is the order of versions.

Sinks keep the greatest version of an item and ignore anything older, so replays and retries
converge (DESIGN.md "Every write is idempotent"). They compare versions as strings — Redis in
Lua, ClickHouse in SQL — so the string must sort exactly like the tuple
(source_sequence, emitted_at in ms, event_id), then the derivation generation.

The generation (`derived_version`) is 0 until an operator re-derives credit.records from the
intake topics (`creditsync replay --stage streams`, after a fix to resolution or
enrichment); each re-derivation bumps it, so the re-derived record of an event supersedes
the one derived before the fix instead of being skipped as "not newer". It is a suffix:
"." sorts before every hex digit, so between different events the order stays that of
their (sequence, time, event id), and a generation only breaks the tie of one event.
"""

from __future__ import annotations

import datetime as dt

from streams.errors import VersionError

SEQUENCE_DIGITS = 20  # holds every non-negative 64-bit integer (19 digits) with room to spare
MILLIS_DIGITS = 15  # milliseconds since 1970 up to the year 33658
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _millis(emitted_at: dt.datetime) -> int:
    if emitted_at.tzinfo is None:
        raise VersionError(f"emitted_at {emitted_at.isoformat()} has no time zone; expected UTC")
    # Integer arithmetic on the timedelta: float timestamps lose the last millisecond.
    delta = emitted_at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def record_version(source_sequence: int, emitted_at: dt.datetime, event_id: str) -> str:
    """The version string of an event: fixed-width digits, then the event id as hex.

    Only the characters 0-9, a-f and "." are used. Redis calls setlocale(LC_COLLATE, "") and
    Lua compares strings with strcoll(), so a version must sort the same under any locale;
    lower-case hex at fixed positions does, where raw ids with "-" or upper case might not.
    The event id is the UTF-8 bytes in hex, which keeps code-point order for any id.
    """
    if not 0 <= source_sequence < 10**SEQUENCE_DIGITS:
        raise VersionError(
            f"event {event_id}: source_sequence {source_sequence} is outside "
            f"0 … 10^{SEQUENCE_DIGITS}-1"
        )
    millis = _millis(emitted_at)
    if not 0 <= millis < 10**MILLIS_DIGITS:
        raise VersionError(
            f"event {event_id}: emitted_at {emitted_at.isoformat()} is before 1970 "
            "or too far in the future"
        )
    return (
        f"{source_sequence:0{SEQUENCE_DIGITS}d}.{millis:0{MILLIS_DIGITS}d}."
        f"{event_id.encode('utf-8').hex()}"
    )


GENERATION_DIGITS = 6


def derived_version(version: str, generation: int) -> str:
    """`version` as derived in `generation` (0: unchanged)."""
    if generation == 0:
        return version
    if not 0 < generation < 10**GENERATION_DIGITS:
        raise VersionError(f"derivation generation {generation} is outside 0 … 999999")
    return f"{version}.{generation:0{GENERATION_DIGITS}d}"


def parse_version(version: str) -> tuple[int, dt.datetime, str]:
    """The (source_sequence, emitted_at, event_id) a version was made from, for people
    (a derivation generation after them is left out)."""
    try:
        sequence, millis, event_hex = version.split(".")[:3]
        return (
            int(sequence),
            _EPOCH + dt.timedelta(milliseconds=int(millis)),
            bytes.fromhex(event_hex).decode("utf-8"),
        )
    except ValueError as exc:
        raise VersionError(f"{version!r} is not a record version: {exc}") from exc


def is_newer(candidate: str, current: str | None) -> bool:
    """Whether `candidate` supersedes `current`; anything beats no version at all."""
    return current is None or candidate > current
