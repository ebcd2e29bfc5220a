"""Workers as real processes: killed with -9 mid-stream, and two sharing the partitions.

Each case ends with an audit of what a user would see: every licence in the publicity index
and, after ClickHouse's dedup, exactly once in the analytics store — nothing lost, nothing
counted twice.
"""

from __future__ import annotations

import time

import pytest

from sinks.publicity import Keys
from tests.intake_factory import enterprise_codes, license_, penalty, publish, registration
from tests.integration.helpers import WorkerProcess, chdb_query, sinks_caught_up, worker_env

pytestmark = pytest.mark.integration

ENTERPRISES = 150
LICENCES_EACH = 8


def feed(config, first: int) -> list[str]:
    """Registrations and licences of ENTERPRISES enterprises; returns their USCCs."""
    events, usccs = [], []
    for n in range(first, first + ENTERPRISES):
        codes = enterprise_codes(n)
        usccs.append(codes["uscc"])
        events.append(registration(n, f"宁夏测试{n}号商贸有限公司"))
        events += [license_(codes["uscc"], f"JY{n:06d}{i:04d}") for i in range(LICENCES_EACH)]
    publish(config.bootstrap, events, config.topic_prefix)
    return usccs


def visible_licences(redis_client, usccs: list[str]) -> int:
    keys = Keys()
    pipe = redis_client.pipeline(transaction=False)
    for uscc in usccs:
        pipe.hlen(keys.items(uscc, "license"))
    return sum(pipe.execute())


def wait_for(condition, timeout: float, proc: WorkerProcess | None = None) -> bool:
    """Poll a completion condition with a hard timeout; fail fast if the worker died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.proc.returncode}")
        time.sleep(0.2)
    return False


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(pipeline, redis_client, tmp_path):
    usccs = feed(pipeline, 1000)
    total = ENTERPRISES * LICENCES_EACH
    dsn = f"chdb://{tmp_path / 'worker-clickhouse'}"
    env = worker_env(pipeline, tmp_path, clickhouse=dsn)

    first = WorkerProcess(env, tmp_path / "worker-1.log")
    assert wait_for(lambda: visible_licences(redis_client, usccs) > 0, 120, first)
    first.kill()
    seen_at_kill = visible_licences(redis_client, usccs)
    # A second batch sent while no worker runs: the restarted worker always has a backlog,
    # besides whatever the first left uncommitted.
    usccs += feed(pipeline, 1000 + ENTERPRISES)
    total = len(usccs) * LICENCES_EACH

    second = WorkerProcess(env, tmp_path / "worker-2.log")
    try:
        assert wait_for(lambda: visible_licences(redis_client, usccs) == total, 180, second), (
            f"after the restart only {visible_licences(redis_client, usccs)} of {total} "
            f"licences are visible ({seen_at_kill} were at the kill)"
        )
        # The ClickHouse sink reads on its own: wait until it has committed every record.
        assert wait_for(lambda: sinks_caught_up(pipeline), 120, second)
        database = pipeline.clickhouse_database
    finally:
        assert second.stop() == 0, (tmp_path / "worker-2.log").read_text()[-3000:]
    rows = chdb_query(dsn, database, f"SELECT count() FROM {database}.license FINAL")
    assert rows == [(total,)], f"ClickHouse after dedup: {rows}, expected {total}"
    uniq = chdb_query(dsn, database, f"SELECT uniqExact(record_key) FROM {database}.license")
    assert uniq == [(total,)]


def test_two_workers_share_partitions_and_release_parked_records(pipeline, redis_client, tmp_path):
    # One worker owns the embedded ClickHouse, the other has it off: the ClickHouse sink's
    # consumer group is the first worker's alone, so every partition still reaches chdb.
    dsn = f"chdb://{tmp_path / 'worker-clickhouse'}"
    envs = [
        worker_env(pipeline, tmp_path, clickhouse=dsn),
        worker_env(pipeline, tmp_path, clickhouse="off"),
    ]
    workers = [WorkerProcess(env, tmp_path / f"worker-{i + 1}.log") for i, env in enumerate(envs)]
    try:
        usccs = feed(pipeline, 2000)
        total = ENTERPRISES * LICENCES_EACH
        # Penalties sent with registration numbers of enterprises that register only later:
        # the parked record and the registration's alias must meet in the same partition,
        # whichever worker owns it.
        late = [enterprise_codes(n) for n in range(2500, 2520)]
        publish(
            pipeline.bootstrap,
            [
                penalty(c["registration_number"], f"宁市监罚〔2024〕{i}号")
                for i, c in enumerate(late)
            ],
            pipeline.topic_prefix,
        )
        assert wait_for(lambda: visible_licences(redis_client, usccs) == total, 180)
        publish(
            pipeline.bootstrap,
            [registration(n, f"迟到{n}号有限公司") for n in range(2500, 2520)],
            pipeline.topic_prefix,
        )
        keys = Keys()

        def penalties_visible() -> int:
            return sum(redis_client.hlen(keys.items(c["uscc"], "penalty")) for c in late)

        assert wait_for(lambda: penalties_visible() == len(late), 120), penalties_visible()
        assert wait_for(lambda: sinks_caught_up(pipeline), 120)
        for w in workers:
            assert w.proc.poll() is None, "a worker died"
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], [(tmp_path / f"worker-{i}.log").read_text()[-2000:] for i in (1, 2)]
    database = pipeline.clickhouse_database
    rows = chdb_query(dsn, database, f"SELECT count() FROM {database}.license FINAL")
    assert rows == [(total,)], f"ClickHouse after dedup: {rows}, expected {total}"


def metric_values(text: str, name: str) -> dict[str, float]:
    """Samples of one metric in Prometheus text format, by their label string."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line[len(name) :].rpartition(" ")
            values[labels] = float(value)
    return values


def test_a_worker_serves_its_own_metrics(pipeline, redis_client, tmp_path):
    import urllib.request

    from creditsync.services import free_port

    port = free_port()
    env = {**worker_env(pipeline, tmp_path, clickhouse="off"),
           "CREDITSYNC_WORKER_METRICS_PORT": str(port)}  # fmt: skip
    codes = enterprise_codes(3000)
    events = [registration(3000, "宁夏指标商贸有限公司")]
    events += [license_(codes["uscc"], f"JY{3000:06d}{i:04d}") for i in range(3)]
    scraped: dict[str, str] = {}

    def counted() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            scraped["text"] = text = reply.read().decode()
        stages = metric_values(text, "creditsync_stage_messages_total")
        applied = metric_values(text, "creditsync_sink_records_total")
        latency = metric_values(text, "creditsync_end_to_end_seconds_count")
        return (
            # Intake: the four events, and the registration re-keyed by each legacy code.
            stages.get('{stage="intake"}', 0) >= len(events) + 2
            and stages.get('{stage="items"}', 0) >= len(events)
            and applied.get('{outcome="applied",sink="PublicityIndex"}', 0) >= len(events)
            and latency.get('{sink="PublicityIndex"}', 0) >= len(events)
        )

    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        publish(pipeline.bootstrap, events, pipeline.topic_prefix)
        assert wait_for(lambda: visible_licences(redis_client, [codes["uscc"]]) == 3, 120, worker)
        # The counters reach what was done (the last batches may still be on their way).
        assert wait_for(counted, 60, worker), scraped.get("text", "")[-3000:]
    finally:
        assert worker.stop() == 0, (tmp_path / "worker.log").read_text()[-3000:]
