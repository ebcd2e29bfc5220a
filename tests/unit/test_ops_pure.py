"""Pure parts of the operator commands: times, lag arithmetic, parked and notice aggregation."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from creditsync.ops.errors import InvalidTimeSpec
from creditsync.ops.kafka_read import clamp_range
from creditsync.ops.lag import PartitionLag, partition_lag, total_lag
from creditsync.ops.replay import record_matches, sinks_for
from creditsync.ops.runlock import main_job_pid, running_main_job
from creditsync.ops.status import newest_notice_states, open_notices, parked_summary
from creditsync.ops.stream_reset import changelog_topics
from creditsync.ops.timespec import BEGINNING, parse_time

NOW = dt.datetime(2024, 3, 8, 12, 0, tzinfo=dt.UTC)


# --- times -----------------------------------------------------------------------------------


def test_a_time_without_offset_is_china_time():
    assert parse_time("2024-03-08T20:00") == int(NOW.timestamp() * 1000)
    assert parse_time("2024-03-08T12:00+00:00") == int(NOW.timestamp() * 1000)
    assert parse_time("2024-03-08") == int(
        dt.datetime(2024, 3, 7, 16, tzinfo=dt.UTC).timestamp() * 1000
    )


def test_relative_and_named_times():
    assert parse_time("2h", now=NOW) == int((NOW - dt.timedelta(hours=2)).timestamp() * 1000)
    assert parse_time("3d", now=NOW) == int((NOW - dt.timedelta(days=3)).timestamp() * 1000)
    assert parse_time("beginning") == BEGINNING
    assert parse_time("1709899200000") == 1709899200000


@pytest.mark.parametrize("text", ["", "yesterday", "2024", "2024-13-01", "5y"])
def test_a_time_that_is_not_one_names_the_option_and_what_was_expected(text):
    with pytest.raises(InvalidTimeSpec) as caught:
        parse_time(text, option="--since")
    assert "--since" in str(caught.value)
    assert "expected" in str(caught.value)


# --- offsets and lag -------------------------------------------------------------------------


def test_clamp_range_reads_from_the_time_offset_to_the_end():
    assert clamp_range("t", 0, 10, 50, 20, None).start == 20
    assert clamp_range("t", 0, 10, 50, 20, None).end == 50
    # Retention removed the offset the time points at: start at the log start.
    assert clamp_range("t", 0, 10, 50, 3, None).start == 10
    # No message at or after the time (-1): nothing to read.
    assert clamp_range("t", 0, 10, 50, -1, None).size == 0
    # --to before --from: empty, never negative.
    assert clamp_range("t", 0, 10, 50, 30, 25).size == 0
    assert clamp_range("t", 0, 10, 50, 20, 40).size == 20


def test_lag_from_the_committed_offset_or_the_log_start():
    assert partition_lag(committed=40, low=0, high=50) == 10
    assert partition_lag(committed=None, low=5, high=50) == 45
    # Retention deleted past the commit: only what is left can be read.
    assert partition_lag(committed=2, low=5, high=50) == 45
    assert partition_lag(committed=50, low=0, high=50) == 0
    assert partition_lag(committed=None, low=0, high=0) == 0


def test_total_lag_per_group():
    lags = [
        PartitionLag("g", "a", 0, 3, 0, 10),
        PartitionLag("g", "a", 1, None, 0, 4),
        PartitionLag("h", "a", 0, 10, 0, 10),
    ]
    assert total_lag(lags) == {"g": 11, "h": 0}


# --- parked records and notices ---------------------------------------------------------------


def test_parked_summary_counts_waiting_records_and_the_oldest_age():
    latest = {
        "i:0:1": {"state": "parked", "parked_at": "2024-03-08T10:00:00+00:00"},
        "i:0:2": {"state": "parked", "parked_at": "2024-03-08T11:30:00+00:00"},
        "i:0:3": {"state": "redriven", "parked_at": "2024-03-01T00:00:00+00:00"},
    }
    summary = parked_summary(latest, NOW)
    assert (summary.waiting, summary.released) == (2, 1)
    assert summary.oldest_parked_at == "2024-03-08T10:00:00+00:00"
    assert summary.oldest_age_seconds == 7200


def test_parked_summary_of_nothing_waiting():
    summary = parked_summary({"k": {"state": "redriven", "parked_at": NOW.isoformat()}}, NOW)
    assert (summary.waiting, summary.oldest_parked_at, summary.oldest_age_seconds) == (
        0,
        None,
        None,
    )


def _notice(nid: str, stage: str, initiated: str) -> dict:
    return {"notice_id": nid, "department_code": "tax", "department_name": "税务局",
            "uscc": "91640422700000011X", "canonical_name": "宁夏甲商贸有限公司",
            "stage": stage, "initiated_on": initiated}  # fmt: skip


def test_open_notices_are_the_latest_state_not_fed_back_oldest_first():
    log = [
        _notice("a", "initiated", "2024-03-01"),
        _notice("b", "initiated", "2024-02-20"),
        _notice("c", "initiated", "2024-03-05"),
        _notice("a", "fed_back", "2024-03-01"),
        _notice("c", "responded", "2024-03-05"),
    ]
    found = open_notices(newest_notice_states(log), dt.date(2024, 3, 8))
    assert [(n.notice_id, n.stage, n.age_days) for n in found] == [
        ("b", "initiated", 17),
        ("c", "responded", 3),
    ]
    assert found[0].department == "税务局"


# --- selections --------------------------------------------------------------------------------


def test_replay_filters_by_department_and_category():
    record = {"department": {"code": "scjg-640000"}, "category": "penalty"}
    assert record_matches(record)
    assert record_matches(record, "scjg-640000", "penalty")
    assert not record_matches(record, "tax-640000")
    assert not record_matches(record, category="license")


def test_targets():
    assert sinks_for("all") == ("clickhouse", "publicity")
    assert sinks_for("publicity") == ("publicity",)
    with pytest.raises(ValueError, match="expected one of clickhouse, publicity, all"):
        sinks_for("redis")


def test_changelog_topics_of_the_app_only():
    topics = [
        "p.creditsync-registry-changelog",
        "p.creditsync-items-changelog",
        "p.creditsync-__assignor-__leader",
        "p.creditsync-replay-items-changelog",  # another app whose id starts with ours
        "q.creditsync-items-changelog",
        "p.credit.records",
    ]
    assert changelog_topics(topics, "p.creditsync") == [
        "p.creditsync-items-changelog",
        "p.creditsync-registry-changelog",
    ]


# --- run.pid -----------------------------------------------------------------------------------


def test_run_pid_names_the_running_main_job_and_ignores_a_stale_one(tmp_path):
    assert running_main_job(tmp_path) is None
    (tmp_path / "run.pid").write_text("999999999")  # no such process
    assert running_main_job(tmp_path) is None
    (tmp_path / "run.pid").write_text(str(os.getppid()))  # a live process that is not us
    assert running_main_job(tmp_path) == os.getppid()


def test_main_job_pid_is_removed_afterwards(tmp_path):
    with main_job_pid(tmp_path) as path:
        assert path.read_text() == str(os.getpid())
    assert not path.exists()
