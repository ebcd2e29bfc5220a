"""The benchmark's fast event builder makes exactly what the adapters' validation makes."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bench.workload import (
    DEPARTMENT,
    VARYING,
    EventFactory,
    enterprise_codes,
    record_row,
    registration_row,
    workload,
)
from producers.events import build_intake_event
from schemas.codec import decode_intake, encode_intake
from schemas.pii_crypto import decrypt_personal_id


@pytest.mark.parametrize("category", sorted(VARYING))
def test_a_cloned_event_equals_the_validated_one_but_for_its_id(category):
    # Millisecond precision: instants travel as timestamp-millis, the factory keeps that.
    factory = EventFactory(dt.datetime(2024, 3, 8, 9, 0, 0, 123000, tzinfo=dt.UTC))
    uscc = enterprise_codes(41)["uscc"]
    row = registration_row(41) if category == "registration" else record_row(category, 977, uscc, 3)
    cloned = factory.event(category, row, 5)
    built = build_intake_event(category, row, DEPARTMENT, "bench/1", 5, factory.emitted_at)
    assert isinstance(built, dict), built
    assert _opened(cloned) == _opened(built)
    assert decode_intake(encode_intake(cloned)) == cloned


def _opened(event):
    # The ID number is sealed with a fresh nonce each time: compared as the clear number.
    payload = dict(event["payload"])
    if isinstance(payload.get("id_document_number"), str):
        payload["id_document_number"] = decrypt_personal_id(payload["id_document_number"])
    return {**{k: v for k, v in event.items() if k != "event_id"}, "payload": payload}


def test_workload_registers_every_enterprise_before_records_about_it():
    events = workload(500)
    registrations = [e for e in events if e["category"] == "registration"]
    assert len(events) == 500 and len(registrations) == 100
    assert events[:100] == registrations
    registered = {e["subject"]["uscc"] for e in registrations}
    assert {e["subject"]["uscc"] for e in events[100:]} <= registered
    assert len({e["event_id"] for e in events}) == 500
    assert len({(e["category"], e["subject"]["uscc"], e["record_key"]) for e in events}) == 500
    mix = Counter(e["category"] for e in events[100:])
    assert mix == {"license": 180, "penalty": 160, "abnormal_operation": 40, "restriction": 20}
