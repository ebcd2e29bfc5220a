"""Each category's payload schema has exactly the fields of categories.py, Chinese names as doc."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.avro_build import published_record_type, record_type_of
from schemas.catalog import default_catalog
from schemas.categories import CATEGORIES, CATEGORY_SPECS, PERSONAL_ID_CATEGORIES


def _nullable(avro_type: Any) -> bool:
    return isinstance(avro_type, list) and "null" in avro_type


def _base(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        (base,) = [t for t in avro_type if t != "null"]
        return base
    return avro_type


EXPECTED_TYPES = {
    "text": "string",
    "code": "string",
    "date": {"type": "int", "logicalType": "date"},
    "money": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2},
    "names": {"type": "array", "items": "string"},
}


@pytest.mark.parametrize("category", CATEGORIES)
def test_payload_schema_has_exactly_the_category_fields(category: str) -> None:
    spec = CATEGORY_SPECS[category]
    schema = default_catalog().newest(record_type_of(category)).schema
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == list(spec.field_names)
    for field_spec in spec.fields:
        field = fields[field_spec.name]
        assert field["doc"] == field_spec.doc, field_spec.name
        assert field["doc"].startswith(field_spec.chinese), field_spec.name
        assert _base(field["type"]) == EXPECTED_TYPES[field_spec.kind], field_spec.name
        # Required-ness is in the schema too; optional fields default to null so that
        # adding one never breaks a reader (schemas/README.md).
        assert _nullable(field["type"]) == (not field_spec.required), field_spec.name
        if not field_spec.required:
            assert field["default"] is None


@pytest.mark.parametrize("category", CATEGORIES)
def test_older_payload_versions_hold_only_known_fields(category: str) -> None:
    names = set(CATEGORY_SPECS[category].field_names)
    for kept in default_catalog().versions[record_type_of(category)]:
        assert {f["name"] for f in kept.schema["fields"]} <= names


@pytest.mark.parametrize("record_type", ["IntakeEvent", "EnrichedRecord"])
def test_envelopes_carry_every_category_as_a_payload_branch(record_type: str) -> None:
    schema = default_catalog().newest(record_type).schema
    payload = next(f for f in schema["fields"] if f["name"] == "payload")
    branches = {b["name"]: b for b in payload["type"]}
    expected = [
        published_record_type(c)
        if record_type == "EnrichedRecord" and c in PERSONAL_ID_CATEGORIES
        else record_type_of(c)
        for c in CATEGORIES
    ]
    assert list(branches) == expected
    category = next(f for f in schema["fields"] if f["name"] == "category")
    assert category["type"]["symbols"] == list(CATEGORIES)
    # Embedded branches are the newest payload versions, not stale copies.
    for name, branch in branches.items():
        assert branch == default_catalog().newest(name).schema, name


def test_every_envelope_field_is_documented() -> None:
    for record_type in ("IntakeEvent", "EnrichedRecord"):
        for field in default_catalog().newest(record_type).schema["fields"]:
            assert field.get("doc"), f"{record_type}.{field['name']}"


NEW_CATEGORIES = (
    "chattel_mortgage", "equity_pledge", "judicial_assistance", "small_business_support",
    "tax_credit_rating",
)  # fmt: skip


@pytest.mark.parametrize("category", NEW_CATEGORIES)
def test_new_category_fields_say_where_they_come_from(category: str) -> None:
    """Issue #17: every field of the new categories names its source in the schema doc."""
    schema = default_catalog().newest(record_type_of(category)).schema
    for field in schema["fields"]:
        assert "（来源：" in field["doc"], field["name"]
    assert schema["doc"].startswith(CATEGORY_SPECS[category].chinese)


def test_personal_id_categories_publish_only_the_mask_and_hash() -> None:
    assert set(PERSONAL_ID_CATEGORIES) == {"restriction", "equity_pledge", "judicial_assistance"}
    for category in PERSONAL_ID_CATEGORIES:
        published = default_catalog().newest(published_record_type(category)).schema
        names = {f["name"] for f in published["fields"]}
        assert "id_document_number" not in names
        assert {"id_document_number_masked", "id_document_number_hash"} <= names
