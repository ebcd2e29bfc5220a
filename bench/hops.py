"""Where the latency goes: the pipeline's hops timed from the records themselves.

Run beside the load probe (bench.load_probe `--hops`): reads credit.resolved and
credit.records from their ends while the load runs, and for the records at offsets divisible
by SAMPLE_EVERY takes their timestamps — emitted_at (the department's send), processed_at
(the intake stage's clock when it handled it), and each message's Kafka CreateTime (when the
stage produced it). The items hop needs an event sampled in both topics (about 1 in 100):

- intake: emitted_at → processed_at (the probe's producer, the broker, the intake consumer
  and the wait for the batch in hand);
- intake out: processed_at → credit.resolved CreateTime (the rest of the batch, then send);
- items: credit.resolved CreateTime → credit.records CreateTime.

The sink hop is what is left of the end-to-end latency.
"""

from __future__ import annotations

import threading
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench.stats import latency_summary
from schemas.codec import decode_enriched
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import RECORDS, RESOLVED

SAMPLE_EVERY = 10  # records timed: those at offsets divisible by this


class HopTimer:
    """A thread reading both topics from their ends; `summary()` after `stop()`."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int) -> None:
        self.topics = (f"{prefix}{RESOLVED}", f"{prefix}{RECORDS}")
        self.consumer = Consumer(
            client_config(
                kafka_at(bootstrap), group_id=f"{prefix}bench-hops", enable_auto_commit=False
            )
        )
        self.consumer.assign(
            [TopicPartition(t, p, OFFSET_END) for t in self.topics for p in range(partitions)]
        )
        self.resolved: dict[str, tuple[float, float, float]] = {}  # id -> emitted, proc, ts
        self.records: dict[str, float] = {}  # event id -> CreateTime (s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-hops", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                for m in self.consumer.consume(1000, timeout=0.2):
                    if m.error() is not None or m.value() is None:
                        continue
                    if m.offset() % SAMPLE_EVERY:
                        continue  # decoding every record would make this a load of its own
                    record = decode_enriched(m.value())
                    produced = m.timestamp()[1] / 1000
                    if m.topic() == self.topics[0]:
                        self.resolved[record["event_id"]] = (
                            record["emitted_at"].timestamp(),
                            record["processed_at"].timestamp(),
                            produced,
                        )
                    else:
                        self.records.setdefault(record["event_id"], produced)
        finally:
            self.consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def summary(self) -> dict[str, Any]:
        intake, intake_out, items = [], [], []
        for event_id, (emitted, processed, resolved_at) in self.resolved.items():
            intake.append(max(processed - emitted, 0.0))
            intake_out.append(max(resolved_at - processed, 0.0))
            if event_id in self.records:
                items.append(max(self.records[event_id] - resolved_at, 0.0))
        return {
            name: latency_summary(samples)
            for name, samples in (("intake", intake), ("intake_out", intake_out), ("items", items))
            if samples
        }
