"""The evolution check: every kept version reads data written by every older version.

Two checks per (writer, reader) pair. A static one applies the Avro spec's resolution rules
to the two schemas and names the field that breaks (deterministic, so a removed enum symbol
or union branch is caught even when no sample happens to use it). A dynamic one writes sample
records with the older schema and reads them with the newer one through fastavro, so the
library that actually decodes the messages agrees. Run in CI by tests/unit/test_evolution.py.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from schemas.catalog import Catalog, SchemaVersion, default_catalog
from schemas.errors import IncompatibleSchema

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
COMPLEX = {"record", "error", "enum", "fixed", "array", "map"}
# Avro spec "Schema Resolution": what a reader of the key type accepts from a writer.
PROMOTIONS = {
    "long": {"int"},
    "float": {"int", "long"},
    "double": {"int", "long", "float"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class _Names:
    """Named types of one schema, by full name, so references can be followed."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                full = _full_name(schema["name"], schema.get("namespace", namespace))
                self.types[full] = schema
                namespace = full.rpartition(".")[0]
            for f in schema.get("fields", []):
                self._collect(f["type"], namespace)
            for key in ("items", "values"):
                if key in schema:
                    self._collect(schema[key], namespace)
            if isinstance(kind, dict | list):
                self._collect(kind, namespace)

    def resolve(self, schema: Any) -> Any:
        """A schema with references followed and logical types reduced to their base type."""
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            for name, named in self.types.items():
                if schema in (name, name.rpartition(".")[2]):
                    return named
            return schema
        if isinstance(schema, dict) and schema.get("type") not in COMPLEX:
            # {"type": "int", "logicalType": "date"} or {"type": <reference or schema>}:
            # logical types do not take part in resolution (Avro spec).
            return self.resolve(schema["type"])
        return schema


def _same_name(w: dict[str, Any], r: dict[str, Any]) -> bool:
    # The spec compares unqualified names for resolution; aliases let a reader rename.
    short = w["name"].rpartition(".")[2]
    return short in {r["name"].rpartition(".")[2], *r.get("aliases", [])}


def _full_name(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        return schema["type"]
    return schema


def _short(schema: Any) -> str:
    if isinstance(schema, dict) and "name" in schema:
        return schema["name"]
    if isinstance(schema, list):
        return "[" + ", ".join(_short(b) for b in schema) + "]"
    return str(_kind(schema))


def schema_problems(writer: Any, reader: Any) -> list[str]:
    """Why `reader` cannot read data written with `writer` (empty when it can)."""
    problems: list[str] = []
    _check(writer, reader, _Names(writer), _Names(reader), "", problems, set())
    return problems


def _check(
    w: Any, r: Any, wn: _Names, rn: _Names, path: str, out: list[str], seen: set[tuple[str, str]]
) -> None:
    w, r = wn.resolve(w), rn.resolve(r)
    wk, rk = _kind(w), _kind(r)
    where = path or "<root>"
    if wk == "union":
        for branch in w:
            _check(branch, r, wn, rn, path, out, seen)
        return
    if rk == "union":
        for branch in r:
            trial: list[str] = []
            _check(w, branch, wn, rn, path, trial, set(seen))
            if not trial:
                return
        out.append(f"{where}: writer type {_short(w)} matches no branch of reader {_short(r)}")
        return
    if wk in PRIMITIVES or rk in PRIMITIVES:
        if wk != rk and wk not in PROMOTIONS.get(rk, set()):
            out.append(f"{where}: writer type {wk} cannot be read as {rk}")
        return
    if wk != rk:
        out.append(f"{where}: writer type {wk} cannot be read as {rk}")
        return
    if wk in ("record", "error", "enum", "fixed") and not _same_name(w, r):
        out.append(f"{where}: writer {wk} {w['name']} is not reader {r['name']}")
        return
    if wk == "record":
        key = (w["name"], r["name"])
        if key in seen:  # recursive types: already being compared further up
            return
        seen = seen | {key}
        written = {f["name"]: f for f in w["fields"]}
        for rf in r["fields"]:
            names = [rf["name"], *rf.get("aliases", [])]
            wf = next((written[n] for n in names if n in written), None)
            if wf is None:
                if "default" not in rf:
                    out.append(
                        f"{path}.{rf['name']}".lstrip(".")
                        + ": new field without a default; data written before it has none"
                    )
                continue
            _check(wf["type"], rf["type"], wn, rn, f"{path}.{rf['name']}".lstrip("."), out, seen)
    elif wk == "enum":
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            out.append(f"{where}: enum {r['name']} lost symbol(s) {', '.join(missing)}")
    elif wk == "fixed":
        if w["size"] != r["size"]:
            out.append(f"{where}: fixed size {w['size']} read as {r['size']}")
    elif wk == "array":
        _check(w["items"], r["items"], wn, rn, f"{path}[]", out, seen)
    elif wk == "map":
        _check(w["values"], r["values"], wn, rn, f"{path}{{}}", out, seen)


def _without_logical_types(schema: Any) -> Any:
    # Random samples are raw Avro values (an int may be day 2**31): logical types do not
    # take part in resolution, so the dynamic check reads the base types.
    if isinstance(schema, list):
        return [_without_logical_types(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    return schema


def sample_problems(writer: SchemaVersion, reader: SchemaVersion, samples: int = 25) -> list[str]:
    """Write random records with the writer schema, read them with the reader's."""
    w = parse_schema(_without_logical_types(writer.schema), named_schemas={})
    r = parse_schema(_without_logical_types(reader.schema), named_schemas={})
    for i, record in enumerate(generate_many(w, samples)):
        buf = io.BytesIO()
        schemaless_writer(buf, w, record)
        buf.seek(0)
        try:
            schemaless_reader(buf, w, r)
        except Exception as exc:  # any failure to resolve is the finding itself
            return [f"sample {i}: {type(exc).__name__}: {exc}"]
    return []


def evolution_problems(catalog: Catalog | None = None, samples: int = 25) -> list[str]:
    """Every incompatibility between a kept version and any older version of its type."""
    catalog = catalog or default_catalog()
    problems = []
    for record_type, kept in catalog.versions.items():
        for i, reader in enumerate(kept):
            for writer in kept[:i]:
                found = schema_problems(writer.schema, reader.schema)
                if not found:
                    found = sample_problems(writer, reader, samples)
                problems += [
                    f"{record_type} v{reader.version} cannot read v{writer.version}: {p}"
                    for p in found
                ]
    return problems


def check_evolution(catalog: Catalog | None = None, samples: int = 25) -> None:
    """Raise IncompatibleSchema listing every problem, or return quietly."""
    problems = evolution_problems(catalog, samples)
    if problems:
        raise IncompatibleSchema(problems)
