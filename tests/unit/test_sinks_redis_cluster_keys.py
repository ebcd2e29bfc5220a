"""Redis Cluster layout of the publicity index (issue #18): every script's keys in one slot,
single-server key names unchanged, and the URL forms that open a cluster."""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot

from schemas.categories import WORKFLOW_CATEGORIES
from sinks.publicity import PublicityIndex
from sinks.publicity.keys import SEARCH_BUCKETS, Keys
from sinks.redis_client import cluster_requested, open_redis, plain_url
from tests.factories import _KEY_FIELDS, make_enriched, newer


def _cluster_index() -> PublicityIndex:
    # No connection is made before setup(): the key layout is all this test reads.
    index = PublicityIndex(redis.Redis(port=1))
    index.cluster, index.keys = True, Keys(cluster=True)
    return index


def _one_slot(keys: list[str]) -> bool:
    return len({key_slot(k.encode()) for k in keys}) == 1


@pytest.mark.parametrize("category", [c for c in _KEY_FIELDS if c not in WORKFLOW_CATEGORIES])
def test_every_script_of_a_record_touches_one_slot(category: str) -> None:
    index = _cluster_index()
    record = make_enriched(category, n=77, region_code="640422")
    keys, args = index._script_call(record)
    assert _one_slot(keys) and len(keys) == 4  # no meta, no lists on a cluster
    listing = index._list_call(record, args)
    assert (listing is not None) == (category in ("restriction", "abnormal_operation",
                                                  "red_list", "tax_credit_rating"))  # fmt: skip
    if listing is not None:
        assert _one_slot(listing[0]) and len(listing[0]) == 5  # own, all, 64, 6404, 640422
    withdrawn = newer(record, operation="withdraw")
    history = index._history_call(withdrawn, index._script_call(withdrawn)[1])
    if history is not None:
        assert _one_slot(history[:2])


def test_search_buckets_each_keep_one_slot_and_spread() -> None:
    keys = Keys(cluster=True)
    for bucket in range(SEARCH_BUCKETS):
        assert _one_slot([keys.names_in(bucket), keys.codes_in(bucket), keys.bigram("有限", bucket),
                          keys.enterprises_in(bucket)])  # fmt: skip
    usccs = [make_enriched("registration", n=n)["uscc"] for n in range(400, 600)]
    assert len({keys.bucket(u) for u in usccs}) == SEARCH_BUCKETS


def test_a_single_server_keeps_its_key_names() -> None:
    keys = Keys()
    assert (keys.names, keys.codes, keys.bigram("有限"), keys.list("restriction", "64")) == (
        "pub:names", "pub:codes", "pub:bg:有限", "pub:list:restriction:r:64"
    )  # fmt: skip
    assert keys.buckets == 1 and keys.bucket("91640422MA7XXXXX0X") == 0


def test_cluster_urls_and_setting(monkeypatch) -> None:
    monkeypatch.delenv("CREDITSYNC_REDIS_CLUSTER", raising=False)
    assert cluster_requested("redis+cluster://10.0.0.1:7000")
    assert cluster_requested("rediss+cluster://u:p@h:7000/0")
    assert not cluster_requested("redis://127.0.0.1:6379/0")
    assert plain_url("rediss+cluster://u:p@h:7000/0") == "rediss://u:p@h:7000/0"
    monkeypatch.setenv("CREDITSYNC_REDIS_CLUSTER", "true")
    assert cluster_requested("redis://127.0.0.1:7000")
    assert not cluster_requested("redis://127.0.0.1:7000", cluster=False)
    with pytest.raises(ValueError, match="only database 0, the URL names '3'"):
        open_redis("redis+cluster://127.0.0.1:1/3")
    monkeypatch.setenv("CREDITSYNC_REDIS_CLUSTER", "no")
    assert isinstance(open_redis("redis://127.0.0.1:1/3"), redis.Redis)  # lazy: no connect
