"""`creditsync replay --target all` while `creditsync run` serves: the running server, which
owns the embedded ClickHouse, runs it; the CLI shows its progress and report, and ClickHouse
rows and public profiles are the same after as before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from creditsync.services import free_port
from sinks.publicity import PublicityReader
from tests.intake_factory import enterprise_codes, license_, penalty, publish, registration
from tests.integration.test_ops_replay import TABLES

pytestmark = pytest.mark.integration


def snapshot(base: str, token: str) -> dict[str, list[str]]:
    """Every table after dedup (FINAL), read through the server that owns chdb."""
    out = {}
    for table in TABLES:
        sql = (
            f"SELECT * EXCEPT (processed_at) FROM {table} FINAL"
            if table != "entity_names"
            else f"SELECT uscc, name, version_number FROM {table} FINAL"
        )
        response = httpx.post(
            f"{base}/v1/analytics/sql",
            json={"sql": sql},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        out[table] = sorted(map(repr, response.json()["rows"]))
    return out


def test_replay_runs_in_the_serving_process_and_changes_nothing(
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
        "CREDITSYNC_SINK_FLUSH_SECONDS": "0.3",
        "COLUMNS": "200",
    }
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 — closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditsync", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code < 500:
                    break
            except httpx.HTTPError:
                pass  # not up yet
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        a, b = enterprise_codes(41), enterprise_codes(42)
        events = [
            registration(41, "宁夏庚物流有限公司"),
            registration(42, "宁夏辛农业专业合作社"),
            license_(a["uscc"], "JY16404220000041"),
            penalty(b["registration_number"], "西市监罚〔2024〕51号"),
            license_(a["uscc"], "JY16404220000041", license_content="预包装食品销售；散装食品销售"),
        ]
        publish(kafka_bootstrap, events, topic_prefix)
        token = (tmp_path / "operator.token").read_text().strip()
        reader = PublicityReader(redis_client)

        def complete() -> bool:
            licence = str((reader.profile(a["uscc"]) or {}).get("items", {}).get("license"))
            if "散装" not in licence or not (reader.profile(b["uscc"]) or {}).get("items"):
                return False
            return len(snapshot(base, token)["records_raw"]) >= len(events)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not complete():
            time.sleep(0.5)
        assert complete(), (tmp_path / "run.log").read_text()[-3000:]
        tables = snapshot(base, token)
        profiles = {c: reader.profile(c) for c in (a["uscc"], b["uscc"])}

        replay = subprocess.run(
            [sys.executable, "-m", "creditsync", "replay", "--from", "beginning",
             "--target", "all", "--batch-size", "2"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        out = replay.stdout + replay.stderr
        assert replay.returncode == 0, out
        assert f"(pid {proc.pid}) owns the embedded ClickHouse: replaying there" in out
        read = int(out.split("replay of ")[1].split("read ")[1].split(" of")[0].replace(",", ""))
        assert read >= len(events)
        # The bar reached every offset of credit.records, with a rate beside it.
        assert f"{read}/{read}" in out and "/s" in out, out
        assert snapshot(base, token) == tables
        assert {c: reader.profile(c) for c in profiles} == profiles

        # The server keeps the replay's report; without the operator token it says nothing.
        state = httpx.get(
            f"{base}/v1/operator/replay", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert state["state"] == "done" and state["report"]["read"] == read
        assert state["report"]["sinks"]["clickhouse"]["applied"] == read
        assert httpx.get(f"{base}/v1/operator/replay").status_code == 401
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
