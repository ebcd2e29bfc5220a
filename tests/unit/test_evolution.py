"""The evolution check passes on the kept schemas and fails on incompatible versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.avro_build import AVRO_DIR, current_schemas
from schemas.catalog import Catalog, default_catalog
from schemas.errors import IncompatibleSchema, SchemaError
from schemas.evolution import check_evolution, sample_problems, schema_problems

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_kept_version_reads_every_older_one() -> None:
    check_evolution(default_catalog())


def test_real_kept_versions_exist_to_prove_the_mechanism() -> None:
    versions = {t: [v.version for v in vs] for t, vs in default_catalog().versions.items()}
    assert versions["Penalty"] == [1, 2]
    # v3 of both envelopes: issue #17's categories and backfill / networked / ended_on.
    assert versions["IntakeEvent"] == [1, 2, 3]
    assert versions["EnrichedRecord"] == [1, 2, 3]


def test_newest_kept_versions_are_what_categories_say() -> None:
    # A change to categories.py without `python -m schemas.avro_build` fails here.
    from fastavro.schema import to_parsing_canonical_form

    catalog = default_catalog()
    for record_type, schema in current_schemas().items():
        newest = catalog.newest(record_type)
        assert newest.canonical_form == to_parsing_canonical_form(schema), (
            f"{record_type}: run `python -m schemas.avro_build` to write a new kept version"
        )


def test_incompatible_fixture_fails_the_check() -> None:
    catalog = Catalog(FIXTURES / "incompatible")
    with pytest.raises(IncompatibleSchema) as caught:
        check_evolution(catalog)
    assert caught.value.problems == [
        "Penalty v2 cannot read v1: penalty_basis: new field without a default; "
        "data written before it has none"
    ]


def test_fastavro_agrees_the_fixture_is_incompatible() -> None:
    catalog = Catalog(FIXTURES / "incompatible")
    problems = sample_problems(catalog.version("Penalty", 1), catalog.version("Penalty", 2))
    assert problems and "penalty_basis" in problems[0]


def _schema(record_type: str, version: int) -> dict[str, Any]:
    return json.loads((AVRO_DIR / record_type / f"v{version}.avsc").read_text(encoding="utf-8"))


def _field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_removed_enum_symbol_is_caught_without_needing_a_sample() -> None:
    writer = _schema("IntakeEvent", 2)
    reader = _schema("IntakeEvent", 2)
    _field(reader, "operation")["type"]["symbols"] = ["upsert"]
    assert schema_problems(writer, reader) == ["operation: enum Operation lost symbol(s) withdraw"]


def test_removed_union_branch_is_caught() -> None:
    writer = _schema("IntakeEvent", 2)
    reader = _schema("IntakeEvent", 2)
    payload = _field(reader, "payload")
    payload["type"] = [b for b in payload["type"] if b["name"] != "RedList"]
    assert schema_problems(writer, reader) == [
        "payload: writer type RedList matches no branch of reader "
        "[Registration, License, LicenseChange, Penalty, PenaltyChange, Inspection, "
        "Restriction, AbnormalOperation, Objection, CreditRepair, NoticeFeedback]"
    ]


def test_changed_type_and_allowed_promotion() -> None:
    writer = _schema("Penalty", 2)
    reader = _schema("Penalty", 2)
    _field(reader, "decision_number")["type"] = "int"
    assert schema_problems(writer, reader) == [
        "decision_number: writer type string cannot be read as int"
    ]
    # int -> long is a promotion the spec allows.
    assert schema_problems({"type": "int"}, {"type": "long"}) == []


def test_only_a_changed_wire_form_is_a_new_version(tmp_path: Path) -> None:
    (tmp_path / "Penalty").mkdir()
    for version in (1, 2):
        schema = _schema("Penalty", 1)
        schema["doc"] = f"doc edit {version}"  # not part of the Parsing Canonical Form
        (tmp_path / "Penalty" / f"v{version}.avsc").write_text(json.dumps(schema))
    with pytest.raises(SchemaError, match="same wire form"):
        Catalog(tmp_path)
