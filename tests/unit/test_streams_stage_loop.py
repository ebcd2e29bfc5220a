"""The stage loop's order of acknowledgement and its partition bookkeeping (no Kafka)."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import TopicPartition

from streams import stage_state
from streams.sink_loop import Received
from streams.stage_loop import StageLoop
from streams.stage_state import StagedTable, StageTables


class RecordingOutputs:
    """Outputs that log what was sent and when a flush happened."""

    def __init__(self) -> None:
        self.log: list[Any] = []

    def send(self, topic, key, value, headers=None, *, partition=None) -> None:
        self.log.append(("send", topic, key, value, partition))

    def flush_blocking(self, timeout: float = 0) -> None:
        self.log.append(("flush",))


class CountingStage:
    """Counts messages per key in a table and emits one output per message."""

    name = "count"

    def __init__(self) -> None:
        self.topics = ["in"]
        self.tables = StageTables("g", ("counts",))
        self.tables.partitions = {0: {"counts": {}}, 1: {"counts": {"a": 5}}}

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None:
        key = message.key.decode()
        counts = tables["counts"]
        counts[key] = (counts.get(key) or 0) + 1
        stage_outputs.send("out", message.key, b"seen")

    def tick(self, now: float) -> None:
        pass


stage_outputs = RecordingOutputs()


def message(partition: int, offset: int, key: str) -> Received:
    return Received("in", partition, offset, key.encode(), b"v", [])


def test_outputs_are_acknowledged_before_the_state_that_says_they_were_sent():
    stage = CountingStage()
    loop = StageLoop(stages=[stage], group="g", bootstrap="-", out=stage_outputs)
    stage_outputs.log.clear()
    loop._process([message(0, 0, "a"), message(1, 7, "a"), message(0, 1, "a")])
    log = stage_outputs.log
    first_flush = log.index(("flush",))
    outputs = [e for e in log[:first_flush] if e[1] == "out"]
    changelog = [e for e in log[first_flush:] if e[0] == "send"]
    assert len(outputs) == 3  # every output before the first flush
    assert all(e[1] == "g-counts-changelog" for e in changelog)
    # One write per key and partition, on the partition the state belongs to.
    assert sorted((e[4], e[2], json.loads(e[3])) for e in changelog) == [(0, b"a", 2), (1, b"a", 6)]
    assert log[-1] == ("flush",)  # the changelog is acknowledged before the commit
    assert stage.tables.partitions == {0: {"counts": {"a": 2}}, 1: {"counts": {"a": 6}}}


def test_a_deletion_is_a_tombstone_in_the_changelog():
    table = StagedTable({"k": 1, "j": 2})
    assert table.pop("k") == 1 and table.get("k") is None
    table["n"] = {"x": 1}
    assert table.commit_writes() == [("k", None), ("n", b'{"x":1}')]
    assert table.table == {"j": 2, "n": {"x": 1}}


def test_a_packed_table_keeps_values_as_their_changelog_bytes():
    table = StagedTable({}, packed=True)
    table["91640422500000007B"] = {"name": "宁夏甲商贸有限公司", "former_names": []}
    records = table.commit_writes()
    assert records == [("91640422500000007B", table.table["91640422500000007B"])]
    assert "宁夏甲商贸有限公司".encode() in records[0][1]  # UTF-8, not JSON escapes
    reread = StagedTable(table.table, packed=True)
    assert reread.get("91640422500000007B") == {"name": "宁夏甲商贸有限公司", "former_names": []}
    assert reread.get("missing", "none") == "none"


def test_a_rebalance_keeps_held_partitions_drops_lost_ones_and_restores_new_ones(monkeypatch):
    restored: list[tuple[str, int]] = []

    def read_changelog(bootstrap: str, topic: str, partition: int, **_: object) -> dict:
        restored.append((topic, partition))
        return {"restored": partition}

    monkeypatch.setattr(stage_state, "read_changelog", read_changelog)
    stage = CountingStage()
    loop = StageLoop(stages=[stage], group="g", bootstrap="-", out=stage_outputs)
    loop._assigned(None, [TopicPartition("in", 1), TopicPartition("in", 2)])
    assert restored == [("g-counts-changelog", 2)]
    assert stage.tables.partitions == {1: {"counts": {"a": 5}}, 2: {"counts": {"restored": 2}}}
    loop._lost(None, [TopicPartition("in", 1)])
    assert set(stage.tables.partitions) == {2}
