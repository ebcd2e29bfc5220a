"""POST/GET /v1/operator/replay (creditsync/ops/replay_http.py): operator token, one replay at
a time, a validated --from; the replay itself is a stand-in here."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from creditsync.ops.kafka_read import PartitionRange
from creditsync.ops.replay import ReplayReport
from creditsync.ops.replay_http import ReplayJobs, replay_router
from producers.departments import hash_token

TOKEN = "operator-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def served():
    release = threading.Event()
    seen = []

    def run(request, progress, stop):
        seen.append(request)
        progress.begin([PartitionRange("credit.records", 0, 0, 10)])
        release.wait(10)
        progress.finish()
        return ReplayReport("credit.records", request.dry_run, list(progress.ranges), read=10)

    jobs = ReplayJobs(run)
    app = FastAPI()
    app.include_router(replay_router(jobs, hash_token(TOKEN)))
    with TestClient(app) as client:
        yield client, release, seen
    release.set()


@pytest.mark.security
def test_both_endpoints_need_the_operator_token(served) -> None:
    client, _, seen = served
    body = {"from_ms": 0}
    assert client.post("/v1/operator/replay", json=body).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    refused = client.post("/v1/operator/replay", json=body, headers=wrong)
    assert refused.status_code == 401
    assert refused.json()["detail"]["error"] == "operator_token_required"
    assert client.get("/v1/operator/replay", headers=wrong).status_code == 401
    assert seen == []


def test_one_replay_at_a_time_and_its_progress_and_report(served) -> None:
    client, release, _ = served
    started = client.post("/v1/operator/replay", json={"from_ms": 0, "target": "all"}, headers=AUTH)
    assert started.status_code == 202 and started.json()["state"] == "running"
    second = client.post("/v1/operator/replay", json={"from_ms": 0}, headers=AUTH)
    assert second.status_code == 409
    assert "one at a time" in second.json()["detail"]["message"]
    release.set()
    for _ in range(100):
        state = client.get("/v1/operator/replay", headers=AUTH).json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "done", state
    assert state["progress"]["done"] == state["progress"]["total"] == 10
    assert state["report"]["read"] == 10
    # Finished: the next one may start.
    again = client.post("/v1/operator/replay", json={"from_ms": 0}, headers=AUTH)
    assert again.status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"from_ms": -1},
        {"from_ms": int(time.time() * 1000) + 3_600_000},  # an hour ahead
        {"from_ms": 1_700_000_000_000, "to_ms": 1_600_000_000_000},
        {"from_ms": 0, "target": "elsewhere"},
        {"from_ms": 0, "batch_size": 0},
        {"from_ms": "yesterday"},
    ],
)
def test_a_replay_outside_the_rules_is_refused_before_it_starts(served, body) -> None:
    client, _, seen = served
    response = client.post("/v1/operator/replay", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert seen == []
