"""Identifier caches keyed by the normalised code and bounded (issue #13): padded spellings of
one code share one entry, and refused input is never cached."""

from __future__ import annotations

import functools

import pytest

import schemas.identifiers as identifiers
import streams.rules.regions as regions
from schemas.identifiers import InvalidCode, identify_code, make_uscc, parse_uscc
from streams.rules.regions import region_of

pytestmark = pytest.mark.security

USCC = make_uscc("9", "1", "640422", "43635181")
FULL_WIDTH = str.maketrans(
    {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
)


def spellings(code: str) -> list[str]:
    return [
        code,
        code.lower(),
        f" {code} ",
        f"{code[:6]} {code[6:]}",
        f"{code[:8]}-{code[8:]}",
        code.translate(FULL_WIDTH),
        "\u3000" * 1000 + code + " " * 100_000,  # a padded cell
        *(" " * n + code for n in range(1, 200)),
    ]


def test_padded_spellings_of_one_code_share_one_cache_entry() -> None:
    identifiers._identify_code.cache_clear()
    identifiers._parse_uscc.cache_clear()
    for raw in spellings(USCC):
        assert identify_code(raw) == ("uscc", USCC)
        assert parse_uscc(raw).code == USCC
    assert identifiers._identify_code.cache_info().currsize == 1
    assert identifiers._parse_uscc.cache_info().currsize == 1


def test_refused_input_is_not_cached_and_is_named_as_given() -> None:
    identifiers._identify_code.cache_clear()
    wrong = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    padded = f"  {wrong.lower()} "
    with pytest.raises(InvalidCode) as caught:
        identify_code(padded)
    assert caught.value.value == padded  # the message quotes what the department sent
    assert str(caught.value).startswith(f"{padded!r} is not a valid uscc")
    with pytest.raises(InvalidCode, match="length 100000 fits no code"):
        identify_code("9" * 100_000)
    assert identifiers._identify_code.cache_info().currsize == 0


def test_a_resident_id_stays_masked_through_the_cache_wrapper() -> None:
    import datetime as dt

    from schemas.identifiers import make_resident_id

    person = make_resident_id("640422", dt.date(1985, 7, 14), "123")
    with pytest.raises(InvalidCode) as caught:
        identify_code(f" {person} ")
    assert caught.value.personal_data
    assert person not in str(caught.value)


def test_region_cache_only_holds_six_digit_codes() -> None:
    regions._names.cache_clear()
    assert region_of("640422")["county"] == "西吉县"
    for junk in ("x" * 100_000, " 640422", "６４０４２２", "64042", ""):
        assert region_of(junk)["province"] is None
    assert regions._names.cache_info().currsize == 1


@pytest.mark.parametrize("module", [identifiers, regions])
def test_every_cache_in_the_identifier_modules_is_bounded(module) -> None:
    caches = [
        value
        for value in vars(module).values()
        if isinstance(value, functools._lru_cache_wrapper)  # type: ignore[attr-defined]
    ]
    assert caches
    for cache in caches:
        assert cache.cache_parameters()["maxsize"] is not None, cache
