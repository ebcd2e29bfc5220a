"""Division names from GB/T 2260 codes; unknown codes give None names and never fail."""

from __future__ import annotations

import pytest

from streams.rules.regions import region_of


def test_county_with_its_prefecture_and_province() -> None:
    assert region_of("640422") == {
        "code": "640422",
        "province": "宁夏回族自治区",
        "prefecture": "固原市",
        "county": "西吉县",
    }


def test_municipality_district_has_no_placeholder_prefecture() -> None:
    assert region_of("110105") == {
        "code": "110105",
        "province": "北京市",
        "prefecture": None,
        "county": "朝阳区",
    }


def test_province_and_prefecture_codes_name_only_their_levels() -> None:
    assert region_of("640000")["province"] == "宁夏回族自治区"
    assert region_of("640000")["prefecture"] is None
    assert region_of("640400")["prefecture"] == "固原市"
    assert region_of("640400")["county"] is None


def test_new_county_still_gets_its_province() -> None:
    # 460400 儋州市 became a prefecture-level city after the package's newest revision.
    region = region_of("460400")
    assert region["province"] == "海南省"
    assert region["prefecture"] is None


@pytest.mark.parametrize("code", ["999999", "64042", "abcdef", "", "６４０４２２", "100000"])
def test_unknown_codes_give_no_names(code) -> None:
    region = region_of(code)
    assert region["code"] == code
    assert (region["province"], region["prefecture"], region["county"]) == (None, None, None)


def test_returned_region_is_a_copy() -> None:
    region_of("640422")["county"] = "changed"
    assert region_of("640422")["county"] == "西吉县"
