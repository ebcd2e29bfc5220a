"""Resolving the subject a department sent to its USCC, in the documented priority."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.identifiers import make_registration_number, make_resident_id, make_uscc
from schemas.records import SubjectAsSent
from streams.rules.resolution import Invalid, Resolved, Unresolved, park_key, resolve_subject

USCC = make_uscc("9", "1", "640422", "MA76Y5XX")
OTHER_USCC = make_uscc("9", "1", "640422", "MA76Y6AB")
ORG_CODE = USCC[8:17]
REG_NO = make_registration_number("640422", "00001234")
INDEX = {("organisation_code", ORG_CODE): USCC, ("registration_number", REG_NO): USCC}


def lookup(kind: str, code: str) -> str | None:
    return INDEX.get((kind, code))


def nothing(kind: str, code: str) -> str | None:
    return None


def subject(
    uscc: str | None = None, org: str | None = None, reg: str | None = None
) -> SubjectAsSent:
    return SubjectAsSent(uscc=uscc, organisation_code=org, registration_number=reg, name="某公司")


def test_a_valid_uscc_resolves_to_itself_without_the_registry() -> None:
    assert resolve_subject(subject(uscc=USCC.lower()), nothing) == Resolved(USCC, "uscc")


def test_organisation_code_through_the_registry() -> None:
    written = f"{ORG_CODE[:8]}-{ORG_CODE[8]}"
    assert resolve_subject(subject(org=written), lookup) == Resolved(USCC, "organisation_code")


def test_registration_number_through_the_registry_even_in_the_uscc_column() -> None:
    # The template column 统一社会信用代码（企业注册号） holds either kind.
    assert resolve_subject(subject(uscc=REG_NO), lookup) == Resolved(USCC, "registration_number")


def test_unknown_legacy_code_is_parked_under_it() -> None:
    assert resolve_subject(subject(reg=REG_NO), nothing) == Unresolved(
        park_key("registration_number", REG_NO), "registration_number", REG_NO
    )
    # Both sent, neither known: parked under the organisation code.
    parked = resolve_subject(subject(org=ORG_CODE, reg=REG_NO), nothing)
    assert parked == Unresolved(f"organisation_code:{ORG_CODE}", "organisation_code", ORG_CODE)


def test_uscc_with_contradicting_organisation_code_is_resolved_and_reported() -> None:
    result = resolve_subject(subject(uscc=USCC, org=OTHER_USCC[8:17]), lookup)
    assert isinstance(result, Resolved)
    assert result.uscc == USCC
    assert [c.reason for c in result.conflicts] == ["organisation_code_mismatch"]


def test_uscc_with_a_registration_number_mapped_elsewhere_is_reported() -> None:
    result = resolve_subject(subject(uscc=OTHER_USCC, reg=REG_NO), lookup)
    assert isinstance(result, Resolved)
    assert result.uscc == OTHER_USCC
    [conflict] = result.conflicts
    assert (conflict.reason, conflict.other_uscc) == ("enterprise_under_two_usccs", USCC)


def test_legacy_codes_mapped_to_two_enterprises_are_reported() -> None:
    index = {("organisation_code", ORG_CODE): USCC, ("registration_number", REG_NO): OTHER_USCC}
    result = resolve_subject(subject(org=ORG_CODE, reg=REG_NO), lambda k, c: index.get((k, c)))
    assert isinstance(result, Resolved)
    assert (result.uscc, result.via) == (USCC, "organisation_code")
    assert [c.other_uscc for c in result.conflicts] == [OTHER_USCC]


def test_no_code_at_all_is_invalid() -> None:
    result = resolve_subject(subject(uscc="  "), lookup)
    assert isinstance(result, Invalid)
    assert result.field == "uscc"
    assert "mandatory" in result.reason


@pytest.mark.parametrize(
    ("sent", "field", "reason"),
    [
        (subject(uscc=USCC[:-1] + ("0" if USCC[-1] != "0" else "1")), "uscc", "check character"),
        (subject(org="12345678-0"), "organisation_code", "check character"),
        (subject(uscc=USCC, reg="12345"), "registration_number", "length 5"),
        (subject(uscc=USCC, org=OTHER_USCC), "organisation_code", "a second uscc"),
    ],
)
def test_bad_codes_are_invalid_with_field_and_reason(sent, field, reason) -> None:
    result = resolve_subject(sent, lookup)
    assert isinstance(result, Invalid)
    assert result.field == field
    assert reason in result.reason


def test_a_resident_id_as_subject_is_invalid_and_shown_masked() -> None:
    person = make_resident_id("640422", dt.date(1980, 5, 17), "123")
    result = resolve_subject(subject(uscc=person), lookup)
    assert isinstance(result, Invalid)
    assert "resident ID" in result.reason
    assert result.value == person[:6] + "********" + person[-4:]
