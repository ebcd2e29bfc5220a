"""The audit that ends every fault case, and the one-line summary it reports.

What a user would see, checked against what was produced:

- ClickHouse, after dedup (`FINAL`): every produced record exactly once — lost = produced
  minus stored, duplicated = rows after FINAL minus distinct keys;
- the publicity index equals a rebuild from scratch: credit.records replayed from the
  beginning into a fresh Redis database (db 1 of the same server, `creditsync replay`'s
  code path), and every produced enterprise's profile compared field by field;
- nothing rejected or left parked: the input is valid and sent with known codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from creditsync.ops.kafka_read import read_all
from creditsync.ops.replay import close_sinks, open_replay_sinks, replay_records
from schemas.dead_letters import rejected_topic
from schemas.kafka.config import kafka_at
from schemas.records import IntakeEvent, item_id
from schemas.topics import PARKED
from sinks.publicity import Keys, PublicityReader
from sinks.publicity.index import IDENTITY_FIELD

REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY_PATH = REPO_ROOT / "artifacts" / "faults" / "summary.json"
REBUILD_DB = 1


@dataclass
class CaseReport:
    """What one fault case produced, lost, duplicated, and how long it took to recover."""

    case: str
    produced: int
    lost: int = 0
    duplicated: int = 0
    recovery_s: float | None = None
    # Rows ClickHouse holds before FINAL beyond one per key: redeliveries not merged yet.
    redelivered_raw: int = 0
    index_mismatches: list[str] = field(default_factory=list)
    # Consumer-group rebalances the workers went through (cases with several workers).
    rebalances: int | None = None
    # Stage tables (changelogs' last value per key) that differ from a rebuild from scratch.
    state_mismatches: list[str] = field(default_factory=list)
    rejected: int = 0
    parked_waiting: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    lost_examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        recovery = "n/a" if self.recovery_s is None else f"{self.recovery_s:.1f}s"
        extra = " ".join(f"{k}={v}" for k, v in self.details.items())
        return (
            f"[fault {self.case}] produced={self.produced} lost={self.lost} "
            f"duplicated={self.duplicated} recovery={recovery} "
            + ("" if self.rebalances is None else f"rebalances={self.rebalances} ")
            + f"state_mismatches={len(self.state_mismatches)} "
            f"index_mismatches={len(self.index_mismatches)} rejected={self.rejected} "
            f"parked={self.parked_waiting} redelivered_raw={self.redelivered_raw} {extra}"
        ).rstrip()

    def problems(self) -> list[str]:
        """Every way this case fell short, worded for the failure message."""
        out = []
        if self.lost:
            out.append(f"{self.lost} produced record(s) missing from ClickHouse, e.g. "
                       f"{self.lost_examples}")  # fmt: skip
        if self.duplicated:
            out.append(f"{self.duplicated} record(s) more than once in ClickHouse after FINAL")
        if self.index_mismatches:
            out.append(
                f"publicity index differs from a rebuild in {len(self.index_mismatches)} "
                f"place(s), e.g. {self.index_mismatches[:3]}"
            )
        if self.state_mismatches:
            out.append(
                f"stage state differs from a rebuild in {len(self.state_mismatches)} "
                f"place(s), e.g. {self.state_mismatches[:3]}"
            )
        if self.rejected:
            out.append(f"{self.rejected} record(s) in credit.rejected for valid input")
        if self.parked_waiting:
            out.append(f"{self.parked_waiting} record(s) still parked")
        return out


def record_summary(report: CaseReport) -> None:
    """Print the case's line (shown under `pytest -s`) and merge it into summary.json."""
    print(report.line())
    SUMMARY_PATH.parent.mkdir(parents=True, exist_ok=True)
    try:
        summary = json.loads(SUMMARY_PATH.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        summary = {}
    entry = asdict(report)
    entry["index_mismatches"] = len(report.index_mismatches)
    entry["state_mismatches"] = len(report.state_mismatches)
    entry["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary[report.case] = entry
    SUMMARY_PATH.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")


# --- the publicity index --------------------------------------------------------------


def _index_field(event: IntakeEvent) -> str:
    # The versions hash holds one field per applied item, and the identity's for a
    # registration: present once the index has applied the event (public or not).
    if event["category"] == "registration":
        return IDENTITY_FIELD
    return item_id(event["category"], event["record_key"])


def visible_in_index(client: redis.Redis, events: Iterable[IntakeEvent]) -> int:
    """How many of `events` the publicity index has applied (one round trip)."""
    keys = Keys()
    by_uscc: dict[str, list[str]] = {}
    for event in events:
        by_uscc.setdefault(event["subject"]["uscc"], []).append(_index_field(event))
    if not by_uscc:
        return 0
    pipe = client.pipeline(transaction=False)
    for uscc, fields in by_uscc.items():
        pipe.hmget(keys.versions(uscc), fields)
    return sum(v is not None for reply in pipe.execute() for v in reply)


def rebuild_index(bootstrap: str, prefix: str, redis_port: int) -> dict[str, Any]:
    """Replay credit.records from the beginning into an emptied db 1; the replay's report."""
    url = f"redis://127.0.0.1:{redis_port}/{REBUILD_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    sinks = open_replay_sinks(("publicity",), clickhouse_dsn=None, database="", redis_url=url)
    try:
        return replay_records(kafka_at(bootstrap), prefix, sinks, start_ms=None).as_dict()
    finally:
        close_sinks(sinks)


def compare_with_rebuild(redis_port: int, usccs: Iterable[str]) -> list[str]:
    """Field-by-field differences between the live profiles (db 0) and the rebuilt (db 1)."""
    live_client = redis.Redis(port=redis_port, db=0)
    rebuilt_client = redis.Redis(port=redis_port, db=REBUILD_DB)
    try:
        live, rebuilt = PublicityReader(live_client), PublicityReader(rebuilt_client)
        out = []
        for uscc in usccs:
            a, b = live.profile(uscc), rebuilt.profile(uscc)
            if a is None or b is None:
                out.append(f"{uscc}: live profile {'missing' if a is None else 'present'}, "
                           f"rebuilt {'missing' if b is None else 'present'}")  # fmt: skip
                continue
            for name in sorted(set(a) | set(b)):
                if a.get(name) != b.get(name):
                    out.append(f"{uscc}.{name}: live {a.get(name)!r:.160} != "
                               f"rebuilt {b.get(name)!r:.160}")  # fmt: skip
        return out
    finally:
        live_client.close()
        rebuilt_client.close()


# --- ClickHouse -------------------------------------------------------------------------


def table_of(category: str) -> str:
    return "entities" if category == "registration" else category


def chdb_queries(dsn: str, database: str, queries: dict[str, str]) -> dict[str, list[list[Any]]]:
    """Several queries on an embedded ClickHouse in one fresh process (one chdb path each)."""
    code = (
        "import json, sys; from sinks.clickhouse import connect_clickhouse; "
        f"c = connect_clickhouse({dsn!r}, {database!r}); "
        f"qs = {queries!r}; "
        "print(json.dumps({k: [list(r) for r in c.query(q).result_rows] for k, q in qs.items()},"
        " default=str))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        raise AssertionError(f"ClickHouse audit query failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def audit_clickhouse(
    dsn: str, database: str, produced: set[tuple[str, str, str]], report: CaseReport
) -> None:
    """Lost, duplicated (after FINAL) and raw redelivered rows, into `report`."""
    tables = sorted({table_of(c) for c, _, _ in produced})
    queries: dict[str, str] = {}
    for t in tables:
        queries[f"{t}.keys"] = f"SELECT uscc, record_key FROM {database}.{t} FINAL"
        queries[f"{t}.counts"] = (
            f"SELECT (SELECT count() FROM {database}.{t} FINAL), "
            f"(SELECT uniqExact(uscc, record_key) FROM {database}.{t}), "
            f"(SELECT count() FROM {database}.{t})"
        )
    rows = chdb_queries(dsn, database, queries)
    stored = {(t, uscc, key) for t in tables for uscc, key in rows[f"{t}.keys"]}
    missing = sorted((c, u, k) for c, u, k in produced if (table_of(c), u, k) not in stored)
    report.lost = len(missing)
    report.lost_examples = [f"{c}/{u}/{k}" for c, u, k in missing[:5]]
    for t in tables:
        final, distinct, raw = (int(x) for x in rows[f"{t}.counts"][0])
        report.duplicated += final - distinct
        report.redelivered_raw += raw - distinct


# --- dead letters ---------------------------------------------------------------------


def audit_dead_letters(bootstrap: str, prefix: str, report: CaseReport) -> None:
    """Records in credit.rejected, and records whose newest credit.parked state is parked."""
    report.rejected = len(
        read_all(kafka_at(bootstrap), [rejected_topic(prefix)], "fault-audit-rejected")
    )
    latest: dict[bytes, dict[str, Any]] = {}
    for message in read_all(kafka_at(bootstrap), [f"{prefix}{PARKED}"], "fault-audit-parked"):
        if message.value():
            latest[message.key()] = json.loads(message.value())
    report.parked_waiting = sum(1 for v in latest.values() if v.get("state") == "parked")


def full_audit(
    report: CaseReport,
    *,
    bootstrap: str,
    prefix: str,
    redis_port: int,
    clickhouse_dsn: str,
    database: str,
    produced: set[tuple[str, str, str]],
    usccs: Iterable[str],
) -> CaseReport:
    """Every check of the module docstring; the worker must have stopped (chdb's owner)."""
    audit_clickhouse(clickhouse_dsn, database, produced, report)
    replay = rebuild_index(bootstrap, prefix, redis_port)
    report.details["rebuild_read"] = replay["read"]
    report.index_mismatches = compare_with_rebuild(redis_port, usccs)
    audit_dead_letters(bootstrap, prefix, report)
    return report


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    describe: Callable[[], str],
    alive: Callable[[], str | None] = lambda: None,
    poll: float = 0.25,
) -> float:
    """Poll `condition` until true; the seconds it took. Fails at `timeout` with
    `describe()`, and at once when `alive()` names a reason to give up (a dead worker)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        dead = alive()
        if dead:
            raise AssertionError(f"{dead} while waiting: {describe()}")
        time.sleep(poll)
    raise AssertionError(f"not within {timeout:.0f}s: {describe()}")
