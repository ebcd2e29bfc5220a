"""The catalog of kept schema versions: every `.avsc` under a root, by type and fingerprint.

A writer's schema is identified on the wire by its CRC-64-AVRO fingerprint (Avro single-
object encoding); the catalog maps each fingerprint back to its record type and version, and
gives the newest version of each type as the reader schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.avro_build import AVRO_DIR, kept_versions
from schemas.errors import SchemaError, UnknownSchema


@dataclass(frozen=True)
class SchemaVersion:
    """One kept version of one record type."""

    record_type: str
    version: int
    path: Path
    schema: dict[str, Any] = field(repr=False)  # as written in the file
    parsed: dict[str, Any] = field(repr=False)  # fastavro's parsed form, reused on every call
    canonical_form: str = field(repr=False)
    fingerprint: str  # hex of the 8 little-endian CRC-64-AVRO bytes, as on the wire

    @property
    def fingerprint_bytes(self) -> bytes:
        return bytes.fromhex(self.fingerprint)


def load_version(record_type: str, version: int, path: Path) -> SchemaVersion:
    """Read and parse one `.avsc`; a file that is not a valid Avro schema is a SchemaError."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        # A fresh named-types table per file: every file is self-contained, and two versions
        # of one type define the same names differently.
        parsed = parse_schema(schema, named_schemas={})
        canonical = to_parsing_canonical_form(schema)
    except (ValueError, TypeError, KeyError) as exc:
        raise SchemaError(f"{path}: not a valid Avro schema: {exc}") from exc
    # fastavro's CRC-64-AVRO already gives the bytes in wire (little-endian) order.
    return SchemaVersion(
        record_type=record_type,
        version=version,
        path=path,
        schema=schema,
        parsed=parsed,
        canonical_form=canonical,
        fingerprint=fingerprint(canonical, "CRC-64-AVRO"),
    )


class Catalog:
    """Every kept version under one root directory (`<root>/<RecordType>/v<N>.avsc`)."""

    def __init__(self, root: Path = AVRO_DIR) -> None:
        self.root = root
        self.versions: dict[str, list[SchemaVersion]] = {}
        self.by_fingerprint: dict[str, SchemaVersion] = {}
        for type_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            kept = [
                load_version(type_dir.name, n, p) for n, p in kept_versions(root, type_dir.name)
            ]
            if not kept:
                continue
            self.versions[type_dir.name] = kept
            for version in kept:
                clash = self.by_fingerprint.get(version.fingerprint)
                # Two files with one wire form would make the writer version ambiguous; a doc-
                # or default-only change is not a new version (schemas/README.md).
                if clash is not None and clash.record_type == version.record_type:
                    raise SchemaError(
                        f"{version.path} has the same wire form (fingerprint "
                        f"{version.fingerprint}) as {clash.path}: not a new version"
                    )
                self.by_fingerprint.setdefault(version.fingerprint, version)

    @property
    def record_types(self) -> list[str]:
        return list(self.versions)

    def newest(self, record_type: str) -> SchemaVersion:
        """The newest kept version of a record type: the writer and reader schema in use."""
        try:
            return self.versions[record_type][-1]
        except KeyError:
            raise UnknownSchema(
                f"no schema for record type {record_type!r} under {self.root}; "
                f"known: {', '.join(self.versions)}"
            ) from None

    def version(self, record_type: str, version: int) -> SchemaVersion:
        for kept in self.versions.get(record_type, []):
            if kept.version == version:
                return kept
        raise UnknownSchema(f"no version {version} of record type {record_type!r}")

    def by_fp(self, fingerprint_hex: str) -> SchemaVersion:
        try:
            return self.by_fingerprint[fingerprint_hex]
        except KeyError:
            raise UnknownSchema(
                f"writer schema fingerprint {fingerprint_hex} is not in the catalog ({self.root}); "
                "the producer uses a schema version this build does not keep",
                fingerprint=fingerprint_hex,
            ) from None


@cache
def default_catalog() -> Catalog:
    """The catalog of the schemas shipped with the package, loaded once per process."""
    return Catalog(AVRO_DIR)
