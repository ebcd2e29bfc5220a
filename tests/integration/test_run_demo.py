"""The quick start's main job: `creditsync run --demo` fills the page's API and the
dashboard's views, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from creditsync.services import free_port

pytestmark = pytest.mark.integration


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_run_demo_fills_both_views_and_stops_on_ctrl_c(
    kafka_bootstrap, redis_url, redis_client, topic_prefix, tmp_path
):
    port = free_port()
    env = {
        **os.environ,
        "CREDITSYNC_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CREDITSYNC_REDIS_URL": redis_url,
        "CREDITSYNC_TOPIC_PREFIX": topic_prefix,
        "CREDITSYNC_DATA_DIR": str(tmp_path),
        "CREDITSYNC_HTTP_PORT": str(port),
        "CREDITSYNC_SINK_FLUSH_SECONDS": "0.5",
    }
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 — closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditsync", "run", "--demo", "--demo-rate", "50"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        stats, volume = {}, {"rows": []}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                stats = get_json(f"{base}/v1/stats")
                volume = get_json(f"{base}/v1/analytics/views/v_daily_volume")
            except OSError:
                pass  # the server is not up yet
            if stats.get("enterprises", 0) >= 5 and volume["rows"]:
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        assert stats.get("enterprises", 0) >= 5, stats
        assert volume["rows"], "the dashboard's daily volume view stayed empty"
        health = get_json(f"{base}/healthz")
        assert health["status"] == "ok", health
        # The server reads the pipeline status at most every 15 s (pipeline_metrics.py): a
        # scrape before the sink's group committed shows no lag for it until the next read.
        sink_lag = f'creditsync_consumer_lag{{group="{topic_prefix}creditsync-sink-clickhouse"'
        metrics = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sink_lag not in metrics:
            with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
                metrics = response.read().decode()
            if sink_lag not in metrics:
                time.sleep(1)
        assert "creditsync_pipeline_status_up 1.0" in metrics, metrics[-2000:]
        assert sink_lag in metrics, metrics[-2000:]
        assert "creditsync_rejected_open " in metrics and "creditsync_parked_waiting " in metrics
        # `creditsync sql` goes through the server that owns chdb, with the local operator
        # token; without it the endpoint refuses.
        sql = subprocess.run(
            [sys.executable, "-m", "creditsync", "sql", "SELECT count() AS n FROM records_raw"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sql.returncode == 0, sql.stdout + sql.stderr
        # The title (row count and route) wraps to the table's width.
        assert " ".join(sql.stdout.split()).startswith("1 row(s) — server"), sql.stdout
        assert int(sql.stdout.split("│")[1]) > 0, sql.stdout
        request = urllib.request.Request(
            f"{base}/v1/analytics/sql", data=b'{"sql": "SELECT 1"}', method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        refused.value.close()
        assert refused.value.code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    # The demo's restrictions name persons by resident ID: no log of the run may show one
    # (issue #7, security: no personal data in logs).
    from streams.rules.privacy import contains_resident_id

    logs = sorted(tmp_path.rglob("*.log"))
    assert logs, "the run wrote no log to scan"
    leaking = [str(p) for p in logs if contains_resident_id(p.read_text(errors="replace"))]
    assert not leaking, f"resident ID numbers in {leaking}"
