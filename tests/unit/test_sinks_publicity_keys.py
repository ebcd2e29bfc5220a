"""Publicity index pure parts: normalisation, keys, regions, public items, ranking."""

from __future__ import annotations

import pytest

from sinks.publicity import profile
from sinks.publicity.keys import (
    Keys,
    bigrams,
    looks_like_code,
    normalise_code,
    normalise_name,
    region_filter,
    region_prefixes,
)
from sinks.publicity.ranking import best_match, rank
from tests.factories import make_enriched


def test_names_normalise_width_spaces_and_case() -> None:
    assert normalise_name("宁夏（银川） ABC 有限公司") == normalise_name("宁夏(银川)abc有限公司")


def test_codes_normalise_dashes_width_and_case() -> None:
    assert normalise_code("１２３４５６７８-x") == "12345678X"
    assert looks_like_code("91640422")
    assert not looks_like_code("宁夏")
    assert not looks_like_code("ABC")  # letters only: a name, not a code


def test_bigrams() -> None:
    assert bigrams("西吉县") == {"西吉", "吉县"}
    assert bigrams("西吉") == {"西吉"}


@pytest.mark.parametrize(
    ("code", "expected"),
    [("640422", ["64", "6404", "640422"]), ("640400", ["64", "6404"]), ("640000", ["64"]),
     ("", []), ("64A422", [])],
)  # fmt: skip
def test_region_prefixes(code: str, expected: list[str]) -> None:
    assert region_prefixes(code) == expected


@pytest.mark.parametrize(
    ("region", "prefix"),
    [("64", "64"), ("640000", "64"), ("640400", "6404"), ("6404", "6404"), ("640422", "640422")],
)
def test_region_filter(region: str, prefix: str) -> None:
    assert region_filter(region) == prefix


def test_region_filter_refuses_non_codes() -> None:
    with pytest.raises(ValueError, match="2, 4 or 6 digits"):
        region_filter("宁夏")


def test_enterprise_keys_share_one_cluster_slot() -> None:
    keys = Keys("p:")
    uscc = "91640422000000078W"
    tags = {k.split("{")[1].split("}")[0] for k in
            (keys.entity(uscc), keys.versions(uscc), keys.items(uscc, "penalty"))}  # fmt: skip
    assert tags == {uscc}
    assert keys.lists_for("restriction", "640422") == [
        "p:list:restriction", "p:list:restriction:r:64", "p:list:restriction:r:6404",
        "p:list:restriction:r:640422",
    ]  # fmt: skip


def test_public_item_hides_hash_and_keeps_mask() -> None:
    item = profile.public_item(make_enriched("restriction"))
    assert item is not None
    assert item["payload"]["id_document_number_masked"] == "640422********1234"
    assert "id_document_number_hash" not in item["payload"]
    assert item["list_score"] == int(item["payload"]["restricted_from"].strftime("%Y%m%d"))


@pytest.mark.parametrize("status", ["expired", "repaired", "removed", "withdrawn"])
def test_items_not_public_are_not_shown(status: str) -> None:
    assert profile.public_item(make_enriched("penalty", publication_status=status)) is None


def test_withdraw_is_not_shown_and_under_review_is() -> None:
    assert profile.public_item(make_enriched("penalty", operation="withdraw")) is None
    item = profile.public_item(make_enriched("penalty", publication_status="under_review"))
    assert item is not None and item["status"] == "under_review"


def test_abnormal_operation_removal_record_lists_nobody() -> None:
    removal = make_enriched("abnormal_operation", payload={"list_action": "removed"})
    assert profile.list_score(removal) is None
    assert profile.list_score(make_enriched("abnormal_operation")) is not None
    assert profile.list_score(make_enriched("penalty")) is None


def test_record_codes_include_registration_codes() -> None:
    reg = make_enriched("registration")
    assert profile.record_codes(reg) == {
        reg["uscc"],
        reg["payload"]["registration_number"],
        reg["payload"]["organisation_code"],
    }


def test_ranking_exact_before_prefix_before_substring() -> None:
    names = {
        "A": ("宁夏西吉商贸有限公司", []),  # substring
        "B": ("西吉商贸", []),  # exact
        "C": ("西吉商贸有限公司", []),  # prefix
        "D": ("西吉县商店", []),  # bigram candidate, not a substring
    }
    ranked = rank(normalise_name("西吉商贸"), names, limit=10)
    assert [(m.uscc, m.match) for m in ranked] == [
        ("B", "exact"), ("C", "prefix"), ("A", "substring")
    ]  # fmt: skip


def test_ranking_prefers_current_name_and_codes_first() -> None:
    names = {"A": ("新名字有限公司", ["老名字有限公司"]), "B": ("老名字有限公司分公司", [])}
    ranked = rank(normalise_name("老名字有限公司"), names, 10, code_matches=["Z"])
    assert [(m.uscc, m.match, m.former) for m in ranked] == [
        ("Z", "code", False), ("A", "exact", True), ("B", "prefix", False)
    ]  # fmt: skip
    assert best_match("新名字", "A", "新名字有限公司", ["老名字"]).former is False


def test_identity_values_are_stored_as_their_json_text() -> None:
    """apply_record.lua used to store tostring() of the decoded JSON; the pairs it now gets
    must give the same hash values."""
    import datetime as dt

    from sinks.publicity.profile import redis_text

    assert redis_text("宁夏") == "宁夏"
    assert redis_text(dt.date(2020, 1, 2)) == "2020-01-02"
    assert redis_text(True) == "true"
    assert redis_text(7) == "7"
