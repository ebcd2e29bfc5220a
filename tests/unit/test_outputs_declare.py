"""Outputs to a topic made on first use wait for the batch's flush, which declares the new
topics with one call before producing them, in order; held outputs discarded leave nothing."""

from __future__ import annotations

from schemas.kafka.config import kafka_at
from streams.runtime.outputs import Outputs


class ProducedOutputs(Outputs):
    """Outputs whose producer is a list (no broker): what reached it, in order."""

    def __init__(self) -> None:
        self.declared: list[list[str]] = []
        super().__init__(kafka_at("-"), "test", declare=self.declared.append)
        self.produced: list[tuple[str, bytes | None]] = []
        self._kafka.produce = lambda topic, value, key, headers, partition=None: (  # type: ignore[method-assign]
            self.produced.append((topic, value))
        )
        self._kafka.flush = lambda timeout: 0  # type: ignore[method-assign]


def test_a_new_topic_is_declared_once_at_the_flush_and_its_outputs_follow_in_order():
    out = ProducedOutputs()
    out.known_topics(["notices.tax"])
    out.send("notices.tax", b"k", b"1", declare=True)
    out.send("notices.court", b"k", b"2", declare=True)
    out.send("log", b"k", b"3")
    out.send("notices.court", b"k", b"4")  # after a declared one: waits behind it
    assert out.produced == [("notices.tax", b"1"), ("log", b"3")]
    assert out.declared == []  # nothing while messages are handled

    out.flush_blocking()
    assert out.declared == [["notices.court"]]
    assert out.produced[2:] == [("notices.court", b"2"), ("notices.court", b"4")]

    out.send("notices.court", b"k", b"5", declare=True)
    out.flush_blocking()
    assert out.declared == [["notices.court"]]  # known now: not declared again
    assert out.produced[-1] == ("notices.court", b"5")


def test_a_discarded_held_output_to_a_new_topic_is_not_produced():
    out = ProducedOutputs()
    out.hold()
    out.send("notices.court", b"k", b"refused", declare=True)
    out.discard()
    out.flush_blocking()
    assert out.produced == []
