"""A department's change-feed mapping: which source table feeds which category, column by column.

One TOML file per department (see producers/changefeed/department.example.toml): the
department's code and name, optional [debezium] and [poller] sections, and one [[tables]]
entry per source table naming its category, its columns → fields (English field names of
schemas/categories.py or the Chinese template names, resolved by
producers.templates.field_for_header), its primary-key columns and, for the poller, its
sequence column. Everything is checked when the file is loaded, so a mapping that would
lose or misplace a field fails before the first row is read.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from producers.changefeed.errors import MappingError
from producers.templates import OPERATION, SUBJECT_CODE_FIELDS, field_for_header
from schemas.categories import (
    CATEGORIES,
    SUBJECT_CODE_HEADER,
    Category,
    Operation,
    category_spec,
)
from schemas.records import Department

# How a schemaless Debezium JSON value of a column is to be read (with schemas enabled the
# envelope says it itself): DATE columns arrive as days since 1970, TIMESTAMP columns as
# milli-, micro- or nanoseconds since 1970, depending on the connector's time.precision.mode.
ColumnType = Literal["epoch_days", "epoch_ms", "epoch_us", "epoch_ns"]
COLUMN_TYPES: tuple[ColumnType, ...] = get_args(ColumnType)


@dataclass(frozen=True, slots=True)
class TableMapping:
    """One source table: its category and how its columns become the category's fields."""

    table: str  # "penalties" or "public.penalties"
    category: Category
    columns: dict[str, str]  # source column → field name (English, incl. subject pseudo-fields)
    key_columns: tuple[str, ...]  # the source row's primary key
    sequence_column: str | None = None  # the poller's increasing column (updated_at or an id)
    # Soft deletes: a truthy value here makes the poller send a withdraw (SQL polling cannot
    # see rows that were deleted outright; Debezium can, by op "d").
    deleted_column: str | None = None
    column_types: dict[str, ColumnType] = field(default_factory=dict)
    # The zone of naive timestamps in the sequence column (department databases in China
    # usually store local time without a zone).
    sequence_timezone: str = "UTC"

    @property
    def schema_name(self) -> str | None:
        return self.table.rpartition(".")[0] or None

    @property
    def table_name(self) -> str:
        return self.table.rpartition(".")[2]

    def matches(self, schema: str | None, table: str) -> bool:
        """Whether a change event's source.schema / source.table names this table."""
        if self.table_name != table:
            return False
        return self.schema_name is None or schema is None or self.schema_name == schema

    def missing_columns(self, row: Mapping[str, Any]) -> list[str]:
        """Mapped or key columns the row does not carry at all (not merely NULL)."""
        wanted = [*self.columns, *self.key_columns]
        return [column for column in dict.fromkeys(wanted) if column not in row]

    def row_fields(self, row: Mapping[str, Any], operation: Operation) -> dict[str, Any]:
        """The row's values by field name, ready for producers.events.build_intake_event."""
        fields = {name: row.get(column) for column, name in self.columns.items()}
        fields[OPERATION] = operation
        return fields

    def row_ref(self, row: Mapping[str, Any]) -> str:
        """How a person finds the row in the department's database: table and primary key."""
        key = ", ".join(f"{column}={row.get(column)!r}" for column in self.key_columns)
        return f"{self.table} ({key})"


@dataclass(frozen=True, slots=True)
class DebeziumSource:
    topics: tuple[str, ...]
    group_id: str | None = None  # default: creditsync-feed-<department code>


@dataclass(frozen=True, slots=True)
class PollerSource:
    url: str | None = None  # SQLAlchemy URL; usually given by --database-url or environment
    batch_size: int = 1000
    interval_seconds: float = 30.0
    # Rows whose timestamp sequence is younger than this are left for the next poll: a
    # transaction that stamped updated_at before another but commits after it would otherwise
    # appear behind the stored position and be skipped for ever.
    settle_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class FeedMapping:
    source: str  # the file it came from, for messages
    department: Department
    tables: tuple[TableMapping, ...]
    debezium: DebeziumSource | None = None
    poller: PollerSource = PollerSource()

    def table_for(self, schema: str | None, table: str) -> TableMapping | None:
        return next((t for t in self.tables if t.matches(schema, table)), None)

    def table(self, name: str) -> TableMapping:
        for mapping in self.tables:
            if name in (mapping.table, mapping.table_name):
                return mapping
        known = ", ".join(t.table for t in self.tables)
        raise MappingError(self.source, f"no table {name!r} in the mapping; it has {known}")


def load_mapping(path: Path | str) -> FeedMapping:
    """Read and check a mapping file; MappingError names the file and what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(str(path), f"cannot read the mapping file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(str(path), f"not valid TOML: {exc}") from exc
    return parse_mapping(data, str(path))


def parse_mapping(data: Mapping[str, Any], source: str = "mapping") -> FeedMapping:
    """A FeedMapping from the parsed TOML document."""
    dept = _table(data, "department", source)
    department = Department(
        code=_text(dept, "code", source, "[department]"),
        name=_text(dept, "name", source, "[department]"),
    )
    raw_tables = data.get("tables")
    if not isinstance(raw_tables, list) or not raw_tables:
        raise MappingError(source, "expected at least one [[tables]] entry")
    tables = tuple(_table_mapping(t, source, i) for i, t in enumerate(raw_tables, 1))
    names = [t.table for t in tables]
    if len(set(names)) != len(names):
        raise MappingError(source, f"a table is mapped twice: {sorted(names)}")
    debezium = None
    if "debezium" in data:
        dbz = _table(data, "debezium", source)
        topics = dbz.get("topics")
        if (
            not isinstance(topics, list)
            or not topics
            or not all(isinstance(t, str) for t in topics)
        ):
            raise MappingError(source, "[debezium] topics: expected a list of topic names")
        debezium = DebeziumSource(tuple(topics), dbz.get("group_id"))
    poller = PollerSource()
    if "poller" in data:
        raw = _table(data, "poller", source)
        try:
            poller = PollerSource(
                url=raw.get("url"),
                batch_size=int(raw.get("batch_size", poller.batch_size)),
                interval_seconds=float(raw.get("interval_seconds", poller.interval_seconds)),
                settle_seconds=float(raw.get("settle_seconds", poller.settle_seconds)),
            )
        except (TypeError, ValueError) as exc:
            raise MappingError(source, f"[poller]: expected numbers: {exc}") from exc
        if poller.batch_size < 1:
            raise MappingError(
                source, f"[poller] batch_size: expected >= 1, got {poller.batch_size}"
            )
    return FeedMapping(source, department, tables, debezium, poller)


def _table_mapping(raw: Any, source: str, index: int) -> TableMapping:
    where = f"[[tables]] #{index}"
    if not isinstance(raw, Mapping):
        raise MappingError(source, f"{where}: expected a table")
    table = _text(raw, "table", source, where)
    where = f"table {table!r}"
    category = _text(raw, "category", source, where)
    if category not in CATEGORIES:
        raise MappingError(
            source,
            f"{where}: unknown category {category!r}; expected one of {', '.join(CATEGORIES)}",
        )
    columns_raw = raw.get("columns")
    if not isinstance(columns_raw, Mapping) or not columns_raw:
        raise MappingError(source, f"{where}: expected [tables.columns] mapping column = field")
    columns = _columns(columns_raw, category, source, where)  # type: ignore[arg-type]
    key_columns = raw.get("key_columns")
    if not isinstance(key_columns, list) or not key_columns:
        raise MappingError(source, f"{where}: key_columns: expected the primary-key column(s)")
    column_types = dict(raw.get("column_types") or {})
    for column, kind in column_types.items():
        if kind not in COLUMN_TYPES:
            raise MappingError(
                source,
                f"{where}: column_types.{column} = {kind!r}; "
                f"expected one of {', '.join(COLUMN_TYPES)}",
            )
    zone = str(raw.get("sequence_timezone", "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(
            source, f"{where}: sequence_timezone {zone!r} is not a time zone"
        ) from exc
    return TableMapping(
        table=table,
        category=category,  # type: ignore[arg-type]
        columns=columns,
        key_columns=tuple(str(c) for c in key_columns),
        sequence_column=raw.get("sequence_column"),
        deleted_column=raw.get("deleted_column"),
        column_types=column_types,
        sequence_timezone=zone,
    )


def _columns(raw: Mapping[str, Any], category: Category, source: str, where: str) -> dict[str, str]:
    spec = category_spec(category)
    columns: dict[str, str] = {}
    owner: dict[str, str] = {}
    for column, name in raw.items():
        target = field_for_header(str(name), category)
        if target is None or target == OPERATION:
            known = "、".join(f"{f.chinese} ({f.name})" for f in spec.fields)
            why = "the operation comes from the change itself" if target == OPERATION else ""
            raise MappingError(
                source,
                f"{where}: column {column!r} → {name!r} names no field of {category} "
                f"{why or f'(fields: {SUBJECT_CODE_HEADER}, 企业名称, {known})'}",
            )
        if target in owner:
            raise MappingError(
                source, f"{where}: columns {owner[target]!r} and {column!r} both map to {target}"
            )
        owner[target] = column
        columns[str(column)] = target
    needed = [f for f in spec.fields if f.required or f.name in spec.key_fields]
    missing = [f"{f.chinese} ({f.name})" for f in needed if f.name not in owner]
    if category != "registration" and not set(owner) & set(SUBJECT_CODE_FIELDS):
        missing.insert(0, f"{SUBJECT_CODE_HEADER} (subject_code)")
    if missing:
        raise MappingError(source, f"{where}: no column for required field(s) {', '.join(missing)}")
    return columns


def _table(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise MappingError(source, f"expected a [{name}] section")
    return value


def _text(data: Mapping[str, Any], key: str, source: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(source, f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value.strip()
