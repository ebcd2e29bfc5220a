"""Operator work behind `creditsync replay | rejected | status | sql`, as plain functions.

Re-exported lazily: `creditsync run` imports only the run.pid helpers, and should not pay for
ClickHouse and Kafka clients it does not use here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "replay_records": "replay",
    "open_replay_sinks": "replay",
    "record_matches": "replay",
    "ReplayReport": "replay",
    "plan_stream_reset": "stream_reset",
    "apply_stream_reset": "stream_reset",
    "read_dead_letters": "rejected",
    "read_redriven": "rejected",
    "fetch_dead_letter": "rejected",
    "prepare_redrive": "rejected",
    "redrive": "rejected",
    "DeadLetter": "dead_letters",
    "parse_dead_letter_id": "dead_letters",
    "decode_original": "dead_letters",
    "partition_lag": "lag",
    "LagReader": "lag",
    "lag_by_topic": "lag",
    "collect_status": "status",
    "parked_summary": "status",
    "open_notices": "status",
    "run_sql": "sqlclient",
    "parse_time": "timespec",
    "running_main_job": "runlock",
    "main_job_pid": "runlock",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'creditsync.ops' has no attribute {name!r}")
    return getattr(import_module(f"creditsync.ops.{module}"), name)
