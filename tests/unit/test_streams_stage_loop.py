"""The stage loop's order of acknowledgement and its partition bookkeeping (no Kafka)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from schemas.kafka.config import kafka_at
from schemas.message_size import MESSAGE_LIMIT_BYTES
from streams.runtime import stage_state
from streams.runtime.messages import Received
from streams.runtime.outputs import Outputs
from streams.runtime.stage_loop import StageLoop
from streams.runtime.stage_state import StagedTable, StageTables
from streams.runtime.state_store import MemoryTable


class RecordingOutputs(Outputs):
    """The stage loop's Outputs (size checks, held outputs) logging what it would produce
    and when a flush happened, instead of producing."""

    def __init__(self, limit: int = MESSAGE_LIMIT_BYTES) -> None:
        super().__init__(kafka_at("-"), "test", limit)
        self.log: list[Any] = []
        self.produced: list[tuple[str, bytes, dict[str, bytes]]] = []

    def _produce(self, topic, key, value, headers, where) -> None:
        self.log.append(("send", topic, key, value, where.get("partition")))
        self.produced.append((topic, value, dict(headers)))

    def flush_blocking(self, timeout: float = 0) -> None:
        self.log.append(("flush",))


class CountingStage:
    """Counts messages per key in a table and emits one output per message."""

    name = "count"

    def __init__(self) -> None:
        self.topics = ["in"]
        self.tables = StageTables("g", ("counts",))
        self.tables.partitions = {
            0: {"counts": MemoryTable()},
            1: {"counts": MemoryTable({"a": 5})},
        }

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
    loop = StageLoop(stages=[stage], group="g", kafka=kafka_at("-"), out=stage_outputs)
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


class HandingStage(CountingStage):
    """Intake's shape: hands records to another stage of the loop (`handoff`), and writes
    a table of its own."""

    name = "hands"

    def __init__(self) -> None:
        super().__init__()
        self.topics = ["up"]
        self.tables = StageTables("g", ("counts",))
        self.tables.partitions = {0: {"counts": MemoryTable()}}
        self.handoff = None


class TwoPhaseStage(CountingStage):
    """Items' shape: two tables, `done` acknowledged after `made`."""

    name = "phased"
    changelog_phases = (("made",), ("done",))

    def __init__(self) -> None:
        super().__init__()
        self.topics = ["phased"]
        self.tables = StageTables("g", ("done", "made"))
        self.tables.partitions = {0: {"done": MemoryTable(), "made": MemoryTable()}}

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None:
        tables["done"]["k"] = tables["made"]["k"] = message.offset


def test_changelogs_are_acknowledged_in_phases_the_handing_stage_last():
    hands, phased = HandingStage(), TwoPhaseStage()
    out = RecordingOutputs()
    loop = StageLoop(stages=[hands, phased], group="g", kafka=kafka_at("-"), out=out)
    acknowledged: list[tuple[int, list]] = []
    loop.after_changelog_phase = lambda index, phases: acknowledged.append((index, phases))
    out.log.clear()
    loop._process([Received("up", 0, 3, b"a", b"v", []), Received("phased", 0, 4, b"k", b"v", [])])
    flushed = [[e[1] for e in chunk if e[0] == "send"] for chunk in _between_flushes(out.log)]
    # Outputs, then each phase's changelog alone: made, done, then the handing stage's.
    assert flushed[1:] == [["g-made-changelog"], ["g-done-changelog"], ["g-counts-changelog"]]
    assert [index for index, _ in acknowledged] == [0, 1, 2]
    assert acknowledged[0][1] == [("made",), ("done",), ("counts",)]


def test_a_batch_without_writes_to_a_phase_skips_its_flush():
    phased = TwoPhaseStage()
    out = RecordingOutputs()
    loop = StageLoop(stages=[CountingStage(), phased], group="g", kafka=kafka_at("-"), out=out)
    out.log.clear()
    loop._process([message(1, 0, "a")])  # only the counting stage writes
    assert out.log.count(("flush",)) == 2  # the outputs, one changelog phase


def test_phases_that_leave_out_a_table_are_refused():
    stage = TwoPhaseStage()
    stage.changelog_phases = (("made",),)
    with pytest.raises(ValueError, match="not its tables"):
        StageLoop(stages=[stage], group="g", kafka=kafka_at("-"), out=RecordingOutputs())


def _between_flushes(log: list[Any]) -> list[list[Any]]:
    chunks: list[list[Any]] = [[]]
    for entry in log:
        if entry == ("flush",):
            chunks.append([])
        else:
            chunks[-1].append(entry)
    return chunks[:-1]


def test_a_deletion_is_a_tombstone_in_the_changelog():
    table = StagedTable(MemoryTable({"k": 1, "j": 2}))
    assert table.pop("k") == 1 and table.get("k") is None
    table["n"] = {"x": 1}
    assert table.commit_writes() == [("k", None), ("n", b'{"x":1}')]
    assert table.table == {"k": 1, "j": 2}  # applied only once the changelog acknowledged
    table.apply_writes()
    assert table.table == {"j": 2, "n": {"x": 1}}


def test_a_packed_table_keeps_values_as_their_changelog_bytes():
    table = StagedTable(MemoryTable(packed=True))
    table["91640422500000007B"] = {"name": "宁夏甲商贸有限公司", "former_names": []}
    records = table.commit_writes()
    table.apply_writes()
    assert records == [("91640422500000007B", table.table["91640422500000007B"])]
    assert "宁夏甲商贸有限公司".encode() in records[0][1]  # UTF-8, not JSON escapes
    reread = StagedTable(table.table)
    assert reread.get("91640422500000007B") == {"name": "宁夏甲商贸有限公司", "former_names": []}
    assert reread.get("missing", "none") == "none"


def test_the_changelog_holds_each_value_as_last_written_after_its_size_check(monkeypatch):
    encodes: list[Any] = []
    real = stage_state.encode_value
    monkeypatch.setattr(stage_state, "encode_value", lambda v: encodes.append(v) or real(v))
    table = StagedTable({})
    table.checkpoint()
    table["same"] = {"n": 1}
    table["read"] = {"n": 1}
    table["rewritten"] = {"n": 1}
    table["undone"] = {"n": 1}
    assert table.oversized(MESSAGE_LIMIT_BYTES) == []
    # A later message reads one value and changes it in place and writes another anew;
    # a third message is refused and undone.
    table.checkpoint()
    table.get("read")["n"] = 2
    table["rewritten"] = {"n": 3}
    table.oversized(MESSAGE_LIMIT_BYTES)
    table.checkpoint()
    table["undone"] = {"n": 4}
    table.oversized(MESSAGE_LIMIT_BYTES)
    table.rollback()
    encodes.clear()
    records = dict(table.commit_writes())
    assert records == {
        "same": b'{"n":1}', "read": b'{"n":2}', "rewritten": b'{"n":3}', "undone": b'{"n":1}'
    }  # fmt: skip
    # The size check's bytes serve the commit where the value is the one checked.
    assert encodes == [{"n": 2}, {"n": 1}]


def test_a_rebalance_keeps_held_partitions_drops_lost_ones_and_restores_new_ones(monkeypatch):
    restored: list[tuple[str, int]] = []

    def read_changelog(kafka: object, topic: str, partition: int, **_: object) -> dict:
        restored.append((topic, partition))
        return {"restored": partition}

    monkeypatch.setattr(stage_state, "read_changelog", read_changelog)
    stage = CountingStage()
    loop = StageLoop(stages=[stage], group="g", kafka=kafka_at("-"), out=stage_outputs)
    loop._assigned(None, [TopicPartition("in", 1), TopicPartition("in", 2)])
    assert restored == [("g-counts-changelog", 2)]
    assert stage.tables.partitions == {1: {"counts": {"a": 5}}, 2: {"counts": {"restored": 2}}}
    loop._lost(None, [TopicPartition("in", 1)])
    assert set(stage.tables.partitions) == {2}


class EchoingStage:
    """Appends each message's value to its key's list and echoes the value as an output:
    a large value makes a large output, many values a large state."""

    name = "echo"
    rejected = "rejected"

    def __init__(self, out: Outputs) -> None:
        self.out = out
        self.topics = ["in"]
        self.tables = StageTables("g", ("lists",))
        self.tables.partitions = {0: {"lists": MemoryTable()}}

    def handle(self, message: Received, tables: dict[str, StagedTable]) -> None:
        key = message.key.decode()
        lists = tables["lists"]
        lists[key] = [*(lists.get(key) or []), message.value.decode()]
        self.out.send("out", message.key, message.value)

    def tick(self, now: float) -> None:
        pass


def echo(offset: int, key: str, value: str) -> Received:
    return Received("in", 0, offset, key.encode(), value.encode(), [("event_id", b"e%d" % offset)])


def test_a_message_whose_output_is_too_large_is_refused_whole_and_the_batch_goes_on():
    out = RecordingOutputs(limit=2_000)
    stage = EchoingStage(out)
    loop = StageLoop(stages=[stage], group="g", kafka=kafka_at("-"), out=out)
    loop._process([echo(0, "a", "x"), echo(1, "a", "y" * 3_000), echo(2, "b", "z")])
    sent = [(topic, v) for topic, v, _ in out.produced if topic == "out"]
    assert sent == [("out", b"x"), ("out", b"z")]
    # Its table write was undone: the changelog holds only what the others wrote.
    assert stage.tables.partitions[0]["lists"] == {"a": ["x"], "b": ["z"]}
    ((_, letter, headers),) = [p for p in out.produced if p[0] == "rejected"]
    assert headers["creditsync.reason_code"] == b"output_too_large"
    assert headers["__connect.errors.offset"] == b"1"
    assert headers["creditsync.event_id"] == b"e1"
    reason = headers["__connect.errors.exception.message"].decode()
    assert "in[0]@1" in reason and "超过主题消息上限 2000 字节" in reason
    # The dead letter itself would not fit: cut, marked, and the original's place named.
    assert len(letter) < 2_000 and letter.endswith(b" bytes]")
    assert headers["creditsync.truncated-fields"] == b"value"


def test_a_message_that_would_grow_a_state_value_past_the_limit_is_refused():
    out = RecordingOutputs(limit=1_000)
    stage = EchoingStage(out)
    loop = StageLoop(stages=[stage], group="g", kafka=kafka_at("-"), out=out)
    batch = [echo(i, "a", f"{i:03d}" + "v" * 197) for i in range(8)] + [echo(8, "b", "ok")]
    loop._process(batch)
    kept = stage.tables.partitions[0]["lists"]
    # Four values of 200 characters fit one changelog record of 1,000 bytes; the rest not.
    assert [v[:3] for v in kept["a"]] == ["000", "001", "002", "003"]
    assert kept["b"] == ["ok"]
    refused = [h for topic, _, h in out.produced if topic == "rejected"]
    assert [h["__connect.errors.offset"] for h in refused] == [b"4", b"5", b"6", b"7"]
    assert {h["creditsync.reason_code"] for h in refused} == {b"state_too_large"}
    assert "状态表 echo.lists 中键 'a'" in refused[0]["__connect.errors.exception.message"].decode()
    # Their outputs were discarded with them.
    assert [v[:3] for topic, v, _ in out.produced if topic == "out"] == [
        b"000",
        b"001",
        b"002",
        b"003",
        b"ok",
    ]
