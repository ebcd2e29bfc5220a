"""The codec: Avro single-object encoding of every message, resolved to the newest schema.

Wire form (Avro spec, "Single-object encoding"): 0xC3 0x01, the 8-byte little-endian
CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary
body. The fingerprint finds the writer's kept version in the catalog; fastavro resolves it to
the reader's (newest) version, so consumers read everything ever published. Callers pass and
get plain dicts in the shapes of schemas/records.py; the payload union's branch is chosen
from `category`, so callers never see Avro's union notation.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, cast

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from schemas import confluent
from schemas.avro_build import (
    ENRICHED_RECORD,
    INTAKE_EVENT,
    PAYLOAD_NAMESPACE,
    published_record_type,
    record_type_of,
)
from schemas.catalog import Catalog, SchemaVersion, default_catalog
from schemas.errors import CorruptRecord, InvalidRecord, UnknownSchema
from schemas.records import EnrichedRecord, IntakeEvent

MAGIC = b"\xc3\x01"
HEADER_LENGTH = len(MAGIC) + 8
SUBJECT_CODES = ("uscc", "registration_number", "organisation_code")

Record = dict[str, Any]


def fingerprint_of(data: bytes) -> str:
    """The writer schema's fingerprint (hex, wire byte order) of a message."""
    data = confluent.frame_in(data)
    if len(data) < HEADER_LENGTH or data[:2] != MAGIC:
        raise CorruptRecord(
            "message",
            f"not Avro single-object encoding: expected 0xC3 0x01 and an 8-byte fingerprint, "
            f"got {bytes(data[:HEADER_LENGTH]).hex(' ') or 'no bytes'} ({len(data)} bytes)",
        )
    return bytes(data[2:HEADER_LENGTH]).hex()


class AvroCodec:
    """Encodes with the newest kept version of a record type; decodes any kept version."""

    def __init__(self, record_type: str, catalog: Catalog | None = None) -> None:
        self.record_type = record_type
        self.catalog = catalog or default_catalog()
        self.writer: SchemaVersion = self.catalog.newest(record_type)
        self.header = MAGIC + self.writer.fingerprint_bytes
        self._fields = frozenset(f["name"] for f in self.writer.schema["fields"])

    @property
    def fingerprint(self) -> str:
        return self.writer.fingerprint

    # --- hooks for envelopes; a plain record goes to the wire as it is ----------------------

    def _to_wire(self, record: Mapping[str, Any]) -> Any:
        self._check_fields(record, self._fields, "", None)
        return record

    def _from_wire(self, record: Record) -> Record:
        return record

    def _record_id(self, record: Mapping[str, Any]) -> str | None:
        return None

    def _check_fields(
        self, record: Mapping[str, Any], known: frozenset[str], where: str, record_id: str | None
    ) -> None:
        # fastavro ignores keys the schema does not have; a misspelt field would be lost
        # without a word, so unknown keys are an error here.
        if not record.keys() <= known:
            unknown = ", ".join(sorted(map(str, record.keys() - known)))
            raise InvalidRecord(
                self.record_type,
                f"{where}unknown field(s) {unknown}; expected only {', '.join(sorted(known))}",
                record_id,
            )

    # --- encoding ----------------------------------------------------------------------------

    def _write(self, buf: io.BytesIO, record: Mapping[str, Any]) -> None:
        if not isinstance(record, Mapping):
            raise InvalidRecord(self.record_type, f"expected a dict, got {type(record).__name__}")
        wire = self._to_wire(record)
        try:
            schemaless_writer(buf, self.writer.parsed, wire)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise InvalidRecord(
                self.record_type, self._explain(wire, exc), self._record_id(record)
            ) from exc

    def _explain(self, wire: Any, exc: Exception) -> str:
        """Why a record did not encode, naming the field (fastavro's validator knows which)."""
        try:
            validate(wire, self.writer.parsed, raise_errors=True)
        except ValidationError as invalid:
            return "; ".join(str(e) for e in invalid.errors) or str(exc)
        except (ValueError, TypeError, KeyError, AttributeError) as other:
            return f"{exc} ({other})"
        return str(exc)

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """One record as a single-object encoded message."""
        buf = io.BytesIO()
        buf.write(self.header)
        self._write(buf, record)
        return buf.getvalue()

    def encode_many(self, records: Iterable[Mapping[str, Any]]) -> list[bytes]:
        """Many records, one message each; one buffer reused for the whole batch."""
        buf = io.BytesIO()
        out = []
        header = self.header
        for record in records:
            buf.seek(0)
            buf.truncate()
            buf.write(header)
            self._write(buf, record)
            out.append(buf.getvalue())
        return out

    # --- decoding ----------------------------------------------------------------------------

    def writer_of(self, data: bytes) -> SchemaVersion:
        """The kept version a message was written with; it must be of this codec's type."""
        version = self.catalog.by_fp(fingerprint_of(data))
        if version.record_type != self.record_type:
            raise UnknownSchema(
                f"message was written as {version.record_type} v{version.version}; "
                f"this codec reads {self.record_type}",
                fingerprint=version.fingerprint,
            )
        return version

    def decode(self, data: bytes) -> Record:
        """A single-object encoded message as a plain dict of the newest schema."""
        writer = self.writer_of(data)
        # Resolution only when the versions differ: fastavro would otherwise compare the
        # two (large) schemas on every call.
        reader = None if writer is self.writer else self.writer.parsed
        buf = io.BytesIO(data)
        buf.seek(HEADER_LENGTH)
        try:
            record = schemaless_reader(buf, writer.parsed, reader)
        # fastavro raises whatever the bytes provoke (EOFError, IndexError, ValueError,
        # UnicodeDecodeError, SchemaResolutionError, MemoryError on a garbage length …);
        # all of them mean the same thing to a caller: these bytes are not a record.
        except Exception as exc:
            raise CorruptRecord(
                self.record_type,
                f"body does not decode as {writer.record_type} v{writer.version} "
                f"({type(exc).__name__}: {exc})",
            ) from exc
        if buf.tell() != len(data):
            raise CorruptRecord(
                self.record_type,
                f"{len(data) - buf.tell()} trailing bytes after the "
                f"{writer.record_type} v{writer.version} body",
            )
        return self._from_wire(cast(Record, record))

    def decode_many(self, messages: Iterable[bytes]) -> list[Record]:
        """Many messages; each may have been written with a different kept version."""
        return [self.decode(data) for data in messages]


class EnvelopeCodec(AvroCodec):
    """IntakeEvent and EnrichedRecord: checks the envelope, picks the payload branch."""

    def __init__(self, record_type: str, catalog: Catalog | None = None) -> None:
        super().__init__(record_type, catalog)
        fields = {f["name"]: f for f in self.writer.schema["fields"]}
        branches = {b["name"]: b for b in fields["payload"]["type"]}
        self._branches: dict[str, tuple[str, frozenset[str]]] = {}
        for category in fields["category"]["type"]["symbols"]:
            name = record_type_of(category)
            if name not in branches:
                # EnrichedRecord: a category with a personal ID field is carried in its
                # published form (PublishedRestriction …), the number masked and hashed.
                name = published_record_type(category)
            branch = branches[name]
            self._branches[category] = (
                f"{PAYLOAD_NAMESPACE}.{name}",
                frozenset(f["name"] for f in branch["fields"]),
            )

    def _record_id(self, record: Mapping[str, Any]) -> str | None:
        return str(record.get("event_id"))

    def _to_wire(self, record: Mapping[str, Any]) -> Any:
        self._check_fields(record, self._fields, "", self._record_id(record))
        category = record.get("category")
        try:
            branch, known = self._branches[category]  # type: ignore[index]
        except (KeyError, TypeError):
            raise InvalidRecord(
                self.record_type,
                f"category: {category!r} is not one of {', '.join(self._branches)}",
                self._record_id(record),
            ) from None
        subject = record.get("subject")
        if isinstance(subject, Mapping) and not any(subject.get(c) for c in SUBJECT_CODES):
            # DOMAIN.md: the subject code is mandatory in every category.
            raise InvalidRecord(
                self.record_type,
                "subject: at least one of uscc, registration_number, organisation_code is required",
                self._record_id(record),
            )
        payload = record.get("payload")
        if not isinstance(payload, Mapping):
            raise InvalidRecord(
                self.record_type,
                f"payload: expected a dict of the {category} fields, got {type(payload).__name__}",
                self._record_id(record),
            )
        self._check_fields(payload, known, f"payload ({category}): ", self._record_id(record))
        event_id = record.get("event_id")
        try:
            # Canonical lower-case text, so the id decodes exactly as it was sent.
            event_id = str(uuid.UUID(str(event_id)))
        except ValueError:
            raise InvalidRecord(
                self.record_type, f"event_id: {event_id!r} is not a UUID", self._record_id(record)
            ) from None
        # fastavro's named-union notation: the branch is the category's, never a guess.
        return {**record, "event_id": event_id, "payload": (branch, payload)}

    def _from_wire(self, record: Record) -> Record:
        record["event_id"] = str(record["event_id"])
        return record


@cache
def codec_for(record_type: str) -> AvroCodec:
    """The shared codec of a record type over the shipped catalog (schemas parsed once)."""
    if record_type in (INTAKE_EVENT, ENRICHED_RECORD):
        return EnvelopeCodec(record_type)
    return AvroCodec(record_type)


# The four functions every stage uses frame their output as configured (single-object by
# default, Confluent's frame with a schema registry: schemas/confluent.py) and read either.


def encode_intake(event: IntakeEvent) -> bytes:
    return confluent.frame_out(codec_for(INTAKE_EVENT).encode(event))


def decode_intake(data: bytes) -> IntakeEvent:
    return cast(IntakeEvent, codec_for(INTAKE_EVENT).decode(confluent.frame_in(data)))


def encode_enriched(record: EnrichedRecord) -> bytes:
    return confluent.frame_out(codec_for(ENRICHED_RECORD).encode(record))


def decode_enriched(data: bytes) -> EnrichedRecord:
    return cast(EnrichedRecord, codec_for(ENRICHED_RECORD).decode(confluent.frame_in(data)))
