"""The data contract: Avro schemas, the codec, identifier parsing, topic names."""

from schemas.catalog import Catalog, SchemaVersion, default_catalog
from schemas.codec import (
    AvroCodec,
    codec_for,
    decode_enriched,
    decode_intake,
    encode_enriched,
    encode_intake,
    fingerprint_of,
)
from schemas.errors import (
    CorruptRecord,
    IncompatibleSchema,
    InvalidRecord,
    SchemaError,
    UnknownSchema,
)
from schemas.evolution import check_evolution, evolution_problems
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
    "AvroCodec",
    "Catalog",
    "CodeKind",
    "CorruptRecord",
    "IncompatibleSchema",
    "InvalidCode",
    "InvalidRecord",
    "SchemaError",
    "SchemaVersion",
    "UnknownSchema",
    "Uscc",
    "check_evolution",
    "codec_for",
    "decode_enriched",
    "decode_intake",
    "default_catalog",
    "encode_enriched",
    "encode_intake",
    "evolution_problems",
    "fingerprint_of",
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
