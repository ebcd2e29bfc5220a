"""Records decoded once for all the sink loops of a process (streams.runtime.shared_decodes)."""

from __future__ import annotations

from streams.runtime.shared_decodes import SharedDecodes


class FakeMessage:
    def __init__(self, offset: int, partition: int = 0) -> None:
        self._offset, self._partition = offset, partition

    def topic(self) -> str:
        return "credit.records"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return f"{self._partition}:{self._offset}".encode()


def counting_decode(calls: list[bytes]):
    def decode(value: bytes) -> dict:
        calls.append(value)
        return {"decoded": value.decode()}

    return decode


def test_the_second_loop_gets_the_first_loops_records_without_decoding() -> None:
    calls: list[bytes] = []
    shared = SharedDecodes(2, counting_decode(calls))
    batch = [FakeMessage(o) for o in range(5)]
    first = shared.records(batch)
    second = shared.records(batch)
    assert [r["decoded"] for r in second] == [f"0:{o}" for o in range(5)]
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert len(calls) == 5  # decoded once, not once per loop
    assert len(shared) == 0  # both loops took them: nothing is held


def test_a_loop_far_behind_decodes_for_itself_and_nothing_grows_past_the_limit() -> None:
    calls: list[bytes] = []
    shared = SharedDecodes(2, counting_decode(calls), limit=3)
    batch = [FakeMessage(o) for o in range(10)]
    shared.records(batch)
    assert len(shared) == 3
    late = shared.records(batch)
    assert [r["decoded"] for r in late] == [f"0:{o}" for o in range(10)]
    assert len(calls) == 10 + 7  # the 7 dropped were decoded again
    # What the late loop decoded is left for a loop that has passed it already: held until
    # pushed out, and never more than the limit.
    assert len(shared) <= 3


def test_records_decoded_by_both_loops_at_once_are_not_held() -> None:
    calls: list[bytes] = []
    shared = SharedDecodes(2, counting_decode(calls))
    message = FakeMessage(1, partition=3)
    # Both loops missed it (each decoded it before the other left it): once both have left
    # it, it counts as read by both.
    record = shared.decode(message.value())
    shared._leave(("credit.records", 3, 1), record)
    shared._leave(("credit.records", 3, 1), record)
    assert len(shared) == 0


def test_one_reader_holds_nothing() -> None:
    shared = SharedDecodes(1, counting_decode([]))
    shared.records([FakeMessage(o) for o in range(4)])
    assert len(shared) == 0
