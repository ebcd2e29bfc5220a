"""The SQL poller, for departments without CDC: new and changed rows read by a sequence column.

Each pass reads `WHERE (seq, pk) > (last_seq, last_pk) ORDER BY seq, pk LIMIT batch` — the
primary key breaks ties between rows stamped with the same updated_at — maps the rows,
publishes them, and stores the position only after Kafka acknowledged the batch. A crash
between the two repeats at most that one batch, which the ledger turns into "already
published"; so a restart neither skips nor repeats rows. Any database SQLAlchemy speaks
works (row-value comparison is needed: PostgreSQL, MySQL, SQLite ≥ 3.15).

Blind spots of polling, stated so nobody relies on them: a row deleted outright is not seen
(use a soft-delete column, `deleted_column`, which becomes a withdraw), and a row whose
sequence column is NULL is never read (counted and logged at start).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from producers.changefeed.errors import MappingError
from producers.changefeed.mapping import FeedMapping, TableMapping
from producers.changefeed.position import PollPosition, PositionStore
from producers.changefeed.publishing import FeedPublisher, FeedStats, Refusal
from producers.events import FieldProblem, RecordRejection, build_intake_event
from producers.publisher import rejection_record
from schemas.records import IntakeEvent

ADAPTER = "sql-poller/1"
log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def timestamp_sequence(moment: dt.datetime) -> int:
    """A source sequence from a timestamp, on the scale producers.events.spreadsheet_sequence
    uses (milliseconds << 21), so an item first loaded from a spreadsheet and later changed
    in the database orders by time across both adapters; the microseconds fill the low bits."""
    moment = moment.astimezone(dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros // 1000) << 21 | micros % 1000


def as_utc(value: Any, zone: str) -> dt.datetime | None:
    """A sequence value as an aware UTC instant, if it is a time (naive ones are in `zone`)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))
        return aware.astimezone(dt.UTC)
    return None


def row_sequence(value: Any, zone: str) -> int | None:
    """The source sequence of a row from its sequence column; None when it cannot be one."""
    moment = as_utc(value, zone)
    if moment is not None:
        return timestamp_sequence(moment)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, Decimal) and value == value.to_integral_value() and value >= 0:
        return int(value)
    return None


def is_deleted(value: Any) -> bool:
    """A soft-delete flag: true, 1, 'Y', '是' … or a deletion timestamp."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "t", "y", "yes", "是", "已删除", "deleted"}
    if isinstance(value, dt.date):
        return True
    return bool(value)


class SqlPoller:
    """Polls the mapped tables of one department's database into the intake topics."""

    def __init__(
        self,
        mapping: FeedMapping,
        engine: Engine,
        publisher: FeedPublisher,
        data_dir: Path,
        *,
        batch_size: int | None = None,
        settle_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.mapping = mapping
        self.engine = engine
        self.publisher = publisher
        self.data_dir = data_dir
        self.batch_size = batch_size or mapping.poller.batch_size
        self.settle = dt.timedelta(
            seconds=mapping.poller.settle_seconds if settle_seconds is None else settle_seconds
        )
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.stats = FeedStats()
        self.invisible_rows: dict[str, int] = {}
        self._tables: dict[str, sa.Table] = {}
        self._text_times: set[str] = set()  # tables whose timestamps SQLite keeps as text

    def store(self, table: TableMapping) -> PositionStore:
        return PositionStore.under(self.data_dir, self.mapping.department["code"], table.table)

    def poll_once(self, tables: list[str] | None = None) -> FeedStats:
        """Read every mapped table (or those named) up to its newest settled row."""
        for table in self.mapping.tables:
            if tables and table.table not in tables and table.table_name not in tables:
                continue
            self.poll_table(table)
        return self.stats

    def run(self, stop: threading.Event, tables: list[str] | None = None) -> FeedStats:
        """Poll every `interval_seconds` until `stop` is set; errors end the run."""
        while not stop.is_set():
            self.poll_once(tables)
            stop.wait(self.mapping.poller.interval_seconds)
        return self.stats

    def poll_table(self, table: TableMapping) -> int:
        """One pass over a table; returns how many rows were read."""
        source = self._reflect(table)
        seq = source.c[table.sequence_column]  # checked by _reflect
        order = [seq, *(source.c[k] for k in table.key_columns)]
        store = self.store(table)
        position = store.load()
        upper = self._settled_upper(seq, table)
        read = 0
        while True:
            query = sa.select(source).order_by(*order).limit(self.batch_size)
            query = query.where(seq.is_not(None))
            if position is not None:
                bound = [
                    sa.bindparam(None, v, type_=c.type)
                    for c, v in zip(order, position.as_tuple(), strict=True)
                ]
                query = query.where(sa.tuple_(*order) > sa.tuple_(*bound))
            if upper is not None:
                query = query.where(seq < sa.bindparam(None, upper, type_=seq.type))
            with self.engine.connect() as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
            if not rows:
                return read
            self._publish(table, rows)
            last = rows[-1]
            position = PollPosition(last[seq.name], tuple(last[k] for k in table.key_columns))
            # Only now, with the batch acknowledged, does the poller move on.
            store.save(position)
            read += len(rows)
            if len(rows) < self.batch_size:
                return read

    def _publish(self, table: TableMapping, rows: list[dict[str, Any]]) -> None:
        events: list[IntakeEvent] = []
        refusals: list[Refusal] = []
        code = self.mapping.department["code"]
        for row in rows:
            self.stats.read += 1
            operation = "withdraw" if is_deleted(row.get(table.deleted_column)) else "upsert"
            fields = table.row_fields(row, operation)  # type: ignore[arg-type]
            outcome = self._event(table, row, fields)
            if isinstance(outcome, dict):
                events.append(outcome)
                continue
            record = rejection_record(
                outcome, category=table.category, department_code=code, adapter=ADAPTER,
                fields=fields, topic_prefix=self.publisher.topic_prefix,
            )  # fmt: skip
            refusals.append(Refusal(outcome.code, record))
        self.publisher.send(events, refusals, self.stats)

    def _event(
        self, table: TableMapping, row: Mapping[str, Any], fields: dict[str, Any]
    ) -> IntakeEvent | RecordRejection:
        ref = table.row_ref(row)
        raw = row[table.sequence_column]  # type: ignore[index]
        sequence = row_sequence(raw, table.sequence_timezone)
        if sequence is None:
            problem = FieldProblem(
                str(table.sequence_column), str(table.sequence_column), raw,
                "expected a timestamp or a non-negative integer sequence", "invalid_value",
            )  # fmt: skip
            return RecordRejection.of(ref, [problem])
        emitted = as_utc(raw, table.sequence_timezone) or self.clock()
        return build_intake_event(
            table.category, fields, self.mapping.department, ADAPTER, sequence, emitted,
            record_ref=ref,
        )  # fmt: skip

    def _settled_upper(self, seq: sa.Column, table: TableMapping) -> Any:
        text_time = table.table in self._text_times
        if not self.settle or not (text_time or isinstance(seq.type, sa.DateTime)):
            return None
        upper = self.clock().astimezone(dt.UTC) - self.settle
        if isinstance(seq.type, sa.DateTime) and seq.type.timezone:
            return upper
        local = upper.astimezone(ZoneInfo(table.sequence_timezone)).replace(tzinfo=None)
        return local.isoformat(sep=" ") if text_time else local

    def _reflect(self, table: TableMapping) -> sa.Table:
        if table.table in self._tables:
            return self._tables[table.table]
        if not table.sequence_column:
            raise MappingError(
                self.mapping.source, f"table {table.table!r}: the poller needs sequence_column"
            )
        overrides = []
        with self.engine.connect() as conn:
            reflected = sa.Table(
                table.table_name, sa.MetaData(), schema=table.schema_name, autoload_with=conn
            )
            seq_type = (
                reflected.c[table.sequence_column].type
                if (table.sequence_column in reflected.c)
                else None
            )
            if conn.dialect.name == "sqlite" and isinstance(seq_type, sa.DateTime | sa.Date):
                # SQLite keeps timestamps as text and compares them as text: compare the
                # stored text itself, never a re-formatted copy ('10:00:00' sorts before
                # '10:00:00.000000', which would skip rows stamped alike).
                overrides.append(sa.Column(table.sequence_column, sa.String))
                self._text_times.add(table.table)
            source = sa.Table(
                table.table_name, sa.MetaData(), *overrides, schema=table.schema_name,
                autoload_with=conn,
            )  # fmt: skip
            wanted = [*table.columns, *table.key_columns, table.sequence_column]
            if table.deleted_column:
                wanted.append(table.deleted_column)
            missing = [c for c in dict.fromkeys(wanted) if c not in source.c]
            if missing:
                raise MappingError(
                    self.mapping.source,
                    f"table {table.table!r} has no column(s) {', '.join(missing)}; it has "
                    f"{', '.join(source.c.keys())}",
                )
            seq = source.c[table.sequence_column]
            nulls = conn.execute(
                sa.select(sa.func.count()).select_from(source).where(seq.is_(None))
            ).scalar_one()
        if nulls:
            log.warning(
                "%s: %d row(s) have NULL %s and cannot be polled; give them a value",
                table.table, nulls, table.sequence_column,
            )  # fmt: skip
        self.invisible_rows[table.table] = int(nulls)
        self._tables[table.table] = source
        return source
