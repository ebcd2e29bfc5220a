"""Child processes of `creditsync run`, supervised by a loop of the parent and restarted.

`ChildProcesses` is a loop like the others under `streams.runtime.supervisor`: its `run(stop)`
starts one process per `ChildSpec` (a `python -m creditsync worker --stages …`), watches
them, and restarts one that ended unasked after an exponential backoff (1 s doubling to
60 s; a child that had run for STABLE_SECONDS starts again from 1 s), logging its name, pid
and exit status. When `stop` is set it sends SIGTERM to each child by pid, waits up to
`grace` seconds for them to commit and exit, then SIGKILLs what is left and reaps it: nothing
outlives the parent's stop. Each child runs in a process group of its own, so a Ctrl-C at the
terminal reaches the parent only and the parent decides the order; a child also stops when
its parent is gone (CREDITSYNC_PARENT_PID, creditsync/cli.py), so a parent killed with -9
leaves no orphans either. The parent writes what runs to a small JSON file (pid, kind,
restarts, last exit) that `creditsync status` shows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("creditsync")

POLL_SECONDS = 0.5
BACKOFF_INITIAL = 1.0
BACKOFF_CAP = 60.0
# A child that ran this long before dying is restarted after the initial delay again.
STABLE_SECONDS = 120.0
# Below the thread supervisor's JOIN_SECONDS (60 s): the children stop before the parent gives up.
STOP_GRACE_SECONDS = 30.0
PARENT_PID_ENV = "CREDITSYNC_PARENT_PID"


@dataclass(frozen=True)
class ChildSpec:
    """One child process: `name` unique (e.g. stages-1), `kind` what it runs, its argv."""

    name: str
    kind: str
    argv: tuple[str, ...]


def restart_delay(
    failures: int, initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_CAP
) -> float:
    """Seconds to wait before the restart after the `failures`-th death in a row (1-based)."""
    return min(cap, initial * 2 ** max(0, failures - 1))


def describe_exit(returncode: int) -> str:
    """An exit status as an operator reads it: `killed by SIGKILL`, `exit status 1`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class _Child:
    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restarts: int = 0
    failures: int = 0  # deaths in a row, for the backoff
    restart_at: float = 0.0
    last_exit: str | None = None
    pids: list[int] = field(default_factory=list)  # every pid it had, for tests and logs


class ChildProcesses:
    """The loop that keeps `specs` running as child processes until `stop` is set."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        env: Mapping[str, str] | None = None,
        status_path: Path | None = None,
        grace: float = STOP_GRACE_SECONDS,
        delay: Callable[[int], float] = restart_delay,
        on_started: Callable[[ChildSpec, int], None] | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self.children = [_Child(s) for s in specs]
        base = dict(os.environ if env is None else env)
        self.env = {**base, PARENT_PID_ENV: str(os.getpid())}
        self.status_path, self.grace, self.delay = status_path, grace, delay
        self.on_started = on_started
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> None:
        try:
            for child in self.children:
                self._start(child)
            self._write_status()
            while not stop.wait(POLL_SECONDS):
                if self._tend(time.monotonic()):
                    self._write_status()
        finally:
            self._stop_all()
            if self.status_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.status_path.unlink()

    def status(self) -> list[dict[str, Any]]:
        """What runs now: name, kind, pid (None while waiting to restart), restarts, last exit."""
        with self._lock:
            return [
                {
                    "name": c.spec.name,
                    "kind": c.spec.kind,
                    "pid": c.proc.pid if c.proc is not None else None,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                }
                for c in self.children
            ]

    def _start(self, child: _Child) -> None:
        proc = subprocess.Popen(child.spec.argv, env=self.env, process_group=0)
        with self._lock:
            child.proc, child.started = proc, time.monotonic()
            child.pids.append(proc.pid)
        if child.restarts:
            log.warning("process %s restarted: pid %d", child.spec.name, proc.pid)
        if self.on_started is not None:
            self.on_started(child.spec, proc.pid)

    def _tend(self, now: float) -> bool:
        """Restart what is due, note what died; True when something changed."""
        changed = False
        for child in self.children:
            if child.proc is None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                    changed = True
                continue
            code = child.proc.poll()
            if code is None:
                continue
            ran = now - child.started
            child.failures = 1 if ran >= STABLE_SECONDS else child.failures + 1
            wait = self.delay(child.failures)
            with self._lock:
                pid, child.proc = child.proc.pid, None
                child.last_exit = describe_exit(code)
                child.restart_at = now + wait
            log.error(
                "process %s (pid %d) ended unasked after %.0fs: %s; restarting in %.0fs",
                child.spec.name, pid, ran, child.last_exit, wait,
            )  # fmt: skip
            changed = True
        return changed

    def _stop_all(self) -> None:
        """SIGTERM each child, wait up to `grace` for all, SIGKILL the rest; reap every one."""
        running = [c.proc for c in self.children if c.proc is not None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("process pid %d did not stop within %.0fs: SIGKILL", proc.pid, self.grace)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        for child in self.children:
            code = child.proc.returncode if child.proc is not None else None
            if code not in (None, 0):
                log.warning("process %s stopped with %s", child.spec.name, describe_exit(code))

    def _write_status(self) -> None:
        if self.status_path is None:
            return
        body = {"parent": os.getpid(), "processes": self.status()}
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
        os.replace(tmp, self.status_path)  # readers never see half a file


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file of a running parent, or None (absent, or its parent is gone)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(int(body["parent"]), 0)
    except ProcessLookupError:
        return None  # left by a parent killed with -9
    except PermissionError:
        pass
    return body


class ParentWatch:
    """A loop of a child: stops it (cleanly, committing) once the parent that started it is
    gone, e.g. killed with -9, so no worker is left running without its supervisor."""

    def __init__(self, parent_pid: int, poll_seconds: float = 1.0) -> None:
        self.parent_pid, self.poll_seconds = parent_pid, poll_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.poll_seconds):
            if os.getppid() != self.parent_pid:
                log.warning("parent process %d is gone: stopping", self.parent_pid)
                stop.set()
                return
