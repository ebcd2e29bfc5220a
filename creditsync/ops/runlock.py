"""Which process owns the embedded ClickHouse: `<data dir>/run.pid`, written by `creditsync run`.

chdb lets one process own a data directory (DESIGN.md "Services and how they start"). While
`creditsync run` holds it, operator commands must not open chdb themselves: `sql` goes
through the running server's HTTP API, and so does `replay --target clickhouse|all`
(POST /v1/operator/replay, creditsync/ops/replay_http.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PID_FILE = "run.pid"


def pid_file(data_dir: Path) -> Path:
    return data_dir / PID_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True


def running_main_job(data_dir: Path) -> int | None:
    """The pid of the `creditsync run` that owns `data_dir`, or None (a stale file is ignored:
    a run killed with -9 cannot remove it, and its chdb lock died with it)."""
    path = pid_file(data_dir)
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    return pid if pid != os.getpid() and _alive(pid) else None


@contextlib.contextmanager
def main_job_pid(data_dir: Path) -> Iterator[Path]:
    """Write this process's pid to `<data dir>/run.pid` while the block runs; remove it after,
    unless another run has taken it over since."""
    path = pid_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = str(os.getpid())
    path.write_text(mine, encoding="ascii")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text(encoding="ascii").strip() == mine:
                path.unlink()
