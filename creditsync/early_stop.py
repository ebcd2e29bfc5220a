"""SIGTERM before the worker's stop handlers exist: a clean stop, not death by signal.

Kept free of heavy imports so `python -m creditsync run|worker` can install it first thing."""

from __future__ import annotations

import signal


def exit_cleanly_on_sigterm() -> None:
    """Until the worker installs its own stop handlers (creditsync/runtime.py), SIGTERM ends
    the process with status 0 through the normal unwinding (finally blocks stop what was
    started) instead of the default death by signal. A worker is stopped this early when its
    supervisor (systemd, compose) stops it while it starts."""

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
