"""Message sizes against the topics' limit, and dead letters cut to fit (issue #13)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.dead_letters import Rejection, dead_letter_headers
from schemas.message_size import (
    MESSAGE_LIMIT_BYTES,
    TRUNCATED_HEADER,
    fit_dead_letter,
    fits,
    message_size,
)

REASON = Rejection("invalid_code", "subject_code", "记录 3：统一社会信用代码校验位错误", "validate")


def headers(message: str = "why") -> list[tuple[str, bytes]]:
    reason = Rejection("invalid_code", "subject_code", message, "validate")
    return dead_letter_headers(reason, topic="credit.intake.penalty", partition=2, offset=41)


def test_a_dead_letter_that_fits_is_left_as_it_is() -> None:
    key, value, hs = fit_dead_letter(b"k", b"{}", headers())
    assert (key, value, hs) == (b"k", b"{}", headers())


def test_an_adapters_json_rejection_keeps_valid_json_with_its_long_field_cut_and_named() -> None:
    fields = {"subject_code": "123", "remarks": "备" * 600_000, "name": "宁夏甲商贸有限公司"}
    value = json.dumps({"category": "penalty", "fields": fields}, ensure_ascii=False).encode()
    assert len(value) > MESSAGE_LIMIT_BYTES
    key, cut, hs = fit_dead_letter(None, value, headers())
    assert fits(key, cut, hs)
    body = json.loads(cut)
    assert body["fields"]["name"] == "宁夏甲商贸有限公司"
    assert body["fields"]["remarks"].endswith(f"…[truncated {1_800_000 - 4095} bytes]")
    assert dict(hs)[TRUNCATED_HEADER] == b"value.fields.remarks"
    # Where the original came from stays in the headers, for re-reading it whole.
    assert dict(hs)["__connect.errors.offset"] == b"41"


def test_a_binary_value_and_a_huge_reason_are_cut_and_marked() -> None:
    value = bytes(range(256)) * 5_000
    key, cut, hs = fit_dead_letter(b"91640422", value, headers("太长" * 100_000))
    assert fits(key, cut, hs)
    assert cut.startswith(value[:1000]) and cut.endswith(b" bytes]")
    named = dict(hs)[TRUNCATED_HEADER].decode().split(",")
    assert named == ["header:__connect.errors.exception.message", "value"]
    assert dict(hs)["__connect.errors.exception.message"].decode().startswith("太长太长")


@settings(deadline=None, max_examples=40)
@given(
    st.integers(0, 2_000_000),
    st.integers(0, 30_000),
    st.integers(0, 3_000),
    st.booleans(),
    st.integers(100_000, 1_200_000),
)
def test_whatever_comes_in_the_dead_letter_fits(size, reason, key_size, as_json, limit) -> None:
    value = (
        json.dumps({"fields": {"a": "x" * size, "b": ["y" * (size // 3)]}}).encode()
        if as_json
        else b"\xff" * size
    )
    original = headers("r" * reason)
    key, cut, hs = fit_dead_letter(b"k" * key_size, value, original, limit)
    assert message_size(key, cut, hs) <= limit
    assert (TRUNCATED_HEADER in dict(hs)) == (
        message_size(b"k" * key_size, value, original) > limit
    )
