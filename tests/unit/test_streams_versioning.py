"""Record versions: string order is exactly (source_sequence, emitted_at ms, event_id) order."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import VersionError
from streams.rules.versioning import derived_version, is_newer, parse_version, record_version

UTC = dt.UTC
instants = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
)
sequences = st.integers(min_value=0, max_value=2**63 - 1)
event_ids = st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=20))


def _millis(instant: dt.datetime) -> int:
    delta = instant - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# No deadline: timing is not what these tests check, and CI machines are shared.
@settings(deadline=None)
@given(sequences, instants, event_ids, sequences, instants, event_ids)
def test_string_order_is_tuple_order(s1, t1, e1, s2, t2, e2) -> None:
    v1, v2 = record_version(s1, t1, e1), record_version(s2, t2, e2)
    k1, k2 = (s1, _millis(t1), e1), (s2, _millis(t2), e2)
    assert (v1 < v2) == (k1 < k2)
    assert (v1 == v2) == (k1 == k2)
    assert is_newer(v1, v2) == (k1 > k2)


# No deadline: timing is not what these tests check, and CI machines are shared.
@settings(deadline=None)
@given(sequences, instants, event_ids)
def test_parse_gives_the_parts_back(sequence, emitted_at, event_id) -> None:
    seq, emitted, eid = parse_version(record_version(sequence, emitted_at, event_id))
    assert (seq, _millis(emitted), eid) == (sequence, _millis(emitted_at), event_id)


# No deadline: timing is not what these tests check, and CI machines are shared.
@settings(deadline=None)
@given(sequences, instants, st.uuids().map(str), st.uuids().map(str))
def test_versions_use_only_locale_safe_characters(sequence, emitted_at, e1, e2) -> None:
    v1 = record_version(sequence, emitted_at, e1)
    assert set(v1) <= set("0123456789abcdef.")
    # Same sequence and instant: the fixed-width prefix is the same length for any id.
    assert v1.index(".", 21) == record_version(sequence, emitted_at, e2).index(".", 21)


def test_same_millisecond_orders_by_event_id() -> None:
    at = dt.datetime(2024, 3, 1, 8, 0, 0, 123_456, tzinfo=UTC)
    assert record_version(1, at, "a") < record_version(1, at.replace(microsecond=123_999), "b")


def test_nothing_is_older_than_a_first_version() -> None:
    assert is_newer(record_version(0, dt.datetime(1970, 1, 1, tzinfo=UTC), "x"), None)


@pytest.mark.parametrize(
    ("sequence", "emitted_at", "message"),
    [
        (-1, dt.datetime(2024, 1, 1, tzinfo=UTC), "source_sequence -1"),
        (10**20, dt.datetime(2024, 1, 1, tzinfo=UTC), "source_sequence"),
        (1, dt.datetime(2024, 1, 1), "no time zone"),
        (1, dt.datetime(1969, 12, 31, tzinfo=UTC), "before 1970"),
    ],
)
def test_out_of_range_parts_are_refused(sequence, emitted_at, message) -> None:
    with pytest.raises(VersionError, match=message):
        record_version(sequence, emitted_at, "event-1")


def test_garbage_is_not_a_version() -> None:
    with pytest.raises(VersionError, match="not a record version"):
        parse_version("latest")


generations = st.integers(min_value=0, max_value=999_999)


@settings(deadline=None)
@given(sequences, instants, event_ids, generations, sequences, instants, event_ids, generations)
def test_a_derivation_generation_only_breaks_the_tie_of_one_event(
    s1, t1, e1, g1, s2, t2, e2, g2
) -> None:
    v1 = derived_version(record_version(s1, t1, e1), g1)
    v2 = derived_version(record_version(s2, t2, e2), g2)
    k1 = (s1, _millis(t1), e1.encode(), g1)
    k2 = (s2, _millis(t2), e2.encode(), g2)
    assert (v1 > v2) == (k1 > k2)
    assert parse_version(v1)[2] == e1


def test_a_rederived_record_supersedes_the_first_derivation() -> None:
    first = record_version(7, dt.datetime(2024, 5, 1, tzinfo=UTC), "event-1")
    assert derived_version(first, 0) == first
    assert is_newer(derived_version(first, 1), first)
    assert is_newer(derived_version(first, 2), derived_version(first, 1))
    with pytest.raises(VersionError, match="generation"):
        derived_version(first, 10**6)
