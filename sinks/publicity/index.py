"""The publicity index writer: each enterprise's current public profile in Redis.

One pipeline per batch (one round trip): per record one EVALSHA of apply_record.lua — the
versioned compare-and-set of its item, or of the identity for a registration — then the
search index entries this process has not written yet (sinks/publicity/terms.py: a name's
bigrams only for a new enterprise or a changed name), which only ever grow (a name once
seen stays findable as a former name) and are idempotent.

Name search, the choice and why: character-bigram inverted sets (`pub:bg:<bigram>`) give
any-substring search for Chinese names, which have no word boundaries; a lexicographic
sorted set of normalised names (`pub:names`) gives exact and prefix matches in O(log n),
and one of codes gives code-prefix search. A query's bigram sets are intersected by a Lua
scan over the smallest set with a work budget, so even the commonest bigrams (有限, 公司)
have a bounded cost at 1,000,000 enterprises; candidates are then verified against the
real names (a bigram hit is not yet a substring) and ranked in Python (ranking.py).
RediSearch would do this too, but it is not in Debian's redis-server.

On a Redis Cluster (sinks/redis_client.py) every command touches one slot: the record's script
only its enterprise's keys, then in the same pipeline the list's own versioned script on the
list's slot (apply_list.lua) and the search entries in the enterprise's search bucket
(keys.py); redis-py's ClusterPipeline sends each node its share in one round.
"""

from __future__ import annotations

import datetime as dt
import uuid
from importlib import resources
from typing import Any

from schemas.categories import WORKFLOW_CATEGORIES
from schemas.records import EnrichedRecord
from sinks.base import RecordRejection, SinkResult, privacy_violation
from sinks.errors import REBUILD_PUBLICITY_COMMAND, IndexLost, downstream_errors
from sinks.publicity import profile
from sinks.publicity.keys import LISTS, Keys
from sinks.publicity.terms import BatchTerms, WrittenTerms
from sinks.redis_client import RedisClient, is_cluster, queue_evalsha

SINK_NAME = "publicity"
IDENTITY_FIELD = "@identity"
INDEX_FORMAT = "1"


def load_script(name: str) -> str:
    """A Lua script shipped beside this module."""
    return resources.files("sinks.publicity").joinpath(name).read_text(encoding="utf-8")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class PublicityIndex:
    """Applies `EnrichedRecord` batches to the public profiles, lists and search index."""

    def __init__(self, redis: RedisClient, prefix: str = "pub:") -> None:
        # No network calls here: `setup()` loads the scripts and reads the marker.
        self.redis = redis
        self.cluster = is_cluster(redis)
        self.keys = Keys(prefix, cluster=self.cluster)
        self._apply_source = load_script("apply_record.lua")
        self._list_source = load_script("apply_list.lua")
        self._list_sha: str | None = None
        self._marks_source = load_script("advance_marks.lua")
        self._history_source = load_script("record_history.lua")
        self._history_sha: str | None = None
        self._apply_sha: str | None = None
        self._marks_sha: str | None = None
        self.marker: dict[str, str] | None = None
        self.written = WrittenTerms()

    def setup(self) -> dict[str, str]:
        """Register the Lua script and make sure the index has its rebuild marker.

        The marker (an id and a creation time) is created once per index; the returned
        dict says `"created": "1"` when it was created now, i.e. the index is new or Redis
        lost its data — the caller then replays credit.records (`creditsync replay`)."""
        self._apply_sha = self.redis.script_load(self._apply_source)
        self._marks_sha = self.redis.script_load(self._marks_source)
        self._history_sha = self.redis.script_load(self._history_source)
        if self.cluster:  # loaded on every primary (redis-py's SCRIPT LOAD policy)
            self._list_sha = self.redis.script_load(self._list_source)
        candidate = uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC).isoformat()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(self.keys.meta, "marker", candidate)
        pipe.hsetnx(self.keys.meta, "created_at", now)
        pipe.hsetnx(self.keys.meta, "format", INDEX_FORMAT)
        pipe.hmget(self.keys.meta, "marker", "created_at")
        created, _, _, (marker, created_at) = pipe.execute()
        self.marker = {
            "marker": _text(marker),
            "created_at": _text(created_at),
            "created": "1" if created else "0",
        }
        if self.written.marker != self.marker["marker"]:
            self.written.reset(self.marker["marker"])
        return self.marker

    def close(self) -> None:
        self.redis.close()

    def _reset(self) -> None:
        before = self.marker
        self.written.reset(None)  # what Redis holds is unknown until setup reads the marker
        after = self.setup()
        if before is not None and after["marker"] != before["marker"]:
            # Kept in the index's meta hash so that `creditsync status` and /healthz keep
            # saying so (to every process, after this worker's log has scrolled away) until
            # a full replay clears it (`mark_rebuilt`).
            self.redis.hset(self.keys.meta, "replay_needed_since", after["created_at"])
            raise IndexLost(
                SINK_NAME,
                f"the index was recreated empty at {after['created_at']} (marker "
                f"{before['marker']} → {after['marker']}): Redis lost its data; replay "
                f"credit.records into the publicity index: run `{REBUILD_PUBLICITY_COMMAND}`",
            )

    def mark_rebuilt(self) -> None:
        """A full replay of credit.records has been applied: the index is whole again."""
        self.redis.hdel(self.keys.meta, "replay_needed_since")

    def write_batch(self, records: list[EnrichedRecord]) -> SinkResult:
        """Apply a batch in one pipeline; counts of applied and not-newer records."""
        if self._apply_sha is None:
            raise RuntimeError("PublicityIndex.setup() must run before write_batch()")
        rejected: list[RecordRejection] = []
        not_applicable = 0
        pipe = self.redis.pipeline(transaction=False)
        terms = BatchTerms()
        calls = 0
        record_slots: list[int] = []
        newest: tuple[str, str] | None = None  # (version, processed_at) of the batch's newest
        try:
            for record in records:
                if record["category"] in WORKFLOW_CATEGORIES:
                    not_applicable += 1  # streams sends the updated target item instead
                    continue
                violation = privacy_violation(record)
                if violation is not None:
                    rejected.append(violation)
                    continue
                try:
                    keys, args = self._script_call(record)
                    processed_at = record["processed_at"].isoformat()
                    terms.add(record)
                except (KeyError, TypeError, ValueError) as exc:
                    rejected.append(
                        RecordRejection(
                            record.get("event_id", "?"),
                            "schema_mismatch",
                            f"record {record.get('event_id', '?')}: cannot index: "
                            f"{type(exc).__name__}: {exc}",
                        )
                    )
                    continue
                queue_evalsha(pipe, self._apply_sha, keys, args)
                record_slots.append(calls)
                calls += 1
                listing = self._list_call(record, args) if self.cluster else None
                if listing is not None:
                    # After its record's apply, same pipeline, the list's slot; not a
                    # record's reply either.
                    queue_evalsha(pipe, self._list_sha, *listing)
                    calls += 1
                history = self._history_call(record, args)
                if history is not None:
                    # Right after its record's apply, in the same pipeline (its reply is
                    # not a record's: record_slots leaves it out).
                    queue_evalsha(pipe, self._history_sha, history[:2], history[2:])
                    calls += 1
                if newest is None or record["version"] > newest[0]:
                    newest = (record["version"], processed_at)
            if newest is None:  # no record to apply
                return self._result(0, 0, not_applicable, rejected)
            queue_evalsha(pipe, self._marks_sha, [self.keys.meta], list(newest))
            # The search entries this process has not written yet, after the scripts in the
            # same round trip, and the marker they are remembered under.
            fresh = terms.new(self.written)
            fresh.queue(pipe, self.keys)
            pipe.hget(self.keys.meta, "marker")
            with downstream_errors(SINK_NAME, reset=self._reset):
                replies = pipe.execute()
                marker = _text(replies[-1]) if replies[-1] is not None else None
                if marker != self.written.marker:
                    # The index was recreated since these entries were remembered: write
                    # all of this batch's (a second round trip, once), and remember anew.
                    self.written.reset(marker)
                    fresh = terms
                    pipe.reset()
                    if terms.queue(pipe, self.keys):
                        pipe.execute()
        finally:
            pipe.reset()
        self.written.remember(fresh)
        applied = sum(1 for slot in record_slots if int(replies[slot]) == 1)
        return self._result(applied, len(record_slots) - applied, not_applicable, rejected)

    @staticmethod
    def _result(
        applied: int, not_newer: int, not_applicable: int, rejected: list[RecordRejection]
    ) -> SinkResult:
        return SinkResult(
            applied=applied,
            skipped_not_newer=not_newer,
            not_applicable=not_applicable,
            rejected=tuple(rejected),
        )

    def preview_batch(
        self, records: list[EnrichedRecord], assumed: dict[Any, str] | None = None
    ) -> SinkResult:
        """What `write_batch` would do, read-only (`creditsync replay --dry-run`).

        Compares each record's version with the stored version of its item (or identity)
        as apply_record.lua does. `assumed` carries the versions earlier preview batches
        would have written ((versions key, item id) → version); it is updated in place,
        so its size is the number of distinct items that would change."""
        assumed = {} if assumed is None else assumed
        rejected: list[RecordRejection] = []
        not_applicable = 0
        targets: list[tuple[str, str, str]] = []
        for record in records:
            if record["category"] in WORKFLOW_CATEGORIES:
                not_applicable += 1
                continue
            violation = privacy_violation(record)
            if violation is not None:
                rejected.append(violation)
                continue
            try:
                keys, args = self._script_call(record)
            except (KeyError, TypeError, ValueError) as exc:
                rejected.append(
                    RecordRejection(
                        record.get("event_id", "?"),
                        "schema_mismatch",
                        f"record {record.get('event_id', '?')}: cannot index: "
                        f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            targets.append((keys[2], args[1], args[2]))  # versions hash, item id, version
        pipe = self.redis.pipeline(transaction=False)
        try:
            for versions_key, item, _ in targets:
                pipe.hget(versions_key, item)
            with downstream_errors(SINK_NAME, reset=self._reset):
                stored = pipe.execute() if targets else []
        finally:
            pipe.reset()
        applied = 0
        for (versions_key, item, version), current in zip(targets, stored, strict=True):
            known = assumed.get((versions_key, item)) or (_text(current) if current else None)
            if known is None or version > known:
                applied += 1
                assumed[(versions_key, item)] = version
        return SinkResult(
            applied=applied,
            skipped_not_newer=len(targets) - applied,
            not_applicable=not_applicable,
            rejected=tuple(rejected),
        )

    def _history_call(self, record: EnrichedRecord, args: list[Any]) -> list[Any] | None:
        """KEYS and ARGV of record_history.lua for an item that left the public view."""
        entry = profile.history_item(record) if args[0] == "item" else None
        if entry is None:
            return None
        uscc = record["uscc"]
        return [self.keys.versions(uscc), self.keys.history(uscc), args[1], args[2],
                profile.dumps(entry).decode()]  # fmt: skip

    def _list_call(
        self, record: EnrichedRecord, args: list[Any]
    ) -> tuple[list[str], list[Any]] | None:
        """apply_list.lua's keys and arguments for a list category's record (a cluster)."""
        category = record["category"]
        if category not in LISTS:
            return None
        uscc = record["uscc"]
        score = profile.list_score(record)
        region = (record.get("region") or {}).get("code")
        keys = [self.keys.list_items(category, uscc), *self.keys.lists_for(category, region)]
        return keys, [args[1], args[2], "" if score is None else score, uscc]

    def _script_call(self, record: EnrichedRecord) -> tuple[list[str], list[Any]]:
        """apply_record.lua's keys and arguments for a record (see the script's header).

        On a cluster only the enterprise's four keys (one slot): no meta, no lists."""
        k, uscc, category = self.keys, record["uscc"], record["category"]
        if not uscc:
            raise ValueError("uscc is empty")
        keys = [k.entity(uscc), k.former_names(uscc), k.versions(uscc), k.items(uscc, category)]
        if not self.cluster:
            keys.append(k.meta)
        if category == "registration":
            mode, field, item_json = "identity", IDENTITY_FIELD, b""
            identity = profile.identity_fields(record)
        else:
            item = profile.public_item(record)
            mode, field = "item", item["item_id"] if item else f"{category}:{record['record_key']}"
            item_json = profile.dumps(item) if item else b""
            identity = profile.identity_defaults(record)
            if category in LISTS and not self.cluster:
                keys += k.lists_for(category, (record.get("region") or {}).get("code"))
        args: list[Any] = [mode, field, record["version"], item_json,
                           profile.record_name(record), uscc]  # fmt: skip
        for key, value in identity.items():
            if value is not None:
                args += (key, profile.redis_text(value))
        return keys, args
