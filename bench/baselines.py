"""Transport baselines on the benchmark's broker, with the same Avro intake events.

(a) confluent-kafka: produce, then `consume(num_messages=…)` + decode — the transport limit
    of one Python process; (b) aiokafka `getmany()` + decode — the transport of an asyncio
    stream framework (Faust), only with the `bench` extra installed, skipped otherwise;
(c) a produce → consume echo at a fixed rate, for the latency floor under the pipeline.
Rates are measured from the first message received to the last, so the consumer group
join (seconds, and the same for every consumer) does not dilute them.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

from bench.env import PARTITIONS, publish_all
from bench.stats import latency_summary, rate
from creditsync.local import create_topics
from producers.publisher import DEFAULT_PRODUCER_CONFIG, OutgoingRecord
from schemas.codec import codec_for
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import TopicSpec

CONSUME_BATCH = 10_000
_STAMP = struct.Struct(">?d")  # measured?, send time (perf_counter)


def _topic(bootstrap: str, name: str) -> str:
    create_topics(kafka_at(bootstrap), [TopicSpec(name, PARTITIONS, -1, purpose="bench baseline")])
    return name


def produce_baseline(bootstrap: str, topic: str, values: list[bytes]) -> dict[str, Any]:
    """Publish every value (acks=all, the adapters' producer settings); the produce rate."""
    _topic(bootstrap, topic)
    records = (OutgoingRecord(topic, str(i).encode(), v) for i, v in enumerate(values))
    start = time.perf_counter()
    sent = publish_all(bootstrap, records)
    return {"messages": sent, "produce_events_per_s": rate(sent, time.perf_counter() - start)}


def confluent_consume(bootstrap: str, topic: str, expected: int, timeout: float = 120) -> dict:
    """(a): consume(num_messages=…) + decode_many until `expected` events are decoded."""
    codec = codec_for("IntakeEvent")
    consumer = Consumer(
        client_config(
            kafka_at(bootstrap),
            group_id=f"{topic}.confluent",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
    )
    consumer.subscribe([topic])
    decoded, first = 0, None
    deadline = time.monotonic() + timeout
    try:
        while decoded < expected and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=CONSUME_BATCH, timeout=1.0)
            values = [m.value() for m in batch if m.error() is None]
            if values and first is None:
                first = time.perf_counter()
            decoded += len(codec.decode_many(values))
        end = time.perf_counter()
    finally:
        consumer.close()
    _check(decoded, expected, "confluent-kafka consume")
    return {"events": decoded, "events_per_s": rate(decoded, end - (first or end))}


def aiokafka_consume(
    bootstrap: str, topic: str, expected: int, timeout: float = 120
) -> dict | None:
    """(b): AIOKafkaConsumer.getmany() + decode_many — what Faust's transport does; None
    when aiokafka is not installed (it is no runtime dependency: the `bench` extra)."""
    try:
        from aiokafka import AIOKafkaConsumer
    except ImportError:
        return None

    async def run() -> tuple[int, float]:
        codec = codec_for("IntakeEvent")
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"{topic}.aiokafka",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        decoded, first = 0, None
        deadline = time.monotonic() + timeout
        try:
            while decoded < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=1000, max_records=CONSUME_BATCH)
                values = [m.value for messages in batches.values() for m in messages]
                if values and first is None:
                    first = time.perf_counter()
                decoded += len(codec.decode_many(values))
            end = time.perf_counter()
        finally:
            await consumer.stop()
        return decoded, end - (first or end)

    decoded, seconds = asyncio.run(run())
    _check(decoded, expected, "aiokafka getmany")
    return {"events": decoded, "events_per_s": rate(decoded, seconds)}


def echo_latency(
    bootstrap: str, topic: str, value: bytes, per_second: int, seconds: float
) -> dict[str, Any]:
    """(c): send at `per_second` with the adapters' producer settings to a consumer that is
    already fetching (a warm-up message has gone round); latency = receive − send, each."""
    _topic(bootstrap, topic)
    consumer = Consumer(
        client_config(kafka_at(bootstrap), group_id=f"{topic}.echo", enable_auto_commit=False)
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in range(PARTITIONS)])
    total = int(per_second * seconds)
    samples: list[float] = []
    warm, done = threading.Event(), threading.Event()

    def receive() -> None:
        # poll(), not consume(num_messages=…): consume waits to fill its batch, which would
        # add up to its timeout to every message.
        while len(samples) < total and not done.is_set():
            message = consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            measured, sent_at = _STAMP.unpack(message.key())
            if measured:
                samples.append(time.perf_counter() - sent_at)
            else:
                warm.set()

    receiver = threading.Thread(target=receive, name="bench-echo-receiver")
    receiver.start()
    producer = Producer(client_config(kafka_at(bootstrap), defaults=DEFAULT_PRODUCER_CONFIG))
    try:
        deadline = time.monotonic() + 60
        while not warm.is_set() and time.monotonic() < deadline:
            producer.produce(topic, value=value, key=_STAMP.pack(False, time.perf_counter()))
            producer.flush(5)
            warm.wait(0.2)
        if not warm.is_set():
            raise RuntimeError(f"echo: no warm-up message came back from {topic} within 60s")
        _paced(producer, topic, value, per_second, total)
        producer.flush(30)
        receiver.join(timeout=30)
    finally:
        done.set()
        receiver.join()
        consumer.close()
    _check(len(samples), total, "echo")
    return {"offered_per_s": per_second, "seconds": seconds, **latency_summary(samples)}


def _paced(producer: Producer, topic: str, value: bytes, per_second: int, total: int) -> None:
    # Sends on a 5 ms tick: the schedule says how many should be out by now.
    start = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) * per_second) + 1)
        while sent < due:
            producer.produce(topic, value=value, key=_STAMP.pack(True, time.perf_counter()))
            sent += 1
        producer.poll(0)
        time.sleep(0.005)


def _check(got: int, expected: int, what: str) -> None:
    if got < expected:
        raise RuntimeError(f"{what}: received {got} of {expected} messages before the timeout")
