"""The optional Confluent wire format, against confluent-kafka's own mock registry."""

from __future__ import annotations

import pytest

from schemas import confluent
from schemas.codec import decode_intake, encode_intake, fingerprint_of
from schemas.errors import CorruptRecord
from tests.intake_factory import enterprise_codes, penalty


@pytest.fixture
def registry():
    pytest.importorskip("authlib", reason="confluent-kafka's registry client needs authlib")
    confluent.configure("mock://creditsync-test")
    try:
        yield confluent._active["framing"]
    finally:
        confluent.configure(None)


def test_confluent_frame_round_trips_and_registers_the_schema(registry):
    event = penalty(enterprise_codes(5)["uscc"], "宁市监罚〔2024〕99号")
    data = encode_intake(event)
    assert data[:1] == b"\x00", "a registry is configured: Confluent's magic byte first"
    schema_id = int.from_bytes(data[1:5], "big")
    registered = registry.client.get_schema(schema_id)
    assert '"IntakeEvent"' in registered.schema_str
    assert decode_intake(data) == decode_intake(registry.to_single_object(data))
    assert decode_intake(data)["record_key"] == "宁市监罚〔2024〕99号"
    assert fingerprint_of(data) == registry.catalog.newest("IntakeEvent").fingerprint


def test_single_object_messages_still_decode_with_a_registry(registry):
    event = penalty(enterprise_codes(6)["uscc"], "宁市监罚〔2024〕100号")
    confluent.configure(None)
    plain = encode_intake(event)
    confluent.configure("mock://creditsync-test")
    assert plain[:2] == b"\xc3\x01"
    assert decode_intake(plain)["event_id"] == event["event_id"]


def test_confluent_frame_without_a_registry_is_refused_with_the_reason():
    with pytest.raises(CorruptRecord, match="CREDITSYNC_SCHEMA_REGISTRY_URL"):
        decode_intake(b"\x00\x00\x00\x00\x01rest")
