"""The leak guard (tests/leaks.py) sees a thread, a child process and an environment change."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from tests import leaks


def test_a_thread_still_running_is_reported_and_a_finished_one_is_not() -> None:
    before = leaks.snapshot()
    stop = threading.Event()
    running = threading.Thread(target=stop.wait, name="left-running")
    done = threading.Thread(target=lambda: None, name="finished")
    running.start()
    done.start()
    try:
        assert [t.name for t in leaks.new_threads(before, grace=0.2)] == ["left-running"]
    finally:
        stop.set()
        running.join()
    assert leaks.new_threads(before, grace=1.0) == []


def test_a_child_process_still_running_is_reported() -> None:
    before = leaks.snapshot()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        found = leaks.new_processes(before, grace=0.2)
        assert found == {child.pid}
        assert "time.sleep(60)" in leaks.report([], found, {})
    finally:
        child.kill()
        child.wait()
    assert leaks.new_processes(before, grace=1.0) == set()


def test_environment_changes_are_named_without_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREDITSYNC_LEAK_GONE", "1")
    before = leaks.snapshot()
    monkeypatch.setenv("CREDITSYNC_LEAK_PROBE", "secret-value")
    monkeypatch.delenv("CREDITSYNC_LEAK_GONE")
    changes = leaks.environ_changes(before)
    assert changes == {
        "CREDITSYNC_LEAK_GONE": ("1", None),
        "CREDITSYNC_LEAK_PROBE": (None, "secret-value"),
    }
    text = leaks.report([], set(), changes)
    assert "CREDITSYNC_LEAK_PROBE" in text and "secret-value" not in text
    leaks.restore_environ(before)
    assert os.environ.get("CREDITSYNC_LEAK_PROBE") is None
    assert os.environ["CREDITSYNC_LEAK_GONE"] == "1"
    assert leaks.environ_changes(before) == {}
