"""The HTTP intake's request handling as plain functions: body limits, shape, field names."""

from __future__ import annotations

import pytest

from producers.events import RecordRejection
from producers.http_payload import (
    IntakeLimits,
    IntakeRefused,
    bearer_token,
    map_record_fields,
    parse_request_body,
    rejection_json,
)

LIMITS = IntakeLimits(max_body_bytes=200, max_records=2)


def refusal(body: bytes) -> IntakeRefused:
    with pytest.raises(IntakeRefused) as caught:
        parse_request_body(body, LIMITS)
    return caught.value


def test_records_are_returned_in_order():
    assert parse_request_body(b'{"records": [{"a": 1}, 2]}', LIMITS) == [{"a": 1}, 2]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"x" * 201, 413, "201 bytes exceeds the limit of 200 bytes"),
        (b'{"records": [1, 2, 3]}', 413, "3 records in one request exceed the limit of 2"),
        (b"{", 400, "not valid JSON"),
        (b'{"records": [NaN]}', 400, "NaN is not a JSON number"),
        (b"\xc3\x28", 400, "not UTF-8"),
        (b'{"records": ["\\ud800"]}', 400, "unpaired surrogate"),
        (b'{"rows": []}', 400, "no records key"),
        (b'{"records": []}', 400, "the list is empty"),
        (b'{"records": {}}', 400, "expected a list, got dict"),
        (b'{"records": [], "declared": 3}', 400, "unknown top-level keys ['declared']"),
        (b"[" * 100 + b"]" * 100, 400, "expected a JSON object"),
    ],
)
def test_refusals_name_what_is_wrong(body, status, words):
    refused = refusal(body)
    assert refused.status == status
    assert words in refused.message


def test_deep_nesting_is_a_400_not_a_crash():
    limits = IntakeLimits(max_body_bytes=1_000_000, max_records=2)
    with pytest.raises(IntakeRefused) as caught:
        parse_request_body(b"[" * 200_000 + b"]" * 200_000, limits)
    assert caught.value.status == 400


def test_chinese_and_english_keys_map_to_field_names():
    fields = map_record_fields(
        "penalty",
        {"行政处罚决定书文号": "西市监罚〔2024〕1号", "decided_on": "2024-03-01", "颜色": "红"},
        "record 1",
    )
    assert fields == {
        "decision_number": "西市监罚〔2024〕1号",
        "decided_on": "2024-03-01",
        "颜色": "红",
    }


def test_a_field_given_twice_is_rejected_naming_both_keys():
    rejection = map_record_fields(
        "penalty", {"行政处罚决定书文号": "A1", "decision_number": "A2"}, "record 4"
    )
    assert isinstance(rejection, RecordRejection)
    shown = rejection_json(rejection)
    assert shown["field"] == "decision_number"
    assert shown["field_chinese"] == "行政处罚决定书文号"
    assert "given twice, as '行政处罚决定书文号' and 'decision_number'" in shown["reason"]
    assert shown["message"].startswith("record 4: ")


def test_an_empty_key_is_rejected():
    rejection = map_record_fields("penalty", {" ": None}, "record 2")
    assert isinstance(rejection, RecordRejection)
    assert rejection.reason == "a field name is empty"


def test_long_values_are_cut_in_the_response():
    huge = map_record_fields("penalty", {"": "长" * 1000}, "r")
    shown = rejection_json(huge)  # type: ignore[arg-type]
    assert shown["problems"][0]["value"].endswith("… (1000 characters)")


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
        ("", None),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token
