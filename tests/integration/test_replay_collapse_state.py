"""Collapsing a replayed range (creditsync/ops/collapse.py) leaves the publicity index in
exactly the state that applying every record in order leaves, on a real redis-server."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditsync.ops.collapse import newest_per_item
from sinks.publicity import PublicityIndex
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration

# Random keys of the index's meta hash (made once per index), not state a replay makes.
PER_INDEX = {b"marker", b"created_at"}


def snapshot(redis_client, prefix: str) -> dict[bytes, object]:
    out: dict[bytes, object] = {}
    for key in redis_client.scan_iter(match=f"{prefix}*", count=1000):
        name = key[len(prefix) :]
        kind = redis_client.type(key)
        if kind == b"hash":
            out[name] = sorted(
                (k, v) for k, v in redis_client.hgetall(key).items() if k not in PER_INDEX
            )
        elif kind == b"set":
            out[name] = sorted(redis_client.smembers(key))
        elif kind == b"zset":
            out[name] = redis_client.zrange(key, 0, -1, withscores=True)
        else:
            out[name] = redis_client.get(key)
    return out


def histories(draw) -> list[dict]:
    """Versions of a few items of two enterprises: renames, moves, endings (and public again),
    repeats."""
    out = []
    for n in (801, 802):
        for category in ("registration", "restriction", "license"):
            record = make_enriched(category, n=n)
            out.append(record)
            for _ in range(draw(st.integers(0, 3))):
                change = draw(
                    st.sampled_from(["same", "rename", "move", "withdraw", "expire", "again"])
                )
                if change == "rename" and category == "registration":
                    record = newer(
                        record, payload={"name": f"宁夏改名{draw(st.integers(0, 2))}公司"}
                    )
                elif change == "rename":
                    record = newer(record, canonical_name=f"宁夏别名{draw(st.integers(0, 2))}公司")
                elif change == "move":
                    code = draw(st.sampled_from(["640422", "640402"]))
                    record = newer(record, region={**record["region"], "code": code})
                elif change == "withdraw":
                    record = newer(record, operation="withdraw")
                elif change == "expire":
                    record = newer(record, publication_status="expired")
                elif change == "again":  # extended after it ended: public again
                    record = newer(record, operation="upsert", publication_status="public")
                else:
                    record = newer(record, processed_at=record["processed_at"] + dt.timedelta(1))
                out.append(record)
                if draw(st.booleans()):
                    out.append(dict(record))  # delivered twice
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_collapsed_replay_leaves_the_same_index_as_every_record_in_order(
    redis_client, data
) -> None:
    records = histories(data.draw)
    records = data.draw(st.permutations(records))  # versions out of order, as after a re-key
    redis_client.flushdb()
    in_order, collapsed = PublicityIndex(redis_client, "a:"), PublicityIndex(redis_client, "b:")
    in_order.setup()
    collapsed.setup()
    in_order.write_batch(list(records))
    result = newest_per_item(records)
    collapsed.write_batch(result.kept)
    assert snapshot(redis_client, "a:") == snapshot(redis_client, "b:")
    assert len(result.kept) + result.dropped == len(records)


def _in_order_and_collapsed(redis_client, records: list[dict]) -> tuple[dict, dict]:
    redis_client.flushdb()
    in_order, collapsed = PublicityIndex(redis_client, "a:"), PublicityIndex(redis_client, "b:")
    in_order.setup()
    collapsed.setup()
    in_order.write_batch(list(records))
    collapsed.write_batch(newest_per_item(records).kept)
    return snapshot(redis_client, "a:"), snapshot(redis_client, "b:")


def _moved_restriction() -> tuple[dict, dict]:
    restriction = make_enriched("restriction", n=802)  # region 640422
    return restriction, newer(restriction, region={**restriction["region"], "code": "640402"})


def test_a_moved_item_repeated_after_its_older_version_keeps_it_off_the_old_list(
    redis_client,
) -> None:
    # Found by the property test (seed 196431953637092807748082875545685767183): the moved
    # version, its older version (kept for its region), then the moved version again.
    old, moved = _moved_restriction()
    in_order, collapsed = _in_order_and_collapsed(redis_client, [moved, old, dict(moved)])
    old_list = b"list:restriction:r:640422"
    assert in_order.get(old_list) is None  # the old version came too late to list anyone
    assert collapsed.get(old_list) == in_order.get(old_list)
    assert collapsed == in_order


def test_an_older_version_after_a_dropped_newer_one_is_not_applied(redis_client) -> None:
    old, moved = _moved_restriction()
    again = newer(moved, processed_at=moved["processed_at"] + dt.timedelta(1))
    in_order, collapsed = _in_order_and_collapsed(redis_client, [moved, old, again])
    assert collapsed.get(b"list:restriction:r:640422") is None
    assert collapsed == in_order


def test_an_ended_version_of_an_item_public_again_keeps_its_history_entry(redis_client) -> None:
    restriction = make_enriched("restriction", n=801)
    expired = newer(restriction, publication_status="expired", ended_on=dt.date(2024, 7, 1),
                    end_reason="限制期满")  # fmt: skip
    extended = newer(expired, publication_status="public")
    in_order, collapsed = _in_order_and_collapsed(redis_client, [restriction, expired, extended])
    history = f"e:{{{restriction['uscc']}}}:h".encode()
    assert [field for field, _ in in_order[history]] == [
        f"restriction:{restriction['record_key']}".encode()
    ]
    assert collapsed == in_order


def test_the_enterprise_s_first_record_fills_its_region_after_a_replay(redis_client) -> None:
    restriction = make_enriched("restriction", n=803)  # region 640422, the enterprise's first
    licence = make_enriched("license", n=803, region={**restriction["region"], "code": "640402"})
    withdrawn = newer(restriction, operation="withdraw")
    records = [restriction, licence, withdrawn]
    in_order, collapsed = _in_order_and_collapsed(redis_client, records)
    profile_key = f"e:{{{restriction['uscc']}}}".encode()
    assert (b"region_code", b"640422") in in_order[profile_key]
    assert collapsed == in_order
