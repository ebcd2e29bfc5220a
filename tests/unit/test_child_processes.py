"""`creditsync run`'s children: which run where, restart after a death, nothing left on stop."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import pytest

from creditsync.runtime import ALL_STAGES, process_plan
from streams.runtime.children import (
    ChildProcesses,
    ChildSpec,
    ParentWatch,
    describe_exit,
    read_status,
    restart_delay,
)
from streams.sink_stage import sinks_of

SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")
# Ignores SIGTERM: only the SIGKILL after the grace period ends it.
STUBBORN = (
    sys.executable,
    "-c",
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)",
)


def test_restart_delay_doubles_up_to_the_cap():
    assert [restart_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_exit_status_is_described_for_an_operator():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(1) == "exit status 1"


def test_embedded_clickhouse_stays_in_the_parent_the_rest_are_children():
    parent, specs = process_plan(2, clickhouse_dsn="chdb:///d/clickhouse", publicity=True)
    assert parent == ("clickhouse",)
    assert [(s.name, s.argv[-1]) for s in specs] == [
        ("stages-1", "intake,items"),
        ("stages-2", "intake,items"),
        ("publicity-1", "publicity"),
        ("publicity-2", "publicity"),
    ]
    assert specs[0].argv[1:5] == ("-m", "creditsync", "worker", "--stages")


def test_a_clickhouse_server_gets_a_child_and_off_means_none():
    parent, specs = process_plan(1, clickhouse_dsn="http://ch:8123/db", publicity=False)
    assert parent == ()
    assert [s.name for s in specs] == ["stages-1", "clickhouse-1"]
    parent, specs = process_plan(1, clickhouse_dsn=None, publicity=True)
    assert parent == () and [s.kind for s in specs] == ["stages", "publicity"]


def test_zero_processes_keeps_everything_on_threads_of_one_process():
    assert process_plan(0, clickhouse_dsn="chdb:///x", publicity=True) == (ALL_STAGES, [])


def test_worker_stages_name_the_sinks_they_run():
    assert sinks_of(("intake", "items", "sinks")) == ("clickhouse", "publicity")
    assert sinks_of(("publicity",)) == ("publicity",)
    assert sinks_of(("clickhouse",)) == ("clickhouse",)
    assert sinks_of(("intake", "items")) == ()


def alive(pid: int) -> bool:
    """Running and not a zombie (the parent reaps its children; a zombie is not running)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


class Running:
    """ChildProcesses.run on a thread, stopped (and joined) by the test."""

    def __init__(self, children: ChildProcesses) -> None:
        self.children, self.stop = children, threading.Event()
        self.thread = threading.Thread(target=children.run, args=(self.stop,), name="children")
        self.thread.start()

    def pids(self) -> list[int | None]:
        return [p["pid"] for p in self.children.status()]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)


def test_a_killed_child_is_logged_and_restarted_and_stop_leaves_nothing(tmp_path, caplog):
    status = tmp_path / "run-processes.json"
    specs = [
        ChildSpec("stages-1", "stages", SLEEPER),
        ChildSpec("publicity-1", "publicity", SLEEPER),
    ]
    running = Running(ChildProcesses(specs, status_path=status, delay=lambda n: 0.0))
    try:
        assert wait_for(lambda: None not in running.pids() and status.exists())
        first, other = running.pids()
        shown = read_status(status)
        assert shown is not None and shown["parent"] == os.getpid()
        assert [(p["name"], p["pid"]) for p in shown["processes"]] == [
            ("stages-1", first),
            ("publicity-1", other),
        ]
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: running.pids()[0] not in (None, first))
        restarted = running.pids()[0]
        assert running.pids()[1] == other, "the other child was left alone"
        assert wait_for(lambda: json.loads(status.read_text())["processes"][0]["pid"] == restarted)
        entry = json.loads(status.read_text())["processes"][0]
        assert (entry["restarts"], entry["last_exit"]) == (1, "killed by SIGKILL")
        message = " ".join(r.getMessage() for r in caplog.records)
        assert f"process stages-1 (pid {first})" in message and "killed by SIGKILL" in message
    finally:
        running.close()
    assert not running.thread.is_alive()
    assert not any(alive(pid) for pid in (first, other, restarted))
    assert not status.exists(), "the status file outlived the processes it names"


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path, caplog):
    out = tmp_path / "ready"
    spec = ChildSpec(
        "stubborn-1", "stages", ("sh", "-c", f"exec {' '.join(map(repr, STUBBORN))} > {out}")
    )
    running = Running(ChildProcesses([spec], grace=0.5))
    try:
        # Its handler is installed once it has printed.
        assert wait_for(lambda: out.exists() and out.read_text().strip() == "ready")
        pid = running.pids()[0]
    finally:
        running.close()
    assert pid is not None and not alive(pid)
    assert "did not stop within" in " ".join(r.getMessage() for r in caplog.records)


def test_children_are_in_a_process_group_of_their_own(tmp_path):
    # A Ctrl-C at the terminal reaches the parent's group only: the parent stops the children.
    running = Running(ChildProcesses([ChildSpec("stages-1", "stages", SLEEPER)]))
    try:
        assert wait_for(lambda: running.pids()[0] is not None)
        pid = running.pids()[0]
        assert os.getpgid(pid) == pid != os.getpgid(0)
    finally:
        running.close()
    assert not alive(pid)


def test_child_names_are_unique():
    with pytest.raises(ValueError, match="unique"):
        ChildProcesses([ChildSpec("a", "stages", SLEEPER), ChildSpec("a", "stages", SLEEPER)])


def test_a_child_stops_once_the_parent_that_started_it_is_gone():
    stop = threading.Event()
    # This process's parent is not pid 0: as seen by a child whose parent died.
    ParentWatch(parent_pid=0, poll_seconds=0.01).run(stop)
    assert stop.is_set()
