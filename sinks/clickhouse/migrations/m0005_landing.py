"""Migration 5: `records_stage` and the views that fill the record tables from it.

The native path (sinks/clickhouse/native.py) inserts Avro blocks into a landing table per
writer version; each landing table's view turns its rows into `records_stage` rows (common
columns, category, payload JSON). `records_stage` is a Null table: nothing is kept there, its
views below write `records_raw`, the typed tables, `entities` and `entity_names` — the same
rows sinks/clickhouse/rows.py makes, so the tables and dashboard views stay as they are.
Built from m0001's frozen column lists, so this migration is frozen with them.
"""

from __future__ import annotations

from sinks.clickhouse.migrations.m0001_tables import CATEGORY_COLUMNS, COMMON

STAGE = "records_stage"


def _columns(ddl: str) -> list[tuple[str, str]]:
    """(name, type) of each line of a column list."""
    out = []
    for line in ddl.strip().splitlines():
        name, _, kind = line.strip().rstrip(",").partition(" ")
        out.append((name, kind))
    return out


COMMON_NAMES = ", ".join(name for name, _ in _columns(COMMON))

ENTITY_COLUMNS = """
    registration_number String,
    organisation_code String,
    name String,
    registration_authority LowCardinality(String),
    registered_type LowCardinality(String),
    established_on Nullable(Date32),
    status LowCardinality(String),
    legal_representative String"""
# Column -> payload field where they differ (rows._ENTITY_COLUMN_NAMES).
_ENTITY_FIELDS = {"registered_type": "entity_type"}


def _json_type(kind: str) -> str:
    """The type JSONExtract reads a payload field as (null -> '' for strings, as rows.py)."""
    return kind.replace("LowCardinality(String)", "String")


def _extract(columns: list[tuple[str, str]], fields: dict[str, str] | None = None) -> str:
    """The payload fields of `columns` parsed from the JSON once, as a named tuple `p`."""
    fields = fields or {}
    parts = ", ".join(f"`{fields.get(n, n)}` {_json_type(k)}" for n, k in columns)
    return f"JSONExtract(payload_json, 'Tuple({parts})') AS p"


def _picks(columns: list[tuple[str, str]], fields: dict[str, str] | None = None) -> str:
    """Each column taken from `p` (names lists drop empty names, as rows._names does)."""
    fields = fields or {}
    picks = []
    for name, kind in columns:
        value = f"p.`{fields.get(name, name)}`"
        if kind.startswith("Array("):
            value = f"arrayFilter(x -> x != '', {value})"
        picks.append(f"{value} AS {name}")
    return ", ".join(picks)


def _from_stage(target: str, category: str, columns: list[tuple[str, str]], extra: str = "",
                fields: dict[str, str] | None = None) -> str:  # fmt: skip
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {target}_from_stage TO {target} AS
SELECT {COMMON_NAMES}, {_picks(columns, fields)}{extra}
FROM (SELECT *, {_extract(columns, fields)} FROM {STAGE} WHERE category = '{category}')"""


_NAME = """if(JSONExtractString(payload_json, 'name') != '',
       JSONExtractString(payload_json, 'name'), canonical_name)"""
# The registered name, else the canonical one (rows.entity_rows); every other column as is.
_ENTITY = [c for c in _columns(ENTITY_COLUMNS) if c[0] != "name"]

STATEMENTS: list[str] = [
    f"CREATE TABLE IF NOT EXISTS {STAGE} ({COMMON},\n    category String,\n"
    "    payload_json String\n) ENGINE = Null",
    # Restrictions' masked ID number has no column (only the keyed hash is kept in analytics,
    # rows._NOT_STORED) and leaves the raw JSON too; the masked form has no quote in it.
    f"""CREATE MATERIALIZED VIEW IF NOT EXISTS records_raw_from_stage TO records_raw AS
SELECT {COMMON_NAMES}, category,
    replaceRegexpOne(payload_json, ',?"id_document_number_masked":(null|"[^"]*")', '')
        AS payload_json
FROM {STAGE}""",
    *[_from_stage(table, table, _columns(ddl)) for table, ddl in CATEGORY_COLUMNS.items()],
    _from_stage("entities", "registration", _ENTITY, f",\n    {_NAME} AS name", _ENTITY_FIELDS),
    f"""CREATE MATERIALIZED VIEW IF NOT EXISTS entity_names_from_stage TO entity_names AS
SELECT uscc, {_NAME} AS name,
    version_number, event_id, processed_at
FROM {STAGE} WHERE category = 'registration'""",
]
