"""Small adapters over Faust internals that the agents need, kept in one place."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event while its table writes run.

    A table write goes to the changelog partition of the current event. Inside a
    `take_events` batch Faust's current event is the batch's last one, which may be on
    another partition; setting it per event keeps each key in its own partition, so
    recovery after a restart or rebalance restores it where look-ups will find it."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    headers = getattr(message, "headers", None) or []
    if isinstance(headers, dict):
        return [(k, v) for k, v in headers.items()]
    return [(k, v) for k, v in headers]
