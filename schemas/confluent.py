"""The optional Confluent wire format, for sites that run a Schema Registry.

When CREDITSYNC_SCHEMA_REGISTRY_URL is set, messages are framed as Confluent's serializers
frame them — a zero byte, the registry's 4-byte schema id (big-endian), the Avro body — so
other tools on the site (ksqlDB, Kafka Connect, Confluent's consumers) read our topics. The
Avro body is the same as in our single-object encoding; only the frame differs, so this
module re-frames and leaves encoding and schema resolution to `schemas.codec`. Every kept
version is registered under the record name (RecordNameStrategy: `creditsync.IntakeEvent`),
because one topic type (`credit.records`) is read with one reader schema whatever its writer.

Decoding needs no setting: a message starting 0x00 is Confluent-framed, one starting
0xC3 0x01 single-object encoded; both decode to the same dict.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from typing import Any

from fastavro.schema import to_parsing_canonical_form

from schemas.catalog import Catalog, SchemaVersion, default_catalog
from schemas.errors import CorruptRecord, UnknownSchema

CONFLUENT_MAGIC = b"\x00"
CONFLUENT_HEADER = 5  # magic byte + 4-byte schema id
SINGLE_OBJECT_MAGIC = b"\xc3\x01"


def subject_for(record_type: str) -> str:
    return f"creditsync.{record_type}"


class ConfluentFraming:
    """Maps kept schema versions to registry ids and re-frames message bodies."""

    def __init__(self, registry_url: str, catalog: Catalog | None = None) -> None:
        from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

        # new_client gives the library's in-memory registry for mock:// URLs (tests).
        self.client = SchemaRegistryClient.new_client({"url": registry_url})
        self.catalog = catalog or default_catalog()
        self._schema_type = Schema
        self._id_of: dict[str, int] = {}  # fingerprint -> registry id
        self._version_of: dict[int, SchemaVersion] = {}

    def schema_id(self, version: SchemaVersion) -> int:
        """The registry id of a kept version, registering it on first use."""
        if version.fingerprint not in self._id_of:
            schema = self._schema_type(json.dumps(version.schema), "AVRO")
            schema_id = self.client.register_schema(subject_for(version.record_type), schema)
            self._id_of[version.fingerprint] = schema_id
            self._version_of[schema_id] = version
        return self._id_of[version.fingerprint]

    def version_of(self, schema_id: int) -> SchemaVersion:
        """The kept version a registry id stands for (fetched and matched on first use)."""
        if schema_id not in self._version_of:
            try:
                registered = self.client.get_schema(schema_id)
            except Exception as exc:  # the registry's own errors vary by transport
                raise UnknownSchema(f"schema id {schema_id}: {exc}") from exc
            canonical = to_parsing_canonical_form(json.loads(registered.schema_str))
            matches = [
                v
                for versions in self.catalog.versions.values()
                for v in versions
                if v.canonical_form == canonical
            ]
            if not matches:
                raise UnknownSchema(
                    f"schema id {schema_id} is not one of the versions this build keeps"
                )
            self._version_of[schema_id] = matches[0]
        return self._version_of[schema_id]

    def to_confluent(self, single_object: bytes) -> bytes:
        """Single-object encoding -> Confluent framing (same body)."""
        version = self.catalog.by_fp(single_object[2:10].hex())
        return CONFLUENT_MAGIC + struct.pack(">I", self.schema_id(version)) + single_object[10:]

    def to_single_object(self, confluent: bytes) -> bytes:
        """Confluent framing -> single-object encoding (same body)."""
        if len(confluent) < CONFLUENT_HEADER or confluent[:1] != CONFLUENT_MAGIC:
            raise CorruptRecord("message", "not Confluent-framed: expected 0x00 and a schema id")
        (schema_id,) = struct.unpack(">I", confluent[1:CONFLUENT_HEADER])
        version = self.version_of(schema_id)
        return SINGLE_OBJECT_MAGIC + version.fingerprint_bytes + confluent[CONFLUENT_HEADER:]


_active: dict[str, Any] = {"framing": None, "url": None}


def configure(registry_url: str | None) -> None:
    """Use the Confluent frame for everything this process encodes (None: switch off)."""
    _active["url"] = registry_url
    _active["framing"] = _framing(registry_url) if registry_url else None


@cache
def _framing(registry_url: str) -> ConfluentFraming:
    return ConfluentFraming(registry_url)


def frame_out(single_object: bytes) -> bytes:
    framing = _active["framing"]
    return framing.to_confluent(single_object) if framing is not None else single_object


def frame_in(data: bytes) -> bytes:
    """Any accepted frame -> single-object encoding."""
    if data[:1] == CONFLUENT_MAGIC:
        framing = _active["framing"]
        if framing is None:
            raise CorruptRecord(
                "message",
                "not Avro single-object encoding: expected 0xC3 0x01; it starts 0x00 like "
                "Confluent's frame — if a schema registry is in use, set "
                "CREDITSYNC_SCHEMA_REGISTRY_URL",
            )
        return framing.to_single_object(data)
    return data
