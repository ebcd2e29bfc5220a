"""Identifier parsing: each code kind accepted when valid, rejected with its reason."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.errors import SchemaError
from schemas.identifiers import (
    USCC_ALPHABET,
    InvalidCode,
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

# Published examples: stdnum's own doctests (USCC, MOD 11,10, RIC) and the organisation
# code embedded in the stdnum USCC example (chars 9-17), written 60003734-1.
STDNUM_USCC = "91110000600037341L"


def test_uscc_parts_follow_gb32100() -> None:
    uscc = parse_uscc(STDNUM_USCC)
    assert uscc.code == STDNUM_USCC
    assert (uscc.authority, uscc.entity_type_code) == ("9", "1")
    assert "市场监管" in uscc.authority_name
    assert uscc.entity_type_name == "企业"
    assert uscc.region_code == "110000"
    assert uscc.organisation_code == "600037341"
    assert uscc.organisation_code_valid


@pytest.mark.parametrize(
    ("authority", "entity_type", "authority_name", "entity_type_name"),
    [
        ("9", "2", "市场监管（工商）", "个体工商户"),
        ("9", "3", "市场监管（工商）", "农民专业合作社"),
        ("5", "1", "民政", "社会团体"),
        ("5", "2", "民政", "民办非企业单位"),
        ("5", "3", "民政", "基金会"),
        ("1", "1", "机构编制", "机关"),
        ("1", "2", "机构编制", "事业单位"),
        ("Y", "1", "其他", "其他"),
        ("N", "2", "农业农村", "村级集体经济组织"),
    ],
)
def test_authority_and_entity_type_names(
    authority: str, entity_type: str, authority_name: str, entity_type_name: str
) -> None:
    # Authorities A, N and Y are letters: stdnum's validate() would refuse them.
    uscc = parse_uscc(make_uscc(authority, entity_type, "640422", "MA76XK2Y"))
    assert (uscc.authority_name, uscc.entity_type_name) == (authority_name, entity_type_name)
    assert uscc.region_code == "640422"


def test_make_uscc_embeds_a_valid_organisation_code() -> None:
    code = make_uscc("9", "1", "110000", "60003734")
    assert code == STDNUM_USCC


def test_organisation_code_published_example() -> None:
    assert parse_organisation_code("60003734-1") == "600037341"
    assert format_organisation_code("600037341") == "60003734-1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("９１１１００００６０００３７３４１ｌ", STDNUM_USCC),  # full-width, lower case
        (" 9111 0000-6000 37341L ", STDNUM_USCC),
        ("60003734—1", "600037341"),  # em dash
        ("60003734－1", "600037341"),  # full-width hyphen
        ("60003734‐1", "600037341"),  # Unicode hyphen
    ],
)
def test_normalise_code(raw: str, expected: str) -> None:
    assert normalise_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "kind", "normalised"),
    [
        (STDNUM_USCC, "uscc", STDNUM_USCC),
        ("60003734-1", "organisation_code", "600037341"),
        ("640422000123457", "registration_number", "640422000123457"),
        ("110108000000016", "registration_number", "110108000000016"),
    ],
)
def test_identify_code(raw: str, kind: str, normalised: str) -> None:
    assert identify_code(raw) == (kind, normalised)


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        ("91110000600037341M", "uscc", "check character expected 'L', got 'M'"),
        ("91110000600037I41L", "uscc", "character 'I' at position 15 is not allowed"),
        ("911100A0600037341L", "uscc", "character 'A' at position 7 is not a digit"),
        ("B1110000600037341L", "uscc", "registration authority 'B' at position 1"),
        ("640422000123450", "registration_number", "check digit expected '7', got '0'"),
        ("64042200012345X", "registration_number", "character 'X' at position 15 is not a digit"),
        ("60003734-2", "organisation_code", "check character expected '1', got '2'"),
        ("6000373*-1", "organisation_code", "character '*' at position 8"),
        ("9111000060003734", "subject_code", "length 16 fits no code"),
        ("", "subject_code", "length 0 fits no code"),
    ],
)
def test_identify_code_rejects_with_reason(raw: str, kind: str, reason: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        identify_code(raw)
    error = caught.value
    assert (error.kind, error.value) == (kind, raw)
    assert reason in error.reason
    assert reason in str(error) and repr(raw) in str(error)
    assert isinstance(error, SchemaError) and isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("parse", "raw", "reason"),
    [
        (parse_uscc, "9111000060003734", "length 16, expected 18"),
        (parse_organisation_code, "6000373", "length 7, expected 9"),
        (parse_registration_number, "64042200012345", "length 14, expected 15"),
        (parse_resident_id, "36042619910101007", "length 17, expected 18"),
    ],
)
def test_each_kind_rejects_wrong_length(parse, raw: str, reason: str) -> None:
    with pytest.raises(InvalidCode, match=reason):
        parse(raw)


def test_resident_id_published_example_and_builder() -> None:
    assert parse_resident_id("360426199101010071") == "360426199101010071"
    made = make_resident_id("640422", dt.date(1980, 5, 17), "123")
    assert made.startswith("64042219800517123") and parse_resident_id(made) == made


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("360426199101010072", "check digit expected '1', got '2'"),
        ("640422198002301233", "birth date 19800230"),
        ("999999198001011233", "region 999999"),
        ("36042619910101007Y", "character 'Y' at position 18 is not a digit or X"),
        ("3604261991010A0071", "character 'A' at position 14 is not a digit"),
    ],
)
def test_resident_id_rejected_and_masked(raw: str, reason: str) -> None:
    with pytest.raises(InvalidCode) as caught:
        parse_resident_id(raw)
    assert caught.value.kind == "resident_id" and reason in caught.value.reason
    # The message is logged and published with the rejection: never the full number.
    assert raw not in str(caught.value)
    assert f"{raw[:6]}********{raw[-4:]}" in str(caught.value)


def test_resident_id_in_subject_column_is_named_and_masked() -> None:
    rid = make_resident_id("640422", dt.date(1980, 5, 17), "123")
    with pytest.raises(InvalidCode, match="resident ID number") as caught:
        identify_code(rid)
    assert rid not in str(caught.value)


def test_registration_number_builder() -> None:
    assert make_registration_number("640422", "00012345") == "640422000123457"


_body = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8)


@given(authority=st.sampled_from("159Y"), body=_body, region=st.sampled_from(["640422", "110000"]))
def test_built_usccs_identify_and_survive_one_typo(authority: str, body: str, region: str) -> None:
    code = make_uscc(authority, "1", region, body)
    assert identify_code(code.lower()) == ("uscc", code)
    # Changing the check character always breaks the mod-31 check.
    wrong = USCC_ALPHABET[(USCC_ALPHABET.index(code[-1]) + 1) % len(USCC_ALPHABET)]
    with pytest.raises(InvalidCode, match="check character"):
        parse_uscc(code[:-1] + wrong)
