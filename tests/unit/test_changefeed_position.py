"""Poller positions: kept with their types, replaced atomically, refused when corrupt."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from producers.changefeed import PollPosition, PositionError, PositionStore


@pytest.mark.parametrize(
    "sequence",
    [
        dt.datetime(2024, 3, 4, 10, 0, 0, 123456),
        dt.datetime(2024, 3, 4, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.date(2024, 3, 4),
        2**62,
        Decimal("12.50"),
        "2024-03-04 10:00:00",
    ],
)
def test_a_position_reads_back_as_the_same_values(tmp_path, sequence):
    store = PositionStore.under(tmp_path, "hb-640000", "public.penalties")
    assert store.load() is None
    store.save(PollPosition(sequence, (42, "A-7")))
    again = PositionStore.under(tmp_path, "hb-640000", "public.penalties").load()
    assert again == PollPosition(sequence, (42, "A-7"))
    assert type(again.sequence) is type(sequence)
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]  # no temp left


def test_a_corrupt_or_foreign_position_is_refused_not_guessed(tmp_path):
    store = PositionStore(tmp_path / "p.json", "penalties")
    store.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(PositionError, match="fix or delete it"):
        store.load()
    PositionStore(store.path, "licences").save(PollPosition(1, (1,)))
    with pytest.raises(PositionError, match="table 'licences', not 'penalties'"):
        store.load()


def test_null_and_boolean_are_no_position(tmp_path):
    store = PositionStore(tmp_path / "p.json", "t")
    with pytest.raises(PositionError, match="NULL or boolean"):
        store.save(PollPosition(None, (1,)))
    assert not store.path.exists()
