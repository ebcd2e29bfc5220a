"""Load for the fault cases: a deterministic workload, an agency-side producer thread, RSS.

The producer is the agency side's at-least-once: a batch Kafka did not acknowledge
(PublishFailed, e.g. while the broker restarts) is sent again until it goes through. Event
ids are derived from the content, so a re-sent event is the same event downstream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from producers.publisher import KafkaPublisher, PublishFailed, intake_record
from schemas.codec import encode_intake, fingerprint_of
from schemas.kafka.config import kafka_at
from schemas.records import IntakeEvent
from tests.intake_factory import enterprise_codes, license_, penalty, registration


@dataclass(frozen=True)
class Workload:
    """The events a case sends, in sending order, and what each should become."""

    events: list[IntakeEvent]

    @property
    def usccs(self) -> list[str]:
        return sorted({e["subject"]["uscc"] for e in self.events if e["subject"]["uscc"]})

    def produced(self) -> set[tuple[str, str, str]]:
        """(category, uscc, record_key) of every event: what must arrive exactly once."""
        return {(e["category"], e["subject"]["uscc"], e["record_key"]) for e in self.events}

    def split(self, parts: int) -> list[Workload]:
        size = -(-len(self.events) // parts)
        return [Workload(self.events[i : i + size]) for i in range(0, len(self.events), size)]


def build_workload(first: int, enterprises: int, licences: int = 4, penalties: int = 2) -> Workload:
    """Per enterprise its registration, then licences and penalties sent with its USCC.

    Enterprises are interleaved (all registrations of a slice, then their items), so every
    partition and every stage is busy at any point of the stream."""
    events: list[IntakeEvent] = []
    for start in range(first, first + enterprises, 25):
        numbers = range(start, min(start + 25, first + enterprises))
        events += [registration(n, f"宁夏故障测试{n}号商贸有限公司") for n in numbers]
        for n in numbers:
            uscc = enterprise_codes(n)["uscc"]
            events += [license_(uscc, f"JY{n:06d}{i:04d}") for i in range(licences)]
            events += [penalty(uscc, f"宁市监罚〔2024〕{n}-{i}号") for i in range(penalties)]
    return Workload(events)


def batches(workload: Workload, size: int) -> Iterator[list[IntakeEvent]]:
    for i in range(0, len(workload.events), size):
        yield workload.events[i : i + size]


class SteadyProducer(threading.Thread):
    """Publishes a workload in batches at a steady rate; retries a batch until Kafka acks it.

    `rate` is events per second (0: as fast as the publisher goes). `acked` grows as batches
    are acknowledged, so a case can ask what has been produced so far."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        workload: Workload,
        *,
        rate: float = 0.0,
        batch_size: int = 50,
        publish_timeout: float = 10.0,
    ) -> None:
        super().__init__(name="fault-producer", daemon=True)
        self.bootstrap, self.prefix, self.workload = bootstrap, prefix, workload
        self.rate, self.batch_size, self.publish_timeout = rate, batch_size, publish_timeout
        self.acked: list[IntakeEvent] = []
        # Events handed to the publisher so far, the batch being (re)tried included.
        self.offered = 0
        self.retries = 0
        self.failures: list[str] = []
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def offered_so_far(self) -> list[IntakeEvent]:
        """The events offered to Kafka so far, in order: what the index must show in the end."""
        return self.workload.events[: self.offered]

    def acked_so_far(self) -> list[IntakeEvent]:
        with self._lock:
            return list(self.acked)

    def cancel(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        publisher = KafkaPublisher(kafka_at(self.bootstrap), client_id="fault-producer")
        began = time.monotonic()
        sent = 0
        try:
            for batch in batches(self.workload, self.batch_size):
                records = []
                for event in batch:
                    value = encode_intake(event)
                    records.append(intake_record(event, value, fingerprint_of(value), self.prefix))
                self.offered += len(batch)
                while not self._stop_event.is_set():
                    try:
                        publisher.publish(records, timeout=self.publish_timeout)
                        break
                    except PublishFailed as exc:
                        # The agency side's at-least-once: the same batch again, counted.
                        self.retries += 1
                        self.failures.append(str(exc)[:200])
                if self._stop_event.is_set():
                    return
                with self._lock:
                    self.acked.extend(batch)
                sent += len(batch)
                if self.rate > 0:
                    # Pace against the start, so a retried batch does not slow the rest.
                    self._stop_event.wait(max(0.0, began + sent / self.rate - time.monotonic()))
        except BaseException as exc:  # re-raised by finish() in the test's thread
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
            publisher.close(timeout=5)

    def finish(self, timeout: float) -> None:
        """Wait for the whole workload to be acknowledged; raise what the thread raised."""
        self.join(timeout)
        if self.is_alive():
            self.cancel()
            self.join(30)
            raise AssertionError(
                f"producer did not finish in {timeout:.0f}s: {len(self.acked)} of "
                f"{len(self.workload.events)} acked, {self.retries} retries, "
                f"last failure: {self.failures[-1:]}"
            )
        if self.error is not None:
            raise self.error


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc; psutil is not a dependency)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS line for pid {pid}: is it still running?")
