"""The stage state a group left in its changelogs, and a rebuild of it from scratch to compare.

A worker restores a partition's tables by replaying the partition's changelog (last value per
key), so the compacted view of a group's changelogs is the state any member — a survivor, a
restart, a new machine — holds or would hold. The rebuild copies the intake topics record for
record (same partition, key, value, headers, timestamp, hence the same offsets) under a fresh
topic prefix and lets one worker that never rebalances derive its own tables; a write that a
rebalance lost or applied twice leaves the two views different.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson
from confluent_kafka import Producer

from creditsync.ops.kafka_read import read_all
from schemas.categories import CATEGORIES
from schemas.codec import decode_enriched
from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.lag import LagReader
from schemas.topics import REGISTRY_ALIASES, RESOLVED, intake_topic
from streams.intake_stage import TABLES as INTAKE_TABLES
from streams.items_stage import TABLES as ITEMS_TABLES
from streams.runtime.stage_state import changelog_topic

STAGE_TABLES = INTAKE_TABLES + ITEMS_TABLES
# Item state holding an enriched record as its Avro bytes (streams/rules/items.py `_pack`).
PACKED_RECORD_FIELDS = frozenset({"original", "held"})
# What legitimately differs between two correct runs: wall-clock stamps (processed_at,
# parked_at, detected_at …); a held change's offset on credit.resolved, which depends on how
# the stages interleaved their outputs; and the canonical name a record (or its notice) was
# enriched with, which is the registry's if the enterprise's registration (another intake
# topic) was handled first and the name as sent otherwise — an order no run fixes (seen in
# the first runs: 603 items and 48 notices, nothing else). The registry itself is compared
# whole. Nothing else is left out.
RUN_DEPENDENT_FIELDS = frozenset({"origin", "canonical_name"})

View = dict[tuple[str, int, str], Any]


def stage_inputs(prefix: str) -> list[str]:
    """The topics of the stage loop's consumer group (intake, aliases, resolved)."""
    return [intake_topic(c, prefix) for c in CATEGORIES] + [
        f"{prefix}{REGISTRY_ALIASES}",
        f"{prefix}{RESOLVED}",
    ]


def stages_caught_up(kafka: KafkaSettings, group: str, prefix: str) -> bool:
    """Whether the stage group has committed to the end of all its inputs. Outputs (aliases,
    resolved) are acknowledged before the commit, so nothing is in flight then."""
    return LagReader(kafka).lag(group, stage_inputs(prefix)) == 0


def changelog_view(kafka: KafkaSettings, group: str) -> View:
    """(table, partition, key) -> the table's value, as a restore would rebuild it."""
    view: View = {}
    for table in STAGE_TABLES:
        topic = changelog_topic(group, table)
        for message in read_all(kafka, [topic], f"fault-audit-{table}"):
            where = (table, message.partition(), message.key().decode())
            if message.value() is None:
                view.pop(where, None)
            else:
                view[where] = orjson.loads(message.value())
    return view


def copy_intake(kafka: KafkaSettings, source_prefix: str, target_prefix: str) -> int:
    """Every intake record under `target_prefix`, on the same partition in the same order
    (an idempotent producer keeps it), so lineage offsets match; how many were copied."""
    producer = Producer(client_config(kafka, {"enable.idempotence": True, "linger.ms": 20}))
    copied = 0
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for category in CATEGORIES:
        target = intake_topic(category, target_prefix)
        for m in read_all(kafka, [intake_topic(category, source_prefix)], "fault-copy-intake"):
            producer.produce(
                target,
                m.value(),
                m.key(),
                partition=m.partition(),
                timestamp=m.timestamp()[1],
                headers=m.headers() or [],
                on_delivery=delivered,
            )
            producer.poll(0)
            copied += 1
    left = producer.flush(60)
    if left or errors:
        raise AssertionError(f"copying intake: {left} undelivered, errors {errors[:3]}")
    return copied


def normalised(value: Any, prefixes: tuple[str, ...]) -> Any:
    """`value` with what differs between correct runs taken out (RUN_DEPENDENT_FIELDS,
    `*_at` stamps), packed records decoded, topic prefixes replaced by one placeholder."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in RUN_DEPENDENT_FIELDS or key.endswith("_at"):
                continue
            if key in PACKED_RECORD_FIELDS and isinstance(item, str):
                item = dict(decode_enriched(base64.b64decode(item)))
            out[key] = normalised(item, prefixes)
        return out
    if isinstance(value, list | tuple):
        return [normalised(v, prefixes) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        for prefix in prefixes:
            if value.startswith(prefix):
                return "<prefix>" + value[len(prefix) :]
    return value


def compare_views(live: View, rebuilt: View, prefixes: tuple[str, ...]) -> list[str]:
    """Every (table, partition, key) missing on one side or holding a different value."""
    out = []
    for where in sorted(set(live) | set(rebuilt)):
        name = "{}[{}] {!r}".format(*where)
        if where not in rebuilt:
            out.append(f"{name}: in the live changelog only")
        elif where not in live:
            out.append(f"{name}: in the rebuild only (a lost state write)")
        else:
            a, b = normalised(live[where], prefixes), normalised(rebuilt[where], prefixes)
            if a != b:
                out.append(f"{name}: " + "; ".join(differences(a, b)[:4]))
    return out


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two values differ, by path: `path: live … != rebuilt …`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b))
                for d in differences(a.get(k), b.get(k), f"{path}.{k}")]  # fmt: skip
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path or '.'}: live {a!r:.120} != rebuilt {b!r:.120}"]


def table_sizes(view: View) -> dict[str, int]:
    sizes = dict.fromkeys(STAGE_TABLES, 0)
    for table, _, _ in view:
        sizes[table] += 1
    return sizes
