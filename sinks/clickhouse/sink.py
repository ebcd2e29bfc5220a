"""The ClickHouse sink: full history of every record in typed tables, for the dashboards.

Idempotence under retries and replays — the choice, and why:

- Tables are ReplacingMergeTree keyed by the business key — (uscc, record_key) for items,
  uscc for entities, event_id for `records_raw` — with a numeric version column. The record
  version is a string and ReplacingMergeTree wants a number, so `version_number` packs the
  same tuple (source_sequence, emitted_at ms, event_id) into a UInt256 that orders exactly
  like the string (rows.version_number). Merges and `FINAL` then keep the newest version of
  each key whatever order versions arrived in, and a replayed version is the same row.
- A retried batch carries the same `insert_deduplication_token` (a hash of the table and
  of the batch's event ids and versions), and every table keeps the last 10,000 tokens
  (`non_replicated_deduplication_window`), so the retry is dropped on arrival: raw counts
  do not double even before a merge. Tokens alone would not cover replays (a replay forms
  different batches), and ReplacingMergeTree alone would leave duplicates visible until a
  merge — together they cover both. Readers use FINAL (every dashboard view does).

Two paths. Native (the default where the server takes Avro with Variant): consumed messages
go to ClickHouse undecoded, one Avro block per writer version, and ClickHouse fills every
table itself (sinks/clickhouse/native.py; token: the batch's topic, partitions and offset
ranges). Records handed in as dicts (replay, tests, tools) are encoded and take the same
path. Python (a server without Variant or Avro input, or `native=False`): each record is
mapped by rows.py, one `insert` per table per batch, the buffer cleared in `finally`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from schemas.codec import codec_for
from schemas.errors import InvalidRecord
from schemas.records import EnrichedRecord
from sinks.base import RecordRejection, SinkResult, privacy_violation
from sinks.clickhouse import findings as findings_rows
from sinks.clickhouse import native, operations, rows
from sinks.clickhouse.client import cluster_of
from sinks.clickhouse.cluster import cluster_ddl
from sinks.clickhouse.migrations import apply_migrations
from sinks.errors import RecordMappingError, classify, downstream_errors

log = logging.getLogger(__name__)

SINK_NAME = "clickhouse"


class ClickHouseSink:
    """Writes `EnrichedRecord` batches and the operational tables to ClickHouse."""

    def __init__(self, client: Client, native: bool | None = None) -> None:
        # No network calls here: `setup()` creates the schema. `native`: None takes the
        # native path where the server supports it, True insists, False maps in Python.
        self.client = client
        self.native_wanted = native
        self.native = False
        self._buffer: dict[str, list[dict[str, Any]]] = defaultdict(list)
        # The records sink loop and the operations loop share this sink (chdb has one owner
        # per process): a write holds the lock, so one batch's buffer never mixes another's.
        self._lock = threading.Lock()

    def setup(self) -> list[int]:
        """Apply pending migrations; the versions applied now.

        Not wrapped in the error sorting: a failing migration is a bug to see as it is.
        Then the landing table of every kept EnrichedRecord version (native.py)."""
        applied = apply_migrations(self.client)
        self.native = self.native_wanted is not False and self._setup_landing()
        return applied

    def _setup_landing(self) -> bool:
        try:
            for fingerprint in native.kept_fingerprints():
                # On a cluster: a Distributed landing table over each shard's (cluster.py).
                landing = native.landing_statements(fingerprint)
                for statement in cluster_ddl(landing, cluster_of(self.client)):
                    self.client.command(statement, settings=native.INSERT_SETTINGS)
        except DatabaseError as exc:
            # Only a server that does not know the types or formats falls back; an outage
            # or a refused login is raised as it is.
            if self.native_wanted or classify(exc) is not None:
                raise
            log.warning(
                "ClickHouse cannot load Avro blocks with Variant columns (%s); records are "
                "mapped in Python instead (slower)", exc,
            )  # fmt: skip
            return False
        return True

    def close(self) -> None:
        self.client.close()

    def write_batch(self, records: list[EnrichedRecord]) -> SinkResult:
        """Write a batch: `records_raw` and the typed table of each record's category.

        Records that do not fit their table are returned as rejections (with the field and
        what was expected); the rest are written. ClickHouse keeps history, so nothing is
        skipped here: older versions are stored and `FINAL` picks the newest.

        `records` may also be consumed credit.records messages (anything with topic(),
        partition(), offset() and value()): on the native path they are not decoded at all."""
        with self._lock:
            if records and not isinstance(records[0], Mapping):
                if self.native:
                    return self._write_messages(records)
                decode = codec_for("EnrichedRecord").decode
                records = [decode(m.value()) for m in records]  # type: ignore[attr-defined]
            if self.native:
                return self._write_encoded(records)
            return self._write_records(records)

    def _write_messages(self, messages: Sequence[native.Positioned]) -> SinkResult:
        """Consumed messages as they are, one Avro block per writer version."""
        groups: dict[str, list[native.Positioned]] = {}
        bodies: dict[str, list[bytes]] = {}
        for message in messages:
            fingerprint, body = native.split_body(message.value())
            groups.setdefault(fingerprint, []).append(message)
            bodies.setdefault(fingerprint, []).append(body)
        with downstream_errors(SINK_NAME, reset=self.setup):
            for fingerprint, group in groups.items():
                self._insert_block(
                    fingerprint, bodies[fingerprint], native.offsets_token(fingerprint, group)
                )
        return SinkResult(applied=len(messages))

    def _write_encoded(self, records: list[EnrichedRecord]) -> SinkResult:
        """Records as dicts on the native path: checked, encoded, then as messages are."""
        codec = codec_for("EnrichedRecord")
        rejected: list[RecordRejection] = []
        bodies: list[bytes] = []
        identity = hashlib.sha256()
        try:
            for record in records:
                violation = privacy_violation(record)
                if violation is not None:
                    rejected.append(violation)
                    continue
                try:
                    message = codec.encode(record)
                except InvalidRecord as exc:
                    # Not in the wire types (an amount as text, say): rows.py maps what it
                    # can and names the field of what it cannot.
                    rejection = self._map_in_python(record, exc)
                    if rejection is not None:
                        rejected.append(rejection)
                    continue
                bodies.append(native.split_body(message)[1])
                lineage = record.get("lineage") or {}
                identity.update(repr((
                    record["event_id"], record["version"], record["processed_at"],
                    lineage.get("topic"), lineage.get("partition"), lineage.get("offset"),
                )).encode())  # fmt: skip
            if bodies:
                token = f"{codec.fingerprint}|records|{identity.hexdigest()}"
                with downstream_errors(SINK_NAME, reset=self.setup):
                    self._insert_block(codec.fingerprint, bodies, token)
            mapped = len(self._buffer.get(rows.RAW_TABLE, ()))
            self._flush()
        finally:
            self._buffer.clear()
        return SinkResult(applied=len(bodies) + mapped, rejected=tuple(rejected))

    def _map_in_python(self, record: EnrichedRecord, exc: InvalidRecord) -> RecordRejection | None:
        """Buffer the rows.py rows of a record that does not encode; its rejection if none."""
        event_id = record.get("event_id", "?")
        try:
            mapped = rows.rows_for(record)
        except RecordMappingError as unmapped:
            return RecordRejection(event_id, "schema_mismatch", str(unmapped))
        except KeyError as missing:
            return RecordRejection(
                event_id, "missing_field", f"record {event_id}: missing field {missing}"
            )
        except (TypeError, ValueError):
            return RecordRejection(event_id, "schema_mismatch", str(exc))
        for table, table_rows in mapped.items():
            self._buffer[table].extend(table_rows)
        return None

    def _insert_block(self, fingerprint: str, bodies: list[bytes], token: str) -> None:
        self.client.raw_insert(
            native.landing_table(fingerprint),
            insert_block=native.container_block(fingerprint, bodies),
            fmt="Avro",
            settings={**native.INSERT_SETTINGS, "insert_deduplication_token": token},
        )

    def _write_records(self, records: list[EnrichedRecord]) -> SinkResult:
        rejected: list[RecordRejection] = []
        applied = 0
        try:
            for record in records:
                violation = privacy_violation(record)
                if violation is not None:
                    rejected.append(violation)
                    continue
                try:
                    mapped = rows.rows_for(record)
                except RecordMappingError as exc:
                    rejected.append(
                        RecordRejection(record.get("event_id", "?"), "schema_mismatch", str(exc))
                    )
                    continue
                except KeyError as exc:
                    rejected.append(
                        RecordRejection(
                            record.get("event_id", "?"),
                            "missing_field",
                            f"record {record.get('event_id', '?')}: missing field {exc}",
                        )
                    )
                    continue
                for table, table_rows in mapped.items():
                    self._buffer[table].extend(table_rows)
                applied += 1
            self._flush()
        finally:
            self._buffer.clear()
        return SinkResult(applied=applied, rejected=tuple(rejected))

    def preview_batch(
        self, records: list[EnrichedRecord], assumed: dict[Any, str] | None = None
    ) -> SinkResult:
        """What `write_batch` would change, read-only (`creditsync replay --dry-run`):
        applied = records whose event id is not in `records_raw` yet (a stored one would
        collapse into the same row), skipped_not_newer = those already stored. `assumed`
        (event id → version) carries what earlier preview batches would have written."""
        assumed = {} if assumed is None else assumed
        rejected: list[RecordRejection] = []
        candidates: list[EnrichedRecord] = []
        for record in records:
            violation = privacy_violation(record)
            if violation is not None:
                rejected.append(violation)
                continue
            try:
                rows.rows_for(record)
            except (RecordMappingError, KeyError) as exc:
                rejected.append(
                    RecordRejection(
                        record.get("event_id", "?"),
                        "schema_mismatch",
                        f"record {record.get('event_id', '?')}: {exc}",
                    )
                )
                continue
            candidates.append(record)
        ids = sorted({r["event_id"] for r in candidates} - assumed.keys())
        stored: set[str] = set()
        if ids:
            with downstream_errors(SINK_NAME, reset=self.setup):
                result = self.client.query(
                    f"SELECT DISTINCT event_id FROM {rows.RAW_TABLE} WHERE event_id IN %(ids)s",
                    parameters={"ids": ids},
                )
            stored = {row[0] for row in result.result_rows}
        applied = 0
        for record in candidates:
            event_id = record["event_id"]
            if event_id in stored or event_id in assumed:
                continue
            assumed[event_id] = record["version"]
            applied += 1
        return SinkResult(
            applied=applied, skipped_not_newer=len(candidates) - applied, rejected=tuple(rejected)
        )

    def write_control_totals(self, rows_in: Iterable[operations.ControlTotalRow]) -> int:
        """Departments' declared counts per day (对账); the number of rows written."""
        return self._write_rows(
            operations.CONTROL_TOTALS_TABLE, operations.control_total_row, rows_in
        )

    def write_rejections(self, rows_in: Iterable[operations.RejectionRow]) -> int:
        """Rejected records with their reason codes; the number of rows written."""
        return self._write_rows(operations.REJECTIONS_TABLE, operations.rejection_row, rows_in)

    def write_parked(self, rows_in: Iterable[operations.ParkedRow]) -> int:
        """Parked records and their later state (released, rejected); rows written."""
        return self._write_rows(operations.PARKED_TABLE, operations.parked_row, rows_in)

    def write_notices(self, notices: Iterable[Mapping[str, Any]]) -> int:
        """Joint-punishment notice states (streams.rules.notices.JointPunishmentNotice)."""
        return self._write_rows(operations.NOTICES_TABLE, operations.notice_row, notices)

    def write_findings(self, findings: Iterable[Mapping[str, Any]]) -> int:
        """查错查重 findings from credit.quality (sinks/clickhouse/findings.py)."""
        return self._write_rows(findings_rows.FINDINGS_TABLE, findings_rows.finding_row, findings)

    def _write_rows(
        self, table: str, to_row: Callable[[Any], dict[str, Any]], rows_in: Iterable[Any]
    ) -> int:
        # Operational rows come from our own topics: a malformed one is a bug upstream, so
        # it raises (RecordMappingError names the row and field) instead of being skipped.
        with self._lock:
            try:
                self._buffer[table].extend(to_row(row) for row in rows_in)
                count = len(self._buffer[table])
                self._flush()
                return count
            finally:
                self._buffer.clear()

    def _flush(self) -> None:
        with downstream_errors(SINK_NAME, reset=self.setup):
            for table, table_rows in self._buffer.items():
                if not table_rows:
                    continue
                columns = list(table_rows[0])
                data = [[row[c] for c in columns] for row in table_rows]
                self.client.insert(
                    table,
                    data,
                    column_names=columns,
                    settings={
                        "insert_deduplication_token": rows.deduplication_token(table, table_rows)
                    },
                )
