"""Replay while `creditsync run` serves: POST /v1/operator/replay starts one, GET follows it.

The choice, and why. Two ways let an operator replay credit.records while the service runs:
(i) hand the replay to the serving process, or (ii) rewind the sinks' own consumer groups.
This is (i). With embedded ClickHouse (chdb) one process owns the data directory, and the
serving process is that owner, so only it can write ClickHouse; it already writes it
concurrently from the live sink (calls serialised by sinks/clickhouse/client.CHDB_LOCK).
The replay runs on a thread of its own with a group-less consumer (ops/kafka_read.py:
assigned partitions, nothing committed), so the live sinks keep consuming new records and
the public profiles stay current during it; the two write the same items concurrently, and
both stores converge whatever the order (ClickHouse keeps the newest version of each key,
the publicity index applies only newer versions). Rewinding the groups instead would stop
live delivery behind a backlog (new records wait until the replay is through), cannot be
done while the group has members (Kafka refuses to reset an active group), and loses what
a replay offers: --to, --department/--category, one --target, a dry run, progress.

With a ClickHouse server (http DSN), or no `creditsync run` alive, the CLI replays directly
(ops/replay.py): nothing owns the store there. One replay at a time per server (409 while
one runs); both endpoints ask for the operator token (creditsync/operator_token.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel, Field, model_validator

from creditsync.operator_token import token_matches
from creditsync.ops.replay import ReplayReport
from creditsync.ops.replay_progress import OffsetProgress
from sinks.publicity.api import api_error

# A replay asked to stop (server shutdown) ends after the batch in hand; wait this long.
STOP_WAIT_SECONDS = 60.0
# --from may be at most this far ahead of the server's clock (clocks differ a little).
CLOCK_SLACK_MS = 60_000


class ReplayRequest(BaseModel):
    """A replay as `creditsync replay` asks for it (times in ms since the epoch, UTC)."""

    from_ms: int = Field(ge=0, description="start time (inclusive); 0: the beginning")
    to_ms: int | None = Field(None, ge=0, description="end time (exclusive); none: now")
    target: Literal["clickhouse", "publicity", "all"] = "all"
    department: str | None = Field(None, max_length=64)
    category: str | None = Field(None, max_length=64)
    dry_run: bool = False
    batch_size: int = Field(10_000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _times(self) -> ReplayRequest:
        if self.from_ms > time.time() * 1000 + CLOCK_SLACK_MS:
            raise ValueError(f"from_ms {self.from_ms} is in the future: nothing to replay")
        if self.to_ms is not None and self.to_ms <= self.from_ms:
            raise ValueError(f"to_ms {self.to_ms} must be after from_ms {self.from_ms}")
        return self


# Runs one replay to its end: (request, progress to advance, stop event) → report.
RunReplay = Callable[[ReplayRequest, OffsetProgress, threading.Event], ReplayReport]


class ReplayBusy(Exception):
    """A replay is already running in this server."""


@dataclass
class ReplayJob:
    id: str
    request: ReplayRequest
    progress: OffsetProgress = field(default_factory=OffsetProgress)
    state: str = "running"  # running | done | failed
    report: dict[str, Any] | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "request": self.request.model_dump(),
            "progress": self.progress.as_dict(),
            "report": self.report,
            "error": self.error,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class ReplayJobs:
    """The server's replay: at most one running, on a thread of its own; the last one kept
    for GET to report on."""

    def __init__(self, run: RunReplay) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.current: ReplayJob | None = None
        self._thread: threading.Thread | None = None

    def start(self, request: ReplayRequest) -> ReplayJob:
        with self._lock:
            if self.current is not None and self.current.state == "running":
                raise ReplayBusy(self.current.id)
            job = ReplayJob(uuid.uuid4().hex[:12], request)
            self.current = job
            self._thread = threading.Thread(
                target=self._work, args=(job,), name=f"replay-{job.id}", daemon=True
            )
            self._thread.start()
            return job

    def _work(self, job: ReplayJob) -> None:
        try:
            report = self._run(job.request, job.progress, self._stop)
        except Exception as exc:
            # Reported to the operator through GET (and logged here with its trace); the
            # replay can be run again: every write it made is idempotent.
            job.error = f"{type(exc).__name__}: {exc}"
            job.state = "failed"
            traceback.print_exc()
        else:
            job.report = report.as_dict()
            job.state = "done"
        finally:
            job.finished_at = time.time()

    def stop(self) -> None:
        """Ask a running replay to end after its batch in hand, and wait for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(STOP_WAIT_SECONDS)


def operator_only(token_sha256: str | None) -> Callable[..., None]:
    """A dependency admitting `Authorization: Bearer <operator token>` only."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        if token_sha256 is None:
            raise api_error(
                503, "operator_token_unset", "this server has no operator token configured"
            )
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token_matches(token.strip(), token_sha256):
            raise api_error(
                401,
                "operator_token_required",
                "this endpoint needs the operator token: Authorization: Bearer <token>",
            )

    return check


def replay_router(jobs: ReplayJobs, token_sha256: str | None) -> APIRouter:
    """POST and GET /v1/operator/replay; the replay stops with the server (lifespan)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {}
        jobs.stop()

    router = APIRouter(
        tags=["operator"], dependencies=[Depends(operator_only(token_sha256))], lifespan=lifespan
    )

    @router.post("/v1/operator/replay", status_code=202, summary="Start a replay (operator token)")
    def start_replay(request: ReplayRequest) -> dict[str, Any]:
        try:
            return jobs.start(request).as_dict()
        except ReplayBusy as busy:
            raise api_error(
                409, "replay_running", f"replay {busy} is still running: one at a time"
            ) from busy

    @router.get("/v1/operator/replay", summary="The current or last replay (operator token)")
    def replay_state() -> dict[str, Any]:
        if jobs.current is None:
            raise api_error(404, "no_replay", "no replay has run in this server")
        return jobs.current.as_dict()

    return router


def serving_replay(
    kafka: Any,
    topic_prefix: str,
    *,
    clickhouse_dsn: str | None,
    database: str,
    redis_url: str | None,
) -> RunReplay:
    """How the server runs a replay: its own sinks (chdb shared with the live sink in this
    process), the same replay_records the CLI runs."""
    from creditsync.ops.replay import close_sinks, open_replay_sinks, replay_records, sinks_for

    def run(request: ReplayRequest, progress: OffsetProgress, stop: threading.Event) -> Any:
        sinks = open_replay_sinks(
            sinks_for(request.target),
            clickhouse_dsn=clickhouse_dsn,
            database=database,
            redis_url=redis_url,
        )
        try:
            return replay_records(
                kafka,
                topic_prefix,
                sinks,
                start_ms=request.from_ms,
                end_ms=request.to_ms,
                department=request.department,
                category=request.category,
                dry_run=request.dry_run,
                batch_size=request.batch_size,
                progress=progress,
                stop=stop,
            )
        finally:
            close_sinks(sinks)

    return run
