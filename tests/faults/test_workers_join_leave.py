"""Fault: stage workers join and leave under load — one joins, one SIGTERM, one SIGKILL (#18).

Three `creditsync worker --stages intake,items,publicity` processes share the stage and
publicity consumer groups on 6-partition topics, each with a data directory of its own (as
separate machines would have; stage stores on disk live there). ClickHouse is written by a
fourth worker of its own (embedded chdb has one owner process). While an agency publishes
mixed records — USCCs and legacy codes (some before their registration, so they park),
newer versions, withdrawals, restrictions with joint-punishment notices — worker C joins, A is
stopped with SIGTERM and B killed with SIGKILL; C drains. Then: nothing lost or duplicated in
ClickHouse (FINAL) or credit.records, the publicity index equals a rebuild, and every stage
table equals a rebuild from scratch by a worker that never rebalanced.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from pathlib import Path

import pytest

from creditsync.local import create_topics
from creditsync.ops.kafka_read import read_all
from schemas.codec import decode_enriched
from schemas.kafka.config import kafka_at
from schemas.records import IntakeEvent
from schemas.topics import RECORDS, topic_specs
from streams.app import WorkerConfig
from tests.faults import rebuild
from tests.faults.audit import (
    SUMMARY_PATH,
    CaseReport,
    chdb_queries,
    full_audit,
    record_summary,
    wait_for,
)
from tests.faults.conftest import fault_config
from tests.faults.load import SteadyProducer, Workload
from tests.intake_factory import enterprise_codes, license_, penalty, registration, restriction
from tests.integration.helpers import sinks_caught_up

pytestmark = pytest.mark.faults

PARTITIONS = 6
FIRST, ENTERPRISES = 7000, 360
CHURNED_STAGES = "intake,items,publicity"
AMENDED_CONTENT = "预包装食品销售、散装食品销售"
# "stage items holds partitions [..]" (streams/runtime/stage_loop.py, INFO): one per
# assignment a member receives.
ASSIGNED = re.compile(r"^(\S+ \S+) INFO \S+ stage items holds partitions \[([^\]]*)\]", re.M)


def churn_workload(first: int, enterprises: int) -> Workload:
    """Per slice of 20 enterprises: some legacy-coded penalties before their registrations
    (parked until the alias comes), the registrations, licences and penalties (half by a
    legacy code), restrictions, then newer versions and withdrawals of earlier items."""
    events: list[IntakeEvent] = []
    for start in range(first, first + enterprises, 20):
        numbers = range(start, min(start + 20, first + enterprises))
        codes = {n: enterprise_codes(n) for n in numbers}
        legacy = {
            n: codes[n]["registration_number" if n % 2 else "organisation_code"] for n in numbers
        }
        early = [n for n in numbers if n % 3 == 0]
        events += [penalty(legacy[n], f"宁市监罚〔2024〕{n}-0号") for n in early]
        events += [registration(n, f"宁夏迁移测试{n}号商贸有限公司") for n in numbers]
        for n in numbers:
            uscc = codes[n]["uscc"]
            events += [license_(uscc, f"JY{n:06d}{i:04d}") for i in range(3)]
            if n not in early:
                events.append(penalty(legacy[n], f"宁市监罚〔2024〕{n}-0号"))
            events.append(penalty(uscc, f"宁市监罚〔2024〕{n}-1号"))
            if n % 10 == 0:
                events.append(restriction(uscc))
        for n in numbers:
            uscc = codes[n]["uscc"]
            if n % 4 == 0:
                events.append(license_(uscc, f"JY{n:06d}0000", license_content=AMENDED_CONTENT))
            if n % 5 == 0:
                events.append(penalty(legacy[n], f"宁市监罚〔2024〕{n}-0号", operation="撤销"))
    return Workload(events)


def usccs_by_code(first: int, enterprises: int) -> dict[str, str]:
    """Every code of the workload's enterprises (USCC and legacy) -> the USCC."""
    out = {}
    for n in range(first, first + enterprises):
        codes = enterprise_codes(n)
        out.update(dict.fromkeys(codes.values(), codes["uscc"]))
    return out


def newest_by_item(
    workload: Workload, usccs: dict[str, str]
) -> dict[tuple[str, str, str], IntakeEvent]:
    """(category, uscc, record_key) -> the item's last event sent (the newest version)."""
    newest = {}
    for e in workload.events:
        code = next(c for c in e["subject"].values() if c and c in usccs)
        newest[(e["category"], usccs[code], e["record_key"])] = e
    return newest


def records_problems(bootstrap: str, prefix: str, expected: dict) -> tuple[list[str], int]:
    """What credit.records holds against what the items should be (newest version per item:
    present, withdrawn or not, amended content); and how many messages it holds."""
    newest: dict[tuple[str, str, str], dict] = {}
    messages = read_all(kafka_at(bootstrap), [f"{prefix}{RECORDS}"], "fault-audit-records")
    for m in messages:
        r = decode_enriched(m.value())
        key = (r["category"], r["uscc"], r["record_key"])
        if key not in newest or r["version"] > newest[key]["version"]:
            newest[key] = r
    out = []
    for key, event in sorted(expected.items()):
        record = newest.get(key)
        if record is None:
            out.append(f"{'/'.join(key)}: not in credit.records")
            continue
        withdrawn = event["operation"] == "withdraw"
        if (record["publication_status"] == "withdrawn") != withdrawn:
            out.append(
                f"{'/'.join(key)}: status {record['publication_status']}, "
                f"withdrawal sent: {withdrawn}"
            )
        content = event["payload"].get("license_content")
        if content and record["payload"].get("license_content") != content:
            out.append(f"{'/'.join(key)}: content {record['payload'].get('license_content')!r}")
    return out, len(messages)


def clickhouse_status_problems(config: WorkerConfig, expected: dict) -> list[str]:
    """Items whose row after FINAL is withdrawn where no withdrawal was sent, or not."""
    db = config.clickhouse_database
    rows = chdb_queries(
        config.clickhouse_dsn,
        db,
        {
            t: f"SELECT uscc, record_key, publication_status FROM {db}.{t} FINAL"
            for t in ("license", "penalty")
        },
    )
    stored = {(t, u, k): s for t, found in rows.items() for u, k, s in found}
    out = []
    for (category, uscc, key), event in expected.items():
        status = stored.get((category, uscc, key))
        withdrawn = event["operation"] == "withdraw"
        if category in rows and status is not None and (status == "withdrawn") != withdrawn:
            out.append(f"{category}/{uscc}/{key}: {status} in ClickHouse")
    return out


def assignments(log: Path) -> list[tuple[str, str]]:
    """(time, partitions) of each stage assignment a worker logged."""
    return ASSIGNED.findall(log.read_text(errors="replace")) if log.exists() else []


def rebalances(logs: list[Path]) -> int:
    """Group rebalances seen: assignments of all members, those within 2 s taken as one."""
    stamps = sorted(
        time.mktime(time.strptime(t.split(",")[0], "%Y-%m-%d %H:%M:%S"))
        for log in logs
        for t, _ in assignments(log)
    )
    return sum(1 for i, s in enumerate(stamps) if i == 0 or s - stamps[i - 1] > 2)


@pytest.fixture
def churn_pipeline(fault_services, tmp_path: Path) -> WorkerConfig:
    return fault_config(
        fault_services, tmp_path, letter="j", partitions=PARTITIONS, data_dir="clickhouse-worker"
    )


def test_workers_join_and_leave_while_records_flow(
    fault_services, churn_pipeline, workers, tmp_path
):
    config = churn_pipeline
    workload = churn_workload(FIRST, ENTERPRISES)
    total = len(workload.events)
    expected = newest_by_item(workload, usccs_by_code(FIRST, ENTERPRISES))
    group = f"{config.topic_prefix}{config.app_id}"

    def stage_worker(name: str):
        # Its own data dir, no ClickHouse: as on a machine of its own.
        own = dataclasses.replace(config, data_dir=tmp_path / f"worker-{name}", clickhouse_dsn=None)
        return workers.spawn(own, CHURNED_STAGES, log_level="INFO")

    def log_of(worker) -> Path:
        return workers.logs[workers.started.index(worker)]

    # Four parts sent one after the other; each fault is made right after a part starts, so
    # records are flowing at every fault by construction, whatever the machine's speed.
    parts = [
        SteadyProducer(config.bootstrap, config.topic_prefix, part, rate=45)
        for part in workload.split(4)
    ]
    began = time.monotonic()
    clickhouse = workers.spawn(config, "clickhouse")
    a, b = stage_worker("a"), stage_worker("b")
    moments: dict[str, object] = {}

    def alive(*procs) -> str | None:
        dead = [
            f"{log_of(p).name} exited {p.proc.poll()}" for p in procs if p.proc.poll() is not None
        ]
        return "; ".join(dead) or None

    def next_part(n: int) -> SteadyProducer:
        """Wait for part n-1 to be acknowledged, start part n."""
        if n:
            parts[n - 1].finish(300)
        parts[n].start()
        return parts[n]

    def assigned(worker, more_than: int = 0) -> None:
        wait_for(
            lambda: len(assignments(log_of(worker))) > more_than,
            180,
            lambda: f"{log_of(worker).name} got no (new) stage assignment",
            alive=lambda: alive(worker),
        )

    try:
        next_part(0)
        # C joins a group that A and B have both formed.
        assigned(a)
        assigned(b)
        flowing = next_part(1)
        c = stage_worker("c")
        moments["c_joined_while_part_sending"] = flowing.is_alive()
        # A leaves only once C holds partitions: the join has taken effect.
        assigned(c)
        flowing = next_part(2)
        b_before = len(assignments(log_of(b)))
        moments["a_sigterm_while_part_sending"] = flowing.is_alive()
        assert a.stop() == 0, log_of(a).read_text(errors="replace")[-3000:]
        # B is killed holding partitions of the group that A left.
        assigned(b, b_before)
        flowing = next_part(3)
        b_held = [p for _, p in assignments(log_of(b))][-1:]
        b.kill()
        killed_at = time.monotonic()
        moments["b_sigkill_while_part_sending"] = flowing.is_alive()
        assert flowing.is_alive(), "the last part was sent before the kill"
        flowing.finish(300)
        wait_for(
            lambda: (
                rebuild.stages_caught_up(config.kafka, group, config.topic_prefix)
                and sinks_caught_up(config)
            ),
            420,
            lambda: "the stages or the sinks are behind after the kill",
            alive=lambda: alive(c, clickhouse),
            poll=1.0,
        )
        drained_s = time.monotonic() - killed_at
        # The SIGKILL member's session expired and its partitions went to C.
        assert c.stop() == 0, log_of(c).read_text(errors="replace")[-3000:]
        assert clickhouse.stop() == 0, log_of(clickhouse).read_text(errors="replace")[-3000:]
    finally:
        for part in parts:
            part.cancel()
            if part.is_alive():
                part.join(30)
    run_s = time.monotonic() - began
    churned_logs = [log_of(w) for w in (a, b, c)]

    # The rebuild: the same intake, copied under a fresh prefix, derived by one worker alone.
    fresh = f"r{uuid.uuid4().hex[:8]}."
    create_topics(kafka_at(config.bootstrap), topic_specs(fresh, partitions=PARTITIONS))
    copied = rebuild.copy_intake(config.kafka, config.topic_prefix, fresh)
    alone = dataclasses.replace(
        config,
        topic_prefix=fresh,
        data_dir=tmp_path / "worker-rebuild",
        redis_url=None,
        clickhouse_dsn=None,
    )
    rebuilder = workers.spawn(alone, "intake,items", worker_id="rebuild")
    wait_for(
        lambda: rebuild.stages_caught_up(config.kafka, f"{fresh}rebuild", fresh),
        300,
        lambda: "the rebuild worker is behind its intake",
        alive=lambda: alive(rebuilder),
        poll=1.0,
    )
    assert rebuilder.stop() == 0, log_of(rebuilder).read_text(errors="replace")[-3000:]
    live_view = rebuild.changelog_view(config.kafka, group)
    rebuilt_view = rebuild.changelog_view(config.kafka, f"{fresh}rebuild")

    report = CaseReport(
        "workers_join_leave",
        produced=total,
        recovery_s=drained_s,
        rebalances=rebalances(churned_logs),
        details={
            "partitions": PARTITIONS,
            "items": len(expected),
            "producer_retries": sum(p.retries for p in parts),
            **moments,
            "b_held_at_kill": b_held[0] if b_held else "",
            "assignments": {p.name: len(assignments(p)) for p in churned_logs},
            "state_keys": rebuild.table_sizes(live_view),
            "intake_copied": copied,
            "run_s": round(run_s, 1),
        },
    )
    report.state_mismatches = rebuild.compare_views(
        live_view, rebuilt_view, (config.topic_prefix, fresh)
    )
    if report.details["state_keys"]["parked"]:
        report.state_mismatches.append(f"{report.details['state_keys']['parked']} codes parked")
    # ClickHouse: each item exactly once after FINAL, and in its newest state.
    full_audit(
        report,
        bootstrap=config.bootstrap,
        prefix=config.topic_prefix,
        redis_port=fault_services.redis_port,
        clickhouse_dsn=config.clickhouse_dsn,
        database=config.clickhouse_database,
        produced=set(expected),
        usccs=sorted({u for _, u, _ in expected}),
    )
    wrong_records, record_messages = records_problems(
        config.bootstrap, config.topic_prefix, expected
    )
    wrong_status = clickhouse_status_problems(config, expected)
    report.details["records_messages"] = record_messages
    report.details["records_wrong"] = len(wrong_records)
    report.details["clickhouse_status_wrong"] = len(wrong_status)
    record_summary(report)
    # Every difference, for whoever reads a failure (the summary keeps the count).
    (SUMMARY_PATH.parent / "workers_join_leave-state.txt").write_text(
        "\n".join(report.state_mismatches) + "\n"
    )
    assert not report.problems(), report.problems()
    assert not wrong_records, wrong_records[:5]
    assert not wrong_status, wrong_status[:5]
    # The faults did move partitions: C's join, A's leaving, B's expiry at least.
    assert report.rebalances is not None and report.rebalances >= 3, report.details
