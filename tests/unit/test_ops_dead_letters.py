"""Dead letters as operators see them: IDs, filters, decoding and the re-drive decision."""

from __future__ import annotations

import datetime as dt

import pytest

from creditsync.ops.dead_letters import (
    DeadLetter,
    decode_original,
    latest_by_key,
    matches,
    open_letters,
    parse_dead_letter_id,
)
from creditsync.ops.errors import CannotRedrive, InvalidDeadLetterId
from creditsync.ops.rejected import prepare_redrive
from producers.events import build_intake_event
from producers.publisher import rejection_record
from schemas.codec import decode_intake, encode_intake
from schemas.dead_letters import Rejection, dead_letter_headers
from tests.intake_factory import DEPARTMENT, enterprise_codes, penalty

NOW = dt.datetime(2024, 3, 8, 9, 0, tzinfo=dt.UTC)
CODES = enterprise_codes(7)


def _penalty_fields(**changes):
    fields = {
        "subject_code": CODES["uscc"],
        "subject_name": "宁夏丙建材有限公司",
        "penalising_authority": "西吉县市场监督管理局",
        "decision_number": "西市监罚〔2024〕30号",
        "decided_on": "2024-03-04",
        "violation_type": "虚假宣传",
        "fine_amount": "5000",
        "penalty_kind": "罚款",
    }
    fields.update(changes)
    return fields


def validate_letter(fields: dict, offset: int = 4) -> DeadLetter:
    """A dead letter as an adapter writes it for a record that failed validation."""
    refused = build_intake_event("penalty", fields, DEPARTMENT, "spreadsheet/1", 1, NOW)
    assert not isinstance(refused, dict)
    out = rejection_record(refused, category="penalty", department_code=DEPARTMENT["code"],
                           adapter="spreadsheet/1", fields=fields, topic_prefix="p.")  # fmt: skip
    return DeadLetter(f"p.credit.rejected:0:{offset}", 1_709_888_400_000, out.key, out.value,
                      tuple(out.headers))  # fmt: skip


def stream_letter(stage: str = "resolve", offset: int = 9) -> DeadLetter:
    """A dead letter of the intake stage: the original Avro bytes and headers."""
    event = penalty(CODES["uscc"], "西市监罚〔2024〕31号")
    original = [("department", b"scjg-640000"), ("event_id", event["event_id"].encode())]
    headers = dead_letter_headers(
        Rejection("code_conflict", "subject_code", "the code belongs to two enterprises", stage),
        topic="p.credit.intake.penalty", partition=2, offset=41, original_headers=original,
        event_id=event["event_id"], department="scjg-640000", category="penalty",
    )  # fmt: skip
    return DeadLetter(f"p.credit.rejected:0:{offset}", 1_709_888_400_000,
                      CODES["uscc"].encode(), encode_intake(event), tuple(headers))  # fmt: skip


def test_dead_letter_ids_round_trip_and_bad_ones_say_what_is_expected():
    assert parse_dead_letter_id("p.credit.rejected:0:17") == ("p.credit.rejected", 0, 17)
    for bad in ("credit.rejected", "credit.rejected:x:1", ":0:1", "credit.rejected:0"):
        with pytest.raises(InvalidDeadLetterId, match="<topic>:<partition>:<offset>"):
            parse_dead_letter_id(bad)


def test_headers_are_read_for_the_operator():
    letter = validate_letter(_penalty_fields(fine_amount="五千元"))
    assert letter.stage == "validate"
    assert letter.reason_code == "invalid_value"
    assert letter.field == "fine_amount"
    assert "罚款金额" in letter.message
    assert (letter.department, letter.category) == ("scjg-640000", "penalty")
    assert letter.redrive_kind == "rebuild"
    assert letter.origin == "spreadsheet/1 (not published)"
    resolved = stream_letter()
    assert resolved.redrive_kind == "republish"
    assert resolved.origin == "p.credit.intake.penalty:2:41"


def test_filters():
    letter = validate_letter(_penalty_fields(fine_amount="五千元"))
    assert matches(letter, reasons=["invalid_value"], department="scjg-640000")
    assert not matches(letter, reasons=["invalid_code"])
    assert not matches(letter, category="license")
    assert not matches(letter, since_ms=1_709_888_400_001)
    assert matches(letter, since_ms=1_709_888_400_000, stage="validate")
    assert open_letters([letter], {letter.id: {}}) == []
    assert open_letters([letter], {letter.id: {}}, include_redriven=True) == [letter]


def test_compacted_topic_reads_keep_the_latest_value_and_honour_tombstones():
    latest = latest_by_key([(b"a", b'{"n": 1}'), (b"b", b'{"n": 2}'), (b"a", b'{"n": 3}'),
                            (b"b", None), (None, b"{}")])  # fmt: skip
    assert latest == {"a": {"n": 3}}


def test_decode_original_shows_the_json_body_or_the_intake_event():
    body = decode_original(validate_letter(_penalty_fields(fine_amount="五千元")))
    assert body["format"] == "json"
    assert body["record"]["fields"]["fine_amount"] == "五千元"
    event = decode_original(stream_letter())
    assert event["format"] == "avro IntakeEvent"
    assert event["record"]["record_key"] == "西市监罚〔2024〕31号"


def test_decode_original_explains_bytes_that_do_not_decode():
    letter = stream_letter()
    broken = DeadLetter(letter.id, letter.timestamp_ms, None, b"\x00garbage", letter.headers)
    shown = decode_original(broken)
    assert shown["format"] == "undecodable"
    assert "single-object" in shown["error"]


def test_a_corrected_validate_rejection_is_rebuilt_for_its_intake_topic():
    letter = validate_letter(_penalty_fields(fine_amount="五千元"))
    record, outcome = prepare_redrive(letter, prefix="p.", corrections={"fine_amount": "5000"},
                                      department_of=lambda code: DEPARTMENT, now=NOW)  # fmt: skip
    assert outcome.status == "redriven"
    assert record is not None and record.topic == "p.credit.intake.penalty"
    event = decode_intake(record.value)
    assert str(event["payload"]["fine_amount"]) == "5000.00"
    assert event["event_id"] == outcome.event_id
    assert record.key == CODES["uscc"].encode()


def test_an_uncorrected_validate_rejection_is_still_rejected_with_the_new_reason():
    letter = validate_letter(_penalty_fields(fine_amount="五千元"))
    record, outcome = prepare_redrive(letter, prefix="p.", department_of=lambda c: DEPARTMENT,
                                      now=NOW)  # fmt: skip
    assert record is None
    assert outcome.status == "still_rejected"
    assert "fine_amount" in outcome.detail and "罚款金额" in outcome.detail


def test_a_stream_dead_letter_goes_back_with_its_original_bytes_and_headers():
    letter = stream_letter()
    record, outcome = prepare_redrive(letter, prefix="p.")
    assert record is not None
    assert (record.topic, record.key, record.value) == (
        "p.credit.intake.penalty", letter.key, letter.value)  # fmt: skip
    assert record.headers == [("department", b"scjg-640000"),
                              ("event_id", outcome.event_id.encode())]  # fmt: skip
    with pytest.raises(CannotRedrive, match="corrections apply only"):
        prepare_redrive(letter, prefix="p.", corrections={"fine_amount": "1"})


def test_a_dead_letter_from_another_deployment_is_not_re_driven():
    with pytest.raises(CannotRedrive, match="expected an intake topic"):
        prepare_redrive(stream_letter(), prefix="q.")


def test_a_dead_letter_cut_to_fit_is_not_re_driven_as_its_cut_copy():
    from schemas.message_size import fit_dead_letter

    letter = stream_letter()
    key, value, headers = fit_dead_letter(letter.key, letter.value * 400, letter.headers, 50_000)
    cut = DeadLetter(letter.id, letter.timestamp_ms, key, value, tuple(headers))
    with pytest.raises(CannotRedrive, match=r"original at p\.credit\.intake\.penalty:2:41"):
        prepare_redrive(cut, prefix="p.")
