"""Bulk loading for `creditsync bench --scale N`: a sample through the real pipeline, the rest
cloned from it straight into the stage changelogs and the publicity index.

Why clones, and why they are honest for what is measured: the pipeline takes ~2,000 events/s
on this machine, so 5,000,000 enterprises (~7.5M events) would take an hour before anything
is measured. Instead a sample of enterprises (bench.scale_mix.sample_size) goes through the
real stages and the real publicity sink; every changelog record and every credit.records
record they wrote is then copied for each further enterprise with only the codes and the name
replaced (same sizes, same shapes), onto the partition the worker looks that key up in
(murmur2 of the owning code, checked against the sample's own placement). The figures are
then about real state: the worker restores exactly what it would have written (RSS, restart,
restore), and the index is written through `PublicityIndex.write_batch`, the sink's own code
path (Redis memory, look-up, search). What is NOT measured this way is the ingest rate of the
load itself. Memory of this process stays bounded: only the sample is held; clones stream.

The clones are written by processes of their own (`clone_in_processes`): one producing the
changelogs, the others writing the index over ranges of enterprises, so that the load uses
every core instead of one interpreter's (at 5,000,000 enterprises it is ~30M messages and
~7.5M index records).
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from typing import Any

import redis
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.cimpl import murmur2

from bench.scale_mix import Identity, clone_value, enterprise_mix, owning_code, substitution
from bench.workload import EventFactory, enterprise_codes, enterprise_name, record_row
from schemas.codec import decode_enriched
from schemas.kafka.config import client_config, kafka_at
from schemas.records import IntakeEvent
from sinks.publicity import PublicityIndex
from streams.rules.triage import NAME_ALIAS_PREFIX

Say = Callable[[str], None]
INDEX_BATCH = 5000
PROGRESS_EVERY = 50_000
# Clones are produced like the stages' own changelog writes, but as fast as possible.
PRODUCER_CONFIG = {
    "compression.type": "lz4",
    "linger.ms": 50,
    "batch.size": 1_048_576,
    "queue.buffering.max.messages": 200_000,
    "acks": "all",
}


def partition_keys(ident: Identity) -> list[str]:
    """The table keys a worker looks one enterprise up by: its three codes and its name's
    alias key (streams.rules.triage), each partitioned by its own murmur2."""
    return [*ident[:3], NAME_ALIAS_PREFIX + ident[3]]


def identity(n: int) -> Identity:
    codes = enterprise_codes(n)
    return (
        codes["uscc"],
        codes["registration_number"],
        codes["organisation_code"],
        enterprise_name(n),
    )


def sample_events(enterprises: int, factory: EventFactory | None = None) -> Iterator[IntakeEvent]:
    """The sample's intake events: every registration first, then each enterprise's records
    in the mix (bench.scale_mix.enterprise_mix), so none is parked."""
    factory = factory or EventFactory()
    yield from factory.registrations(enterprises)
    sequence = 10_000_000
    for n in range(enterprises):
        uscc = enterprise_codes(n)["uscc"]
        for category, count in enterprise_mix(n).items():
            for k in range(count):
                sequence += 1
                yield factory.event(category, record_row(category, sequence, uscc, k), sequence)


def read_topic(bootstrap: str, topic: str) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(partition, key, value) of every message of `topic`, to the high watermarks."""
    kafka = kafka_at(bootstrap)
    consumer = Consumer(
        client_config(
            kafka,
            group_id="bench-scale-reader",
            enable_auto_commit=False,
            enable_partition_eof=True,
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {}
        for p in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        while ends:
            for m in consumer.consume(10_000, timeout=1.0):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        ends.pop(m.partition(), None)
                        continue
                    raise KafkaException(m.error())
                yield m.partition(), m.key(), m.value()
                if m.offset() + 1 >= ends.get(m.partition(), 0):
                    ends.pop(m.partition(), None)
    finally:
        consumer.close()


class Sample:
    """What the real pipeline wrote for the sample enterprises, grouped by enterprise."""

    def __init__(self, enterprises: int, partitions: int) -> None:
        self.enterprises = enterprises
        self.partitions = partitions
        self.identities = [identity(n) for n in range(enterprises)]
        self.owner_of = {
            code: n for n, ident in enumerate(self.identities) for code in partition_keys(ident)
        }
        # changelog topic -> enterprise -> [(key, value)] (the latest value of each key)
        self.changelogs: dict[str, dict[int, list[tuple[str, bytes]]]] = {}
        self.records: dict[int, list[Any]] = defaultdict(list)  # decoded credit.records

    def read_changelogs(self, bootstrap: str, topics: list[str]) -> dict[str, int]:
        """Read each changelog; check every key sits on the partition of its owning code.
        Keys of no enterprise (none expected) are counted and left out."""
        counts: dict[str, int] = {}
        for topic in topics:
            latest: dict[str, tuple[int, bytes | None]] = {}
            for partition, key, value in read_topic(bootstrap, topic):
                latest[key.decode()] = (partition, value)
            by_owner: dict[int, list[tuple[str, bytes]]] = defaultdict(list)
            unowned = 0
            for key, (partition, value) in latest.items():
                if value is None:
                    continue
                code = owning_code(key, self.owner_of)
                if code is None:
                    unowned += 1
                    continue
                expected = murmur2(code.encode(), self.partitions)
                if expected != partition:
                    raise RuntimeError(
                        f"scale bench: {topic} key {key!r} is on partition {partition}, "
                        f"murmur2({code}) gives {expected}: the stage tables are no longer "
                        "partitioned by the code in their key, cloning would misplace them"
                    )
                by_owner[self.owner_of[code]].append((key, value))
            self.changelogs[topic] = by_owner
            counts[topic] = sum(map(len, by_owner.values()))
            if unowned:
                counts[f"{topic} (not cloned: no enterprise code in key)"] = unowned
        return counts

    def read_records(self, bootstrap: str, topic: str) -> int:
        count = 0
        for _, key, value in read_topic(bootstrap, topic):
            owner = self.owner_of.get(key.decode()) if key else None
            if value is None or owner is None:
                continue
            self.records[owner].append(decode_enriched(value))
            count += 1
        return count

    def changelog_records_per_enterprise(self) -> float:
        total = sum(len(v) for t in self.changelogs.values() for v in t.values())
        return total / max(1, self.enterprises)


def clone_changelogs(
    bootstrap: str, sample: Sample, enterprises: int, say: Say, first: int | None = None
) -> dict[str, Any]:
    """Produce every sample changelog record again for enterprises `first` (default: the
    sample's size) … enterprises-1."""
    producer = Producer(
        client_config(kafka_at(bootstrap), defaults=PRODUCER_CONFIG, client_id="bench-scale")
    )
    started, produced, failures = time.perf_counter(), 0, []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for n in range(sample.enterprises if first is None else first, enterprises):
        template = n % sample.enterprises
        ident = identity(n)
        replace = substitution(sample.identities[template], ident)
        for topic, by_owner in sample.changelogs.items():
            for key, value in by_owner.get(template, ()):
                new_key = replace(key)
                code = owning_code(new_key, dict.fromkeys(partition_keys(ident), n))
                if code is None:
                    raise RuntimeError(f"scale bench: cloned key {new_key!r} names no code")
                body = replace(value.decode()).encode()
                while True:
                    try:
                        producer.produce(
                            topic,
                            value=body,
                            key=new_key.encode(),
                            partition=murmur2(code.encode(), sample.partitions),
                            on_delivery=delivered,
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)  # the queue is full: bounded memory, wait
                produced += 1
        producer.poll(0)
        if failures:
            raise RuntimeError(f"scale bench: changelog clone not delivered: {failures[0]}")
        if n % PROGRESS_EVERY == 0:
            say(f"changelogs: {n:,}/{enterprises:,} enterprises")
    remaining = producer.flush(300)
    if remaining or failures:
        raise RuntimeError(
            f"scale bench: {remaining} changelog clones unsent, failures: {failures[:3]}"
        )
    seconds = time.perf_counter() - started
    return {
        "records": produced,
        "seconds": round(seconds, 1),
        "records_per_s": round(produced / seconds, 1) if seconds > 0 else None,
    }


def clone_index(
    index: PublicityIndex, sample: Sample, enterprises: int, say: Say, first: int | None = None
) -> dict[str, Any]:
    """Write each sample enterprise's records again for enterprises `first` (default: the
    sample's size) … enterprises-1 through the sink's own `write_batch`."""
    started, written, applied, rejected = time.perf_counter(), 0, 0, 0
    batch: list[Any] = []

    def flush() -> None:
        nonlocal applied, rejected
        result = index.write_batch(batch)
        applied += result.applied
        rejected += len(result.rejected)
        batch.clear()

    for n in range(sample.enterprises if first is None else first, enterprises):
        template = n % sample.enterprises
        replace = substitution(sample.identities[template], identity(n))
        for record in sample.records.get(template, ()):
            batch.append(clone_value(record, replace))
            written += 1
        if len(batch) >= INDEX_BATCH:
            flush()
        if n % PROGRESS_EVERY == 0:
            say(f"index: {n:,}/{enterprises:,} enterprises")
    if batch:
        flush()
    seconds = time.perf_counter() - started
    return {
        "records": written,
        "applied": applied,
        "rejected": rejected,
        "seconds": round(seconds, 1),
        "records_per_s": round(written / seconds, 1) if seconds > 0 else None,
    }


def _quiet(_: str) -> None:
    """Progress of a loading process: reported by the parent per finished range instead."""


def _changelogs_job(bootstrap: str, sample: Sample, enterprises: int) -> dict[str, Any]:
    return clone_changelogs(bootstrap, sample, enterprises, _quiet)


def _index_job(redis_url: str, sample: Sample, first: int, end: int) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    try:
        index = PublicityIndex(client)
        index.setup()  # the marker exists already: this loads the scripts
        return clone_index(index, sample, end, _quiet, first=first)
    finally:
        client.close()


def clone_in_processes(
    bootstrap: str,
    redis_url: str,
    sample: Sample,
    enterprises: int,
    say: Say,
    index_processes: int = 2,
    ranges_per_process: int = 8,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both clones at once, in `1 + index_processes` processes (spawned: this process has
    Kafka clients' threads, which a fork would copy in an undefined state); the changelog
    and index summaries, the index's summed over its ranges."""
    start = time.perf_counter()
    bounds = [
        sample.enterprises + (enterprises - sample.enterprises) * i // (index_processes
                                                                        * ranges_per_process)
        for i in range(index_processes * ranges_per_process + 1)
    ]  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1 + index_processes, mp_context=context) as pool:
        logs = pool.submit(_changelogs_job, bootstrap, sample, enterprises)
        parts = [
            pool.submit(_index_job, redis_url, sample, lo, hi)
            for lo, hi in itertools.pairwise(bounds)
            if hi > lo
        ]
        pending: set[Future[dict[str, Any]]] = {logs, *parts}
        while pending:
            done, pending = wait(pending, timeout=60, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # a failed range stops the load here, with its error
            finished = sum(p.done() for p in parts)
            say(
                f"loading: index ranges {finished}/{len(parts)}, changelogs "
                f"{'done' if logs.done() else 'running'}, {time.perf_counter() - start:.0f}s"
            )
    index = [p.result() for p in parts]
    written = sum(r["records"] for r in index)
    seconds = time.perf_counter() - start
    summary = {
        "records": written,
        "applied": sum(r["applied"] for r in index),
        "rejected": sum(r["rejected"] for r in index),
        "seconds": round(seconds, 1),
        "records_per_s": round(written / seconds, 1) if seconds > 0 else None,
        "processes": index_processes,
    }
    return logs.result(), summary
