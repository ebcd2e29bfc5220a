"""Offered load and visibility probe, run as its own process beside the worker under test.

    python -m bench.load_probe --bootstrap H:P --prefix P --redis-url URL [--rate 1000]
        [--seconds 10] [--sample-every 10] [--start 0]

Sends intake events at a fixed rate with `emitted_at` = send time and, for every
`sample_every`-th event, polls the publicity index until that item's version is there:
latency = visible − sent, from the department's side. A separate process, so neither the
sender nor the poller takes the worker's interpreter lock. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import threading
import time
from typing import Any

from confluent_kafka import Producer

from bench.env import PARTITIONS
from bench.hops import HopTimer
from bench.stats import latency_summary
from bench.workload import EventFactory, enterprise_codes, record_row
from creditsync.pii_keys import KEYS_SETTING
from producers.publisher import DEFAULT_PRODUCER_CONFIG, intake_record
from schemas.codec import codec_for
from schemas.kafka.config import client_config, kafka_at
from schemas.pii_crypto import PiiKeyring, install_keyring
from schemas.records import item_id
from sinks.publicity.keys import Keys
from sinks.redis_client import open_redis

POLL_SECONDS = 0.001
POLL_WINDOW = 50  # sampled events asked for per poll, oldest first
SLOWEST_KEPT = 25


def run_probe(
    bootstrap: str,
    prefix: str,
    redis_url: str,
    per_second: int,
    seconds: float,
    sample_every: int,
    start: int,
    enterprises: int = 1000,
    drain_timeout: float = 60,
    hops: bool = False,
) -> dict[str, Any]:
    factory, codec, keys = EventFactory(), codec_for("IntakeEvent"), Keys()
    client = open_redis(redis_url)
    pending: dict[tuple[str, str], float] = {}
    seen: list[tuple[float, float]] = []  # (sent at, latency) of each visible sample
    lock, sending_done = threading.Lock(), threading.Event()

    def poll() -> None:
        deadline = None
        while True:
            with lock:
                # The oldest sampled events only (they become visible in about the order
                # sent): asking for every pending one each millisecond made the probe itself
                # a CPU load once the worker fell behind, and it fell further behind.
                waiting = list(itertools.islice(pending.items(), POLL_WINDOW))
            if sending_done.is_set():
                deadline = deadline or time.monotonic() + drain_timeout
                if not waiting or time.monotonic() > deadline:
                    return
            if waiting:
                pipe = client.pipeline(transaction=False)
                for (hash_key, field), _ in waiting:
                    pipe.hexists(hash_key, field)
                found = pipe.execute()
                now = time.perf_counter()
                with lock:
                    for (key, sent_at), hit in zip(waiting, found, strict=True):
                        if hit:
                            seen.append((sent_at, now - sent_at))
                            del pending[key]
            time.sleep(POLL_SECONDS)

    timer = HopTimer(bootstrap, prefix, PARTITIONS) if hops else None
    poller = threading.Thread(target=poll, name="bench-visibility-poller")
    poller.start()
    producer = Producer(client_config(kafka_at(bootstrap), defaults=DEFAULT_PRODUCER_CONFIG))
    total = int(per_second * seconds)
    began = time.perf_counter()
    try:
        for n in range(start, start + total):
            due = began + (n - start) / per_second
            while (delay := due - time.perf_counter()) > 0:
                time.sleep(min(delay, 0.005))
                producer.poll(0)
            uscc = enterprise_codes(n % enterprises)["uscc"]
            factory.emitted_at = dt.datetime.now(dt.UTC)
            event = factory.event("penalty", record_row("penalty", n, uscc, 0), 50_000_000 + n)
            value = codec.encode(event)
            record = intake_record(event, value, codec.fingerprint, prefix)
            if (n - start) % sample_every == 0:
                with lock:
                    key = (keys.versions(uscc), item_id("penalty", event["record_key"]))
                    pending[key] = time.perf_counter()
            producer.produce(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
        offered = total / (time.perf_counter() - began)
        producer.flush(30)
    finally:
        sending_done.set()
        poller.join()
        client.close()
        if timer is not None:
            timer.stop()
    if not seen:
        raise RuntimeError("load probe: no sampled event became visible in the index")
    return {
        "offered_per_s": round(offered, 1),
        "sent": total,
        "sample_every": sample_every,
        "not_visible": len(pending),
        **latency_summary([latency for _, latency in seen]),
        # When the slowest samples were sent (s after the first send) and their latency
        # (ms): a tail that recurs at a fixed period points at a periodic pause.
        "slowest": [
            [round(sent - began, 3), round(latency * 1000, 1)]
            for sent, latency in sorted(seen, key=lambda s: -s[1])[:SLOWEST_KEPT]
        ],
        **({"hops": timer.summary()} if timer is not None else {}),
    }


def main() -> None:
    # The bench's keyring, from the environment `creditsync bench` set (not the CLI's loader:
    # this process is started as a module, outside the CLI).
    install_keyring(PiiKeyring.parse(os.environ[KEYS_SETTING]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--hops", action="store_true", help="Also time each stage (bench.hops).")
    args = parser.parse_args()
    result = run_probe(
        args.bootstrap,
        args.prefix,
        args.redis_url,
        args.rate,
        args.seconds,
        args.sample_every,
        args.start,
        hops=args.hops,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
