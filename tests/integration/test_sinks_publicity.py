"""Publicity index against a real redis-server: CAS versions, replays, lists, search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import sinks.publicity.reader as reader_module
from sinks.errors import IndexLost, SearchQueryInvalid, SinkStateReset
from sinks.publicity import PublicityIndex, PublicityReader
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_client(publicity_redis):
    """Every test here runs on one redis-server and on a three-master cluster (issue #18)."""
    return publicity_redis


@pytest.fixture
def index(redis_client) -> Iterator[PublicityIndex]:
    index = PublicityIndex(redis_client)
    index.setup()
    yield index  # redis_client (conftest) closes the connection


@pytest.fixture
def reader(redis_client) -> PublicityReader:
    return PublicityReader(redis_client)


def snapshot(redis_client) -> dict[bytes, bytes]:
    """Every key with a content digest: equal snapshots mean nothing changed."""
    out = {}
    for key in redis_client.scan_iter(count=1000):
        kind = redis_client.type(key)
        if kind == b"string":
            out[key] = redis_client.get(key)
        elif kind == b"hash":
            out[key] = repr(sorted(redis_client.hgetall(key).items())).encode()
        elif kind == b"set":
            out[key] = repr(sorted(redis_client.smembers(key))).encode()
        elif kind == b"zset":
            out[key] = repr(redis_client.zrange(key, 0, -1, withscores=True)).encode()
    return out


def test_out_of_order_versions_never_regress(index, reader) -> None:
    v1 = make_enriched("penalty", n=1, payload={"fine_amount": "100.00"})
    v2 = newer(v1, payload={"fine_amount": "200.00"})
    v3 = newer(v2, payload={"fine_amount": "300.00"})
    assert index.write_batch([v3]).applied == 1
    result = index.write_batch([v1, v2])
    assert (result.applied, result.skipped_not_newer) == (0, 2)
    shown = reader.profile(v1["uscc"])["items"]["penalty"]
    assert [i["payload"]["fine_amount"] for i in shown] == ["300.00"]


def test_last_applied_version_is_the_newest_applied_and_never_goes_back(index, reader) -> None:
    v1 = make_enriched("penalty", n=1)
    v2 = newer(v1)
    v3 = newer(v2)
    other = make_enriched("license", n=2)  # an item of its own: applied, but not the newest
    index.write_batch([v1, v3])
    assert reader.index_stats()["last_applied_version"] == v3["version"]
    assert reader.index_stats()["last_applied_at"] == v3["processed_at"].isoformat()
    index.write_batch([v2])  # older than what is stored: skipped, the mark stays
    assert reader.index_stats()["last_applied_version"] == v3["version"]
    v4 = newer(v3)
    index.write_batch([other, v4])
    assert reader.index_stats()["last_applied_version"] == max(v4["version"], other["version"])


def test_identity_defaults_fill_only_missing_fields(index, reader) -> None:
    registration = make_enriched("registration", n=5, payload={"name": "宁夏甲乙商贸有限公司"})
    index.write_batch([registration])
    # A later record under another canonical name must not overwrite the registered one,
    # but fills a field the registration left out.
    penalty = make_enriched("penalty", n=5, canonical_name="别的名字有限公司")
    index.redis.hdel(index.keys.entity(registration["uscc"]), "county")
    index.write_batch([penalty])
    profile = reader.profile(registration["uscc"])
    assert profile["name"] == "宁夏甲乙商贸有限公司"
    assert profile["region"]["county"] == penalty["region"]["county"]


def test_replaying_a_batch_changes_nothing(index, reader, redis_client) -> None:
    batch = [
        make_enriched("registration", n=2),
        make_enriched("penalty", n=2),
        make_enriched("restriction", n=2),
        make_enriched("license", n=3),
        make_enriched("red_list", n=3),
    ]
    assert index.write_batch(batch).applied == 5
    before = snapshot(redis_client)
    profile_before = reader.profile(batch[0]["uscc"])
    again = index.write_batch(batch)
    assert (again.applied, again.skipped_not_newer) == (0, 5)
    assert snapshot(redis_client) == before
    assert reader.profile(batch[0]["uscc"]) == profile_before
    assert reader.index_stats()["enterprises"] == 2


def test_withdraw_and_expiry_remove_items_and_list_entries(index, reader) -> None:
    penalty = make_enriched("penalty", n=4)
    restriction = make_enriched("restriction", n=4)
    index.write_batch([penalty, restriction])
    profile = reader.profile(penalty["uscc"])
    assert set(profile["items"]) == {"penalty", "restriction"}
    assert profile["lists"] == ["restriction"]
    assert reader.list_page("restriction")["total"] == 1

    index.write_batch(
        [newer(penalty, operation="withdraw"), newer(restriction, publication_status="expired")]
    )
    profile = reader.profile(penalty["uscc"])
    assert profile["items"] == {} and profile["lists"] == []
    assert reader.list_page("restriction")["total"] == 0
    assert reader.list_page("restriction", region="640422")["total"] == 0
    # The older, public version replayed afterwards must not bring the item back.
    assert index.write_batch([penalty, restriction]).skipped_not_newer == 2
    assert reader.profile(penalty["uscc"])["items"] == {}


def test_under_review_items_stay_visible_and_marked(index, reader) -> None:
    penalty = make_enriched("penalty", n=5)
    index.write_batch([penalty, newer(penalty, publication_status="under_review")])
    [item] = reader.profile(penalty["uscc"])["items"]["penalty"]
    assert item["status"] == "under_review"


def test_personal_data_is_masked_and_raw_numbers_refused(index, reader, redis_client) -> None:
    restriction = make_enriched("restriction", n=6)
    leaked = make_enriched("restriction", n=7, payload={"id_document_number": "640422199001011234"})
    result = index.write_batch([restriction, leaked])
    assert result.applied == 1
    assert [r.reason_code for r in result.rejected] == ["raw_personal_id"]
    [item] = reader.profile(restriction["uscc"])["items"]["restriction"]
    assert item["payload"]["id_document_number_masked"] == "640422********1234"
    assert "id_document_number_hash" not in item["payload"]
    assert reader.profile(leaked["uscc"]) is None
    dump = b"".join(v for v in snapshot(redis_client).values())
    assert b"199001011234" not in dump
    assert restriction["payload"]["id_document_number_hash"].encode() not in dump


def test_workflow_records_are_not_applicable(index) -> None:
    result = index.write_batch([make_enriched("objection", n=8)])
    assert (result.applied, result.not_applicable) == (0, 1)


def test_lookup_by_every_code_and_name_history(index, reader) -> None:
    registration = make_enriched("registration", n=9)
    renamed = newer(registration, payload={"name": "宁夏西吉县新名称农业科技有限公司"})
    index.write_batch([renamed, registration])  # the older name arrives last
    payload = registration["payload"]
    org = payload["organisation_code"]
    for code in (payload["uscc"], payload["registration_number"], org, f"{org[:8]}-{org[8]}"):
        profile = reader.profile(code)
        assert profile is not None, code
        assert profile["uscc"] == registration["uscc"]
    assert profile["name"] == "宁夏西吉县新名称农业科技有限公司"
    assert profile["former_names"] == [payload["name"]]
    assert profile["codes"]["registration_number"] == payload["registration_number"]
    assert reader.profile("916404220000000000") is None


def test_search_ranks_exact_then_prefix_then_substring(index, reader) -> None:
    names = {
        11: "西吉商贸",
        12: "西吉商贸有限公司",
        13: "宁夏西吉商贸有限公司",
        14: "西吉县商店",  # shares bigrams 西吉, 商 … but not the substring
    }
    index.write_batch(
        [make_enriched("registration", n=n, payload={"name": name}) for n, name in names.items()]
    )
    results = reader.search("西吉商贸")
    assert [(r["name"], r["match"]) for r in results] == [
        ("西吉商贸", "exact"),
        ("西吉商贸有限公司", "prefix"),
        ("宁夏西吉商贸有限公司", "substring"),
    ]
    assert [r["name"] for r in reader.search("商贸有限", limit=1)] == ["西吉商贸有限公司"]


@pytest.mark.parametrize("path", ["native SINTER", "bounded scan"])
def test_substring_search_finds_the_same_enterprises_either_way(
    index, reader, monkeypatch, path
) -> None:
    """sample_intersection.lua intersects small sets with one SINTER and scans large ones;
    both answer with the enterprises whose names hold the query, and a decoy holding its
    rarest bigrams but not the substring is dropped by the ranker."""
    if path == "bounded scan":
        monkeypatch.setattr(reader_module, "EXACT_INTERSECTION_MAX", 0)
    names = {50 + i: f"宁夏{town}沙坡头旅游开发有限公司" for i, town in enumerate("东南西北中")}
    names[60] = "沙坡头旅行社游开发有限公司"  # 沙坡, 坡头, 游开, 开发 … but not 沙坡头旅游开发
    names[61] = "中卫市旅游局招待所"  # 旅游 the most common bigram: not among the rarest four
    names[62] = "银川旅游集团有限公司"
    index.write_batch(
        [make_enriched("registration", n=n, payload={"name": name}) for n, name in names.items()]
    )
    found = reader.search("沙坡头旅游开发", limit=10)
    assert sorted(r["name"] for r in found) == sorted(names[50 + i] for i in range(5))
    assert {r["match"] for r in found} == {"substring"}


def test_search_finds_former_names_and_code_prefixes(index, reader) -> None:
    registration = make_enriched("registration", n=21, payload={"name": "固原老字号餐饮有限公司"})
    index.write_batch([registration, newer(registration, payload={"name": "固原新派餐饮有限公司"})])
    [hit] = reader.search("老字号")
    assert (hit["name"], hit["matched_name"], hit["former"]) == (
        "固原新派餐饮有限公司",
        "固原老字号餐饮有限公司",
        True,
    )
    [by_code] = reader.search(registration["uscc"][:12])
    assert (by_code["uscc"], by_code["match"]) == (registration["uscc"], "code")
    with pytest.raises(SearchQueryInvalid, match="at least 2 characters"):
        reader.search("固")


def test_lists_page_newest_first_and_filter_by_region(index, reader) -> None:
    records = [
        make_enriched(
            "abnormal_operation",
            n=30 + i,
            region_code=region,
            payload={"decided_on": f"2024-05-{10 + i:02d}"},
        )
        for i, region in enumerate(["640422", "640422", "640104", "110105", "640422"])
    ]
    removal = make_enriched("abnormal_operation", n=40, payload={"list_action": "removed"})
    index.write_batch([*records, removal])
    first = reader.list_page("abnormal_operation", page=1, size=2)
    assert (first["total"], first["pages"]) == (5, 3)
    assert [e["uscc"] for e in first["items"]] == [records[4]["uscc"], records[3]["uscc"]]
    assert first["items"][0]["listed_on"] == "2024-05-14"
    last = reader.list_page("abnormal_operation", page=3, size=2)
    assert [e["uscc"] for e in last["items"]] == [records[0]["uscc"]]
    assert reader.list_page("abnormal_operation", region="640000")["total"] == 4
    assert reader.list_page("abnormal_operation", region="6401")["total"] == 1
    county = reader.list_page("abnormal_operation", region="640422")
    assert {e["uscc"] for e in county["items"]} == {records[i]["uscc"] for i in (0, 1, 4)}
    with pytest.raises(ValueError, match="expected one of restriction"):
        reader.list_page("blacklist")


def test_flushed_scripts_are_reloaded_and_the_batch_retried(index, reader, redis_client) -> None:
    penalty = make_enriched("penalty", n=50)
    redis_client.script_flush()
    with pytest.raises(SinkStateReset, match="NoScriptError"):
        index.write_batch([penalty])
    assert index.write_batch([penalty]).applied == 1
    assert reader.profile(penalty["uscc"]) is not None


def test_lost_data_is_reported_as_index_lost(index, reader, redis_client) -> None:
    index.write_batch([make_enriched("penalty", n=51)])
    marker = reader.rebuild_marker()
    redis_client.flushdb()
    redis_client.script_flush()  # what a restart without persistence looks like
    assert reader.rebuild_marker() is None
    with pytest.raises(IndexLost, match=r"replay credit\.records"):
        index.write_batch([make_enriched("penalty", n=52)])
    assert reader.rebuild_marker()["marker"] != marker["marker"]
    # A cluster counts an enterprise with its search entries (keys.py: pub:{s<k>}:all), which
    # the failed batch's pipeline wrote; the sink's retry of the batch adds its profile.
    assert reader.index_stats()["enterprises"] == (1 if index.cluster else 0)
    retried = make_enriched("penalty", n=52)
    assert index.write_batch([retried]).applied == 1
    assert reader.profile(retried["uscc"]) is not None
    assert reader.index_stats()["enterprises"] == 1
