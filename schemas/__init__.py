"""The data contract: Avro schemas, the codec, identifier parsing, topic names."""

from schemas.errors import SchemaError
from schemas.identifiers import (
    CodeKind,
    InvalidCode,
    Uscc,
    format_organisation_code,
    identify_code,
    make_registration_number,
    make_resident_id,
    make_uscc,
    normalise_code,
    parse_organisation_code,
    parse_registration_number,
    parse_resident_id,
    parse_uscc,
)

__all__ = [
    "CodeKind",
    "InvalidCode",
    "SchemaError",
    "Uscc",
    "format_organisation_code",
    "identify_code",
    "make_registration_number",
    "make_resident_id",
    "make_uscc",
    "normalise_code",
    "parse_organisation_code",
    "parse_registration_number",
    "parse_resident_id",
    "parse_uscc",
]
