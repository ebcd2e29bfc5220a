"""What a test left running or changed: threads, child processes, environment (issue #14).

Used by the autouse `no_leaks` fixture in tests/conftest.py. A snapshot is taken when a
test's function-scoped fixtures are about to be set up (session- and module-scoped services
are already running then, so they belong to the snapshot) and compared after its
function-scoped fixtures were torn down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field

# Threads some libraries start once per process and keep, by design, for the rest of it:
# not a test's leak. Matched by name prefix; only daemon threads are ignored.
PROCESS_LIFETIME_THREADS: tuple[str, ...] = (
    # anyio's pool for FastAPI's sync routes (TestClient): a worker idles 10 s before it
    # exits, longer than the guard waits, and the pool is shared by every later request.
    "AnyIO worker thread",
)
# How long threads and processes that are stopping get to finish before they count as left
# behind (a stop() that signalled but did not join, a process in its exit handlers).
STOP_GRACE_SECONDS = 5.0
# Set by pytest itself for each phase of each test (setup, call, teardown).
PYTEST_OWN_VARIABLES = frozenset({"PYTEST_CURRENT_TEST"})


@dataclass
class Snapshot:
    threads: set[threading.Thread] = field(default_factory=set)
    children: set[int] = field(default_factory=set)
    environ: dict[str, str] = field(default_factory=dict)


def descendants(pid: int | None = None) -> set[int]:
    """Running (not zombie) processes below `pid` (default: this process), from /proc."""
    root = os.getpid() if pid is None else pid
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue  # ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state != "Z":
            parent_of[int(entry)] = int(ppid)
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p for p, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def snapshot() -> Snapshot:
    return Snapshot(set(threading.enumerate()), descendants(), dict(os.environ))


def _ignored(thread: threading.Thread) -> bool:
    return thread.daemon and thread.name.startswith(PROCESS_LIFETIME_THREADS)


def new_threads(before: Snapshot, grace: float = STOP_GRACE_SECONDS) -> list[threading.Thread]:
    """Threads started since `before` that are still alive after a bounded join."""
    deadline = time.monotonic() + grace
    started = [t for t in threading.enumerate() if t not in before.threads and not _ignored(t)]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in started if t.is_alive()]


# Services that a session-scoped fixture started lazily, during some test's setup (a fixture
# that asks for it with request.getfixturevalue): they outlive that test by design.
_OUTLIVE_TESTS: set[int] = set()


def outlives_tests(pid: int) -> None:
    """Mark a process (and the processes it starts) as a session service, not a leak."""
    _OUTLIVE_TESTS.add(pid)


def _session_services() -> set[int]:
    alive = {pid for pid in _OUTLIVE_TESTS if os.path.exists(f"/proc/{pid}")}
    return alive.union(*(descendants(pid) for pid in alive)) if alive else set()


def new_processes(before: Snapshot, grace: float = STOP_GRACE_SECONDS) -> set[int]:
    """Descendant processes started since `before` still running after `grace` seconds."""
    deadline = time.monotonic() + grace
    left = descendants() - before.children - _session_services()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = descendants() - before.children - _session_services()
    return left


def environ_changes(before: Snapshot) -> dict[str, tuple[str | None, str | None]]:
    """name -> (value before, value now) of every variable added, removed or changed."""
    now = dict(os.environ)
    names = (set(before.environ) | set(now)) - PYTEST_OWN_VARIABLES
    return {
        n: (before.environ.get(n), now.get(n))
        for n in sorted(names)
        if before.environ.get(n) != now.get(n)
    }


def restore_environ(before: Snapshot) -> None:
    for name, (was, _) in environ_changes(before).items():
        if was is None:
            del os.environ[name]
        else:
            os.environ[name] = was


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:200]
    except OSError:
        return "?"


def kill(pids: set[int]) -> None:
    """Stop processes the test left running (they are this process's descendants), so one
    test's leak does not disturb the next."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def report(
    threads: list[threading.Thread],
    processes: set[int],
    environ: dict[str, tuple[str | None, str | None]],
) -> str:
    lines = []
    if threads:
        lines.append("threads still running: " + ", ".join(
            f"{t.name} (daemon={t.daemon}, target={getattr(t, '_target', None)!r})"
            for t in threads
        ))  # fmt: skip
    if processes:
        lines.append("child processes still running: " + "; ".join(
            f"{pid}: {command_line(pid)}" for pid in sorted(processes)
        ))  # fmt: skip
    if environ:
        # Values are not shown: they may be keys or tokens.
        lines.append("environment changed (use monkeypatch.setenv): " + ", ".join(environ))
    return "the test left behind — " + " | ".join(lines)
