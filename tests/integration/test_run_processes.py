"""`creditsync run` with the stages and the publicity sink in child processes: records reach
both stores, a child killed with -9 is restarted without losing a record, SIGTERM to the
parent leaves no process behind; `creditsync worker` alone still exits non-zero on failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from creditsync.runtime import PROCESSES_FILE
from creditsync.services import free_port
from tests.integration.helpers import chdb_query, sinks_caught_up
from tests.integration.test_worker_processes import (
    ENTERPRISES,
    LICENCES_EACH,
    feed,
    visible_licences,
    wait_for,
)

pytestmark = pytest.mark.integration


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def children(data_dir) -> dict[str, dict]:
    """The parent's status file, by child name ({} until it is written)."""
    try:
        body = json.loads((data_dir / PROCESSES_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {p["name"]: p for p in body["processes"]}


def metric_values(port: int) -> dict[tuple[str, str], float]:
    """(sample name, stage or sink label) → value summed over the other labels, from the
    text a Prometheus server would scrape."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = sample.labels.get("stage") or sample.labels.get("sink") or ""
            out[(sample.name, label)] = out.get((sample.name, label), 0) + sample.value
    return out


def test_run_supervises_child_processes(pipeline, redis_client, tmp_path):
    data_dir = tmp_path / "run"
    dsn = f"chdb://{data_dir / 'clickhouse'}"
    database = pipeline.clickhouse_database
    http_port = free_port()
    env = {
        **os.environ,
        "CREDITSYNC_KAFKA_BOOTSTRAP": pipeline.bootstrap,
        "CREDITSYNC_REDIS_URL": pipeline.redis_url,
        "CREDITSYNC_TOPIC_PREFIX": pipeline.topic_prefix,
        "CREDITSYNC_CLICKHOUSE_DATABASE": database,
        "CREDITSYNC_DATA_DIR": str(data_dir),
        "CREDITSYNC_HTTP_HOST": "127.0.0.1",
        "CREDITSYNC_HTTP_PORT": str(http_port),
        "CREDITSYNC_SINK_FLUSH_SECONDS": "0.3",
        "CREDITSYNC_STAGE_PROCESSES": "1",
    }
    log_path = tmp_path / "run.log"
    log = open(log_path, "wb")  # noqa: SIM115 — closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditsync", "run", "--no-local-services"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    pids: set[int] = set()

    def alive_run() -> None:
        assert proc.poll() is None, log_path.read_text()[-3000:]

    try:
        # (a) a record goes through the stages' child to the publicity child's index.
        usccs = feed(pipeline, 5000)
        assert wait_for(
            lambda: (
                alive_run() or visible_licences(redis_client, usccs) == len(usccs) * LICENCES_EACH
            ),
            180,
        ), visible_licences(redis_client, usccs)
        shown = children(data_dir)
        assert sorted(shown) == ["publicity-1", "stages-1"], shown
        first = shown["stages-1"]["pid"]
        pids |= {p["pid"] for p in shown.values()}
        assert all(running(pid) for pid in pids) and proc.pid not in pids

        # (b) kill -9 the stages' child: the parent restarts it and logs it; records still flow.
        os.kill(first, signal.SIGKILL)
        assert wait_for(
            lambda: alive_run() or children(data_dir)["stages-1"]["pid"] not in (None, first),
            120,
        )
        restarted = children(data_dir)["stages-1"]
        assert restarted["restarts"] == 1 and restarted["last_exit"] == "killed by SIGKILL"
        pids.add(restarted["pid"])
        # The operator sees it in `creditsync status`.
        status = subprocess.run(
            [sys.executable, "-m", "creditsync", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        listed = {p["name"]: p for p in json.loads(status.stdout)["processes"]}
        assert (listed["stages-1"]["pid"], listed["stages-1"]["restarts"]) == (
            restarted["pid"],
            1,
        ), status.stdout
        assert listed["publicity-1"]["kind"] == "publicity"
        usccs += feed(pipeline, 5000 + ENTERPRISES)
        total = len(usccs) * LICENCES_EACH
        assert wait_for(
            lambda: alive_run() or visible_licences(redis_client, usccs) == total, 180
        ), f"{visible_licences(redis_client, usccs)} of {total} licences visible"
        # The parent's ClickHouse sink (embedded chdb) has committed every record.
        assert wait_for(lambda: alive_run() or sinks_caught_up(pipeline), 120)
        # The children's counters are on the parent's /metrics, the killed child's included.
        counted = metric_values(http_port)
        assert counted.get(("creditsync_stage_messages_total", "intake"), 0) >= total, counted
        assert counted.get(("creditsync_sink_records_total", "PublicityIndex"), 0) >= total, counted
        assert counted.get(("creditsync_sink_records_total", "ClickHouseSink"), 0) >= total, counted
    finally:
        # (c) SIGTERM to the parent stops every child.
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
    text = log_path.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert f"process stages-1 (pid {first})" in text and "killed by SIGKILL" in text, text[-3000:]
    assert not [pid for pid in pids if running(pid)], "children outlived the parent"
    assert not (data_dir / PROCESSES_FILE).exists()
    rows = chdb_query(dsn, database, f"SELECT count() FROM {database}.license FINAL")
    assert rows == [(total,)], f"ClickHouse after dedup: {rows}, expected {total}"
    uniq = chdb_query(dsn, database, f"SELECT uniqExact(record_key) FROM {database}.license")
    assert uniq == [(total,)]


def test_worker_alone_exits_non_zero_when_a_sink_fails(pipeline, tmp_path):
    # Nothing listens on this port: the publicity sink cannot start, and nobody restarts the
    # worker but its own supervisor (systemd, compose), which needs the non-zero status.
    env = {
        **os.environ,
        "CREDITSYNC_KAFKA_BOOTSTRAP": pipeline.bootstrap,
        "CREDITSYNC_TOPIC_PREFIX": pipeline.topic_prefix,
        "CREDITSYNC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "CREDITSYNC_CLICKHOUSE_DSN": "off",
        "CREDITSYNC_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "creditsync", "worker", "--stages", "publicity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Connection refused" in done.stderr, done.stderr[-2000:]


def test_worker_refuses_an_unknown_stage(tmp_path):
    env = {**os.environ, "CREDITSYNC_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "creditsync", "worker", "--stages", "intake,sink"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'sink'" in done.stdout and "publicity" in done.stdout, done.stdout
