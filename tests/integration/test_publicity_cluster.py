"""The publicity index on a three-master Redis Cluster (issue #18): the same profiles, searches
and lists as on one redis-server, list membership versioned on the list's own slot, and a
search fanned out to every bucket in the same rounds."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from redis.cluster import ClusterPipeline

from schemas.categories import WORKFLOW_CATEGORIES
from sinks.publicity import PublicityIndex, PublicityReader
from sinks.publicity.keys import LISTS
from sinks.redis_client import open_redis
from tests.factories import _KEY_FIELDS, make_enriched, newer

pytestmark = pytest.mark.integration

NAMES = [
    "宁夏西吉商贸有限公司",
    "银川鑫源科技有限公司",
    "固原六盘山农业有限公司",
    "吴忠清真食品有限公司",
]
REGIONS = ["640422", "640104", "640302", "110105"]


@pytest.fixture
def cluster(redis_cluster_url) -> Iterator:
    client = open_redis(redis_cluster_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


def _corpus(seed: int) -> list[list]:
    """Forty enterprises over every category, renamed, withdrawn, replayed, shuffled, in
    batches: the history a pipeline delivers, out of order."""
    rng = random.Random(seed)
    categories = [c for c in _KEY_FIELDS if c not in WORKFLOW_CATEGORIES]
    records = []
    for n in range(200, 240):
        region = rng.choice(REGIONS)
        name = f"{rng.choice(NAMES)}{n}分公司"
        reg = make_enriched("registration", n=n, region_code=region, payload={"name": name})
        records.append(reg)
        for category in rng.sample(categories, 5):
            records.append(make_enriched(category, n=n, region_code=region, canonical_name=name))
        if rng.random() < 0.3:
            records.append(newer(reg, payload={"name": f"{rng.choice(NAMES)}{n}"}))
        if rng.random() < 0.3:
            records.append(newer(records[-2], operation="withdraw"))
    records += rng.sample(records, 30)  # replayed
    rng.shuffle(records)
    return [records[i : i + rng.randint(5, 25)] for i in range(0, len(records), 25)]


def _served(reader: PublicityReader, usccs: list[str]) -> dict:
    out: dict = {"profiles": {u: reader.profile(u) for u in usccs}}
    for q in ["西吉商贸", "鑫源", "六盘山农业", "食品有限", "有限公司2", "91640422"]:
        out[q] = [(r["uscc"], r["match"], r["matched_name"]) for r in reader.search(q, 100)]
    for name in LISTS:
        for region in (None, "64", "6404", "640422", "110105"):
            out[(name, region)] = reader.list_page(name, region, size=100)
    out["enterprises"] = reader.index_stats()["enterprises"]
    return out


@pytest.mark.parametrize("seed", [7, 8])
def test_a_cluster_serves_what_one_server_serves(redis_client, cluster, seed) -> None:
    batches = _corpus(seed)
    usccs = sorted({r["uscc"] for batch in batches for r in batch})
    single, sharded = PublicityIndex(redis_client), PublicityIndex(cluster)
    single.setup(), sharded.setup()
    for batch in batches:
        a, b = single.write_batch(batch), sharded.write_batch(batch)
        assert (a.applied, a.skipped_not_newer) == (b.applied, b.skipped_not_newer)
    one, many = PublicityReader(redis_client), PublicityReader(cluster)
    expected, got = _served(one, usccs), _served(many, usccs)
    assert got == expected
    assert all(got[q] for q in ("西吉商贸", "鑫源", "六盘山农业", "食品有限", "91640422"))
    assert expected["enterprises"] == len(usccs)
    # The searches really spread over the buckets (and so over the three masters).
    hits = {u for q in ("有限公司2", "食品有限") for u, _, _ in got[q]}
    assert len({many.keys.bucket(u) for u in hits}) >= 4
    assert sum(len(got[(name, None)]["items"]) for name in LISTS) > 0


def test_list_membership_follows_item_versions(cluster) -> None:
    index, reader = PublicityIndex(cluster), PublicityReader(cluster)
    index.setup()
    early = make_enriched("restriction", n=250, payload={"restricted_from": dt.date(2024, 3, 1)})
    late = make_enriched("restriction", n=250, payload={"restricted_from": dt.date(2024, 6, 1)})
    assert early["record_key"] != late["record_key"]
    index.write_batch([late, early])
    [entry] = reader.list_page("restriction", "640422")["items"]
    assert entry["listed_on"] == "2024-06-01"  # dated by the newest listing
    index.write_batch([newer(late, operation="withdraw")])
    assert reader.list_page("restriction", "64")["items"][0]["listed_on"] == "2024-03-01"
    index.write_batch([late])  # the older, public version replayed: changes nothing
    assert reader.list_page("restriction")["items"][0]["listed_on"] == "2024-03-01"
    index.write_batch([newer(early, publication_status="expired")])
    for region in (None, "64", "6404", "640422"):
        assert reader.list_page("restriction", region)["total"] == 0
    assert reader.profile(early["uscc"])["lists"] == []


def test_a_search_asks_every_bucket_in_the_same_rounds(cluster, monkeypatch) -> None:
    index, reader = PublicityIndex(cluster), PublicityReader(cluster)
    index.setup()
    index.write_batch(
        [make_enriched("registration", n=300 + i, payload={"name": f"中卫沙坡头旅游{i}号店"})
         for i in range(40)]
    )  # fmt: skip
    rounds: list[int] = []
    original = ClusterPipeline.execute

    def counting(self, *args, **kwargs):
        rounds.append(len(self._execution_strategy.command_queue))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ClusterPipeline, "execute", counting)
    found = reader.search("沙坡头旅游", limit=100)
    assert len(found) == 40
    assert len({reader.keys.bucket(r["uscc"]) for r in found}) >= 8
    # Prefixes and set sizes of every bucket; the intersections; the summaries.
    assert len(rounds) == 3, rounds
    assert rounds[0] == reader.keys.buckets * (1 + 4)  # names + four bigrams per bucket
