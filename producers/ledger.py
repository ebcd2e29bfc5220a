"""The ledger of event ids already published, so a re-sent file or request adds nothing.

Event ids are deterministic (producers.events.event_id), so "already published" is a set
membership test. The set lives in Redis, one per department, shared by every adapter
process; ids are added only after Kafka acknowledged the records. Should the ledger be lost,
a re-send publishes again — harmless, because every stage downstream is idempotent by event
id and version; the ledger only spares the work and lets the summary say "already published".
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

LEDGER_PREFIX = "intake:published:"


class PublishedLedger:
    def __init__(self, client: redis.Redis, prefix: str = "") -> None:
        self._redis = client
        self._prefix = f"{prefix}{LEDGER_PREFIX}"

    def _key(self, department_code: str) -> str:
        return f"{self._prefix}{department_code}"

    def already_published(self, department_code: str, event_ids: Sequence[str]) -> set[str]:
        if not event_ids:
            return set()
        flags = self._redis.smismember(self._key(department_code), list(event_ids))
        return {eid for eid, seen in zip(event_ids, flags, strict=True) if seen}

    def record_published(self, department_code: str, event_ids: Sequence[str]) -> None:
        if event_ids:
            self._redis.sadd(self._key(department_code), *event_ids)
