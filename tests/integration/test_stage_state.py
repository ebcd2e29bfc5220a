"""A stage table restored from its changelog on a real broker: last value wins, a
tombstone deletes, and each partition holds only its own keys; on disk (issue #18), a clean
restart reads only the changelog's tail, and a worker without its stores reads it all."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas.kafka.config import client_config, kafka_at
from schemas.topics import RECORDS
from streams.app import CreditStreams, WorkerConfig, build_app
from streams.runtime.outputs import Outputs
from streams.runtime.stage_state import changelog_topic, declare_topics, read_changelog
from streams.runtime.state_store import RocksTable
from streams.worker import run_worker
from tests.intake_factory import enterprise_codes, license_, penalty, publish, registration
from tests.integration.helpers import stage_config

pytestmark = pytest.mark.integration


def test_a_table_is_restored_from_its_changelog_partition(kafka_bootstrap, topic_prefix):
    topic = changelog_topic(f"{topic_prefix}creditsync", "registry")
    declare_topics(kafka_at(kafka_bootstrap), [topic], 4, compacted=True)
    out = Outputs(kafka_at(kafka_bootstrap), "test-changelog")
    for key, value in [("a", 1), ("b", {"name": "乙"}), ("a", None), ("c", 3), ("b", 2)]:
        body = None if value is None else json.dumps(value).encode()
        out.send(topic, key.encode(), body, partition=1)
    out.send(topic, b"elsewhere", b"0", partition=2)
    out.flush_blocking()
    out.close()
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 1) == {"b": 2, "c": 3}
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 2) == {"elsewhere": 0}
    assert read_changelog(kafka_at(kafka_bootstrap), topic, 0) == {}


PARTITIONS = 4
NOW = dt.datetime(2024, 3, 9, 2, 0, tzinfo=dt.UTC)


def on_disk(config: WorkerConfig, group: str) -> dict[tuple[str, int], dict]:
    """Every table partition the stopped worker left on disk, read from its RocksDB."""
    found = {}
    for path in sorted((config.state_dir / group / "0").glob("*/*")):
        store = RocksTable(path)
        found[(path.parent.name, int(path.name))] = dict(store.items())
        store.close()
    return found


def rebuilt(config: WorkerConfig, group: str) -> dict[tuple[str, int], dict]:
    """The same tables rebuilt from their changelogs."""
    return {
        (name, p): read_changelog(config.kafka, changelog_topic(group, name), p)
        for name in ("registry", "aliases", "parked", "items", "notices")
        for p in range(PARTITIONS)
    }


def changelog_records(config: WorkerConfig, group: str) -> int:
    probe = Consumer(client_config(config.kafka, group_id=f"{group}-probe"))
    try:
        return sum(
            high - low
            for name in ("registry", "aliases", "parked", "items", "notices")
            for p in range(PARTITIONS)
            for low, high in [
                probe.get_watermark_offsets(
                    TopicPartition(changelog_topic(group, name), p), timeout=10
                )
            ]
        )
    finally:
        probe.close()


def start(config: WorkerConfig, records: int | None = None) -> tuple[int, CreditStreams]:
    """Run the worker until credit.records holds `records` (None: until every partition is
    restored), stop it cleanly; the changelog records its restores read."""
    streams = build_app(config)
    loop = streams.stage_loop
    probe = Consumer(client_config(config.kafka, group_id=f"{config.topic_prefix}probe"))

    def done() -> bool:
        if records is not None:
            return records <= sum(
                high - low
                for low, high in (
                    probe.get_watermark_offsets(
                        TopicPartition(config.topic(RECORDS), p), timeout=10
                    )
                    for p in range(PARTITIONS)
                )
            )
        # Partitions appear as they are restored; `restoring` is false again once all are.
        held = all(len(s.tables.partitions) == PARTITIONS for s in loop.stages)
        return held and not loop.restoring

    try:
        assert run_worker(streams, until=done, timeout=180)
    finally:
        probe.close()
    return sum(s.tables.restored_records for s in loop.stages), streams


def test_a_clean_restart_reads_the_changelog_tail_and_a_lost_store_all_of_it(
    kafka_bootstrap, tmp_path
):
    config = stage_config(
        kafka_bootstrap,
        tmp_path,
        "rocks",
        partitions=PARTITIONS,
        clock=lambda: NOW,
        stages=("intake", "items"),
        state_store="rocksdb",
    )
    prefix = config.topic_prefix
    group = f"{prefix}{config.app_id}"
    events = []
    for n in range(40, 52):
        c = enterprise_codes(n)
        events += [
            registration(n, f"宁夏第{n}号商贸有限公司"),
            license_(c["uscc"], f"JY16404220000{n}"),
            penalty(c["organisation_code"], f"宁市监罚〔2024〕{n}号"),  # via its alias
        ]
    publish(kafka_bootstrap, events, prefix)
    read_first, _ = start(config, records=len(events))
    assert read_first == 0  # new changelogs: nothing to restore
    state = on_disk(config, group)
    assert state == rebuilt(config, group)  # every table partition, equal to a rebuild
    assert sum(len(t) for t in state.values()) >= 4 * 12  # registry, aliases ×2, items
    # While it is stopped, two records reach a registry changelog (as from a member that
    # held the partition meanwhile): the same values again, so the state stays the same.
    p, key, value = next(
        (p, k, v)
        for (name, p), table in state.items()
        if name == "registry"
        for k, v in table.items()
    )
    out = Outputs(kafka_at(kafka_bootstrap), "test-changelog")
    for _ in range(2):
        out.send(changelog_topic(group, "registry"), key.encode(), orjson.dumps(value), partition=p)
    out.flush_blocking()
    out.close()

    # A clean restart reads only those two, then processes what arrived meanwhile.
    c = enterprise_codes(52)
    publish(kafka_bootstrap, [license_(c["uscc"], "JY1640422000052")], prefix)
    read_tail, _ = start(config, records=len(events) + 1)
    assert read_tail == 2
    state = on_disk(config, group)
    assert state == rebuilt(config, group)
    items = [k for (name, _), table in state.items() if name == "items" for k in table]
    assert any(k.startswith(c["uscc"]) for k in items)  # the licence that came meanwhile

    # A new machine: no stores; every changelog record is read, and the state is the same.
    shutil.rmtree(config.state_dir)
    everything = changelog_records(config, group)
    read_all, _ = start(config)
    assert read_all == everything
    assert on_disk(config, group) == state


def test_a_restriction_expires_after_a_clean_restart_from_the_due_dates_kept_on_disk(
    kafka_bootstrap, tmp_path
):
    """The RocksDB items table keeps its own due-date index (streams/rules/expiry.py): a
    restart reads no item into memory, and an item that fell due while the worker was
    stopped still leaves the public view."""

    from tests.intake_factory import restriction

    today = {"now": NOW}
    config = stage_config(
        kafka_bootstrap,
        tmp_path,
        "due",
        partitions=PARTITIONS,
        clock=lambda: today["now"],
        stages=("intake", "items"),
        state_store="rocksdb",
        expiry_check_seconds=0.2,
    )
    prefix = config.topic_prefix
    group = f"{prefix}{config.app_id}"
    c, d = enterprise_codes(60), enterprise_codes(61)
    events = [
        registration(60, "宁夏第60号商贸有限公司"),
        registration(61, "宁夏第61号商贸有限公司"),
        restriction(c["uscc"], restricted_to="2024-03-12"),
        restriction(d["uscc"], restricted_to="2024-06-30"),
    ]
    publish(kafka_bootstrap, events, prefix)
    start(config, records=len(events))

    def restrictions() -> dict[str, str]:
        return {
            k.split("|", 1)[0]: v["status"]
            for (name, _), table in on_disk(config, group).items()
            if name == "items"
            for k, v in table.items()
            if "restriction" in k
        }

    assert restrictions() == {c["uscc"]: "public", d["uscc"]: "public"}
    # Stopped over the due date of C's restriction; the restart reads no changelog record.
    today["now"] = dt.datetime(2024, 3, 13, 2, 0, tzinfo=dt.UTC)
    read_tail, _ = start(config, records=len(events) + 1)
    assert read_tail == 0
    assert restrictions() == {c["uscc"]: "expired", d["uscc"]: "public"}
    assert on_disk(config, group) == rebuilt(config, group)
