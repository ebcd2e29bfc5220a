"""The response guard that masks full resident ID numbers (creditsync.http), without a server."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditsync.http import guard_body, guard_personal_ids, mask_resident_ids
from schemas.identifiers import make_resident_id
from streams.rules.privacy import contains_resident_id

ID = make_resident_id("640422", dt.date(1990, 1, 1), "123")
MASKED = f"{ID[:6]}********{ID[-4:]}"


def test_an_id_in_text_is_masked_keeping_division_and_last_four():
    assert mask_resident_ids(f"身份证号{ID}。") == f"身份证号{MASKED}。"


def test_text_without_an_id_is_returned_unchanged():
    uscc = "916404220000000515"  # 18 digits, but not a valid resident ID
    assert mask_resident_ids(f"代码 {uscc}") == f"代码 {uscc}"


def test_an_id_glued_to_other_digits_is_still_masked():
    assert not contains_resident_id(mask_resident_ids(f"99{ID}77"))


def test_json_values_keys_and_numbers_are_guarded():
    value = {"a": [ID, {"b": int(ID[:17] + "0") if ID[17] == "0" else ID}], ID: 1, "n": 5}
    guarded = guard_personal_ids(value)
    assert MASKED in guarded and guarded["a"][0] == MASKED and guarded["n"] == 5
    assert not contains_resident_id(json.dumps(guarded))


def test_a_number_that_is_an_id_becomes_a_masked_string():
    numeric = next(
        make_resident_id("640422", dt.date(1990, 1, day), "123")
        for day in range(1, 28)
        if make_resident_id("640422", dt.date(1990, 1, day), "123")[-1] != "X"
    )
    assert guard_personal_ids({"n": int(numeric)}) == {"n": f"{numeric[:6]}********{numeric[-4:]}"}


def test_guard_body_keeps_clean_bodies_as_they_are():
    body = json.dumps({"name": "宁夏测试商贸有限公司"}, ensure_ascii=False).encode()
    assert guard_body(body, "application/json") is body


def test_guard_body_rewrites_json_and_text():
    body = json.dumps({"remarks": f"证件号{ID}"}, ensure_ascii=False).encode()
    assert json.loads(guard_body(body, "application/json")) == {"remarks": f"证件号{MASKED}"}
    assert guard_body(f"<p>{ID}</p>".encode(), "text/html") == f"<p>{MASKED}</p>".encode()


@given(st.text(alphabet="0123456789X身份证号 ", max_size=60), st.integers(0, 60))
def test_no_full_id_survives_anywhere_in_any_text(noise, at):
    text = noise[:at] + ID + noise[at:]
    assert not contains_resident_id(mask_resident_ids(text))


def test_system_generated_values_are_left_alone():
    # A version's hex tail can hold digit runs that pass the ID check by chance.
    value = {"version": f"00000000000000000001.001717401600000.{ID}", "remarks": "无"}
    body = json.dumps(value).encode()
    assert guard_body(body, "application/json") is body
    leaked = json.dumps({**value, "remarks": ID}).encode()
    guarded = json.loads(guard_body(leaked, "application/json"))
    assert guarded == {**value, "remarks": MASKED}


@pytest.mark.security
@pytest.mark.parametrize(
    "form",
    [
        f"{ID[:6]} {ID[6:14]} {ID[14:]}",
        f"{ID[:6]}-{ID[6:10]}-{ID[10:14]}-{ID[14:]}",
        ID.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"}),
        ID[:7] + "\u200b" + ID[7:],
        "640422650801042",  # the 15-digit legacy number
    ],
)
def test_every_written_form_is_masked_also_when_json_escapes_it(form):
    for ensure_ascii in (False, True):
        body = json.dumps({"remarks": f"证件号{form}"}, ensure_ascii=ensure_ascii).encode()
        guarded = guard_body(body, "application/json")
        assert guarded is not body
        assert not contains_resident_id(json.loads(guarded)["remarks"])
    text = guard_body(f"<p>{form}</p>".encode(), "text/html").decode()
    assert text.startswith("<p>640422*") and text.endswith("</p>")
