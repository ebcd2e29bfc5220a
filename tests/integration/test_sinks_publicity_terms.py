"""The publicity index writes search entries once: name changes, warm and cold processes, one
round trip per batch, and a state identical to writing every entry with every record."""

from __future__ import annotations

import random

import pytest
from redis.client import Pipeline

from schemas.categories import WORKFLOW_CATEGORIES
from sinks.errors import IndexLost
from sinks.publicity import PublicityIndex, PublicityReader
from sinks.publicity.keys import Keys, bigrams, normalise_name
from tests.factories import _KEY_FIELDS, make_enriched, newer

pytestmark = pytest.mark.integration

OLD, NEW = "固原老字号餐饮有限公司", "固原新派餐饮有限公司"


def _index(redis_client, prefix: str = "pub:") -> PublicityIndex:
    index = PublicityIndex(redis_client, prefix)
    index.setup()
    return index


def _bigram_holds(redis_client, bigram: str, uscc: str) -> bool:
    return bool(redis_client.sismember(Keys().bigram(bigram), uscc))


def test_a_name_change_indexes_the_new_name_and_keeps_the_old_as_former(redis_client) -> None:
    index, reader = _index(redis_client), PublicityReader(redis_client)
    registration = make_enriched("registration", n=31, payload={"name": OLD})
    index.write_batch([registration])
    assert reader.search("新派") == []
    index.write_batch([newer(registration, payload={"name": NEW})])
    [hit] = reader.search("新派")
    assert (hit["uscc"], hit["name"], hit["former"]) == (registration["uscc"], NEW, False)
    # The old name stays findable, as a former name (the index only grows).
    [old] = reader.search("老字号")
    assert (old["name"], old["matched_name"], old["former"]) == (NEW, OLD, True)
    assert _bigram_holds(redis_client, "新派", registration["uscc"])


def test_an_unchanged_name_does_not_write_its_bigrams_again(redis_client) -> None:
    index = _index(redis_client)
    registration = make_enriched("registration", n=32, payload={"name": OLD})
    uscc = registration["uscc"]
    index.write_batch([registration])
    assert _bigram_holds(redis_client, "字号", uscc)
    # Taken out behind the index's back: only a write of the name's entries puts it back.
    redis_client.srem(Keys().bigram("字号"), uscc)
    penalty = make_enriched("penalty", n=32, canonical_name=OLD)
    assert penalty["uscc"] == uscc
    assert index.write_batch([penalty, newer(registration)]).applied == 2
    assert not _bigram_holds(redis_client, "字号", uscc)
    # A renamed enterprise gets its new name's entries at once.
    index.write_batch([newer(registration, payload={"name": NEW}, source_sequence=5)])
    assert _bigram_holds(redis_client, "新派", uscc)
    # A process that has not written them (a restart, another worker) writes them once.
    _index(redis_client).write_batch([penalty])
    assert _bigram_holds(redis_client, "字号", uscc)


def test_an_index_recreated_empty_gets_every_entry_again(redis_client) -> None:
    index, reader = _index(redis_client), PublicityReader(redis_client)
    registration = make_enriched("registration", n=33, payload={"name": OLD})
    index.write_batch([registration])
    redis_client.flushdb()
    redis_client.script_flush()  # what a restart without persistence looks like
    with pytest.raises(IndexLost):
        index.write_batch([registration])
    index.write_batch([registration])  # the sink loop's retry of the same batch
    assert [h["uscc"] for h in reader.search("老字号")] == [registration["uscc"]]


def test_a_marker_changed_by_another_process_makes_the_batch_write_its_entries(
    redis_client,
) -> None:
    index = _index(redis_client)
    registration = make_enriched("registration", n=34, payload={"name": OLD})
    index.write_batch([registration])
    # Another worker recreated the index (scripts loaded, so no NOSCRIPT here).
    redis_client.flushdb()
    _index(redis_client)
    index.write_batch([registration])
    assert _bigram_holds(redis_client, "字号", registration["uscc"])
    assert redis_client.get(Keys().code(registration["uscc"])) == registration["uscc"].encode()


def test_a_batch_is_one_round_trip(redis_client, monkeypatch) -> None:
    index = _index(redis_client)
    executed: list[int] = []
    original = Pipeline.execute

    def counting(self, *args, **kwargs):
        executed.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counting)
    cold = [make_enriched(c, n=40 + i) for i, c in enumerate(("registration", "penalty"))]
    index.write_batch(cold)
    warm = [newer(r) for r in cold] + [make_enriched("red_list", n=40)]
    index.write_batch(warm)
    assert len(executed) == 2, executed  # one pipeline per batch, cold or warm


def _snapshot(redis_client, prefix: str) -> dict[str, object]:
    """Every key under `prefix` (without it) with its content; the marker left out."""
    out: dict[str, object] = {}
    for raw in redis_client.scan_iter(match=f"{prefix}*", count=1000):
        key = raw.decode()[len(prefix) :]
        kind = redis_client.type(raw)
        if kind == b"string":
            out[key] = redis_client.get(raw)
        elif kind == b"hash":
            fields = redis_client.hgetall(raw)
            if key == "meta":
                fields = {k: v for k, v in fields.items() if k in (b"enterprises",)}
            out[key] = sorted(fields.items())
        elif kind == b"set":
            out[key] = sorted(redis_client.smembers(raw))
        elif kind == b"zset":
            out[key] = redis_client.zrange(raw, 0, -1, withscores=True)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_remembered_entries_give_the_state_of_writing_them_all(redis_client, seed) -> None:
    """Property-style over every category, renames, replays and out-of-order batches: one
    index that remembers what it wrote ends in the same state as one that writes every
    entry of every record (a new process for each batch)."""
    rng = random.Random(seed)
    categories = [c for c in _KEY_FIELDS if c not in WORKFLOW_CATEGORIES]
    names = ["宁夏西吉商贸有限公司", "宁夏西吉新商贸有限公司", "银川鑫源科技有限公司"]
    records = []
    for n in range(60, 66):
        reg = make_enriched("registration", n=n, payload={"name": rng.choice(names) + str(n)})
        records.append(reg)
        for category in rng.sample(categories, 4):
            records.append(make_enriched(category, n=n, canonical_name=reg["payload"]["name"]))
        records.append(newer(reg, payload={"name": rng.choice(names) + str(n)}))
        records.append(newer(records[-3], operation="withdraw"))
    records += rng.sample(records, 10)  # replayed
    rng.shuffle(records)
    batches = [records[i : i + rng.randint(1, 9)] for i in range(0, len(records), 9)]
    remembering = _index(redis_client, "a:")
    for batch in batches:
        remembering.write_batch(batch)
        _index(redis_client, "b:").write_batch(batch)
    assert _snapshot(redis_client, "a:") == _snapshot(redis_client, "b:")
    assert any(k.startswith("bg:") for k in _snapshot(redis_client, "a:"))


def test_names_are_indexed_by_their_normalised_form(redis_client) -> None:
    index, reader = _index(redis_client), PublicityReader(redis_client)
    name = "宁夏（银川）ＡＢ商贸有限公司"
    registration = make_enriched("registration", n=35, payload={"name": name})
    index.write_batch([registration])
    for bigram in bigrams(normalise_name(name)):
        assert _bigram_holds(redis_client, bigram, registration["uscc"]), bigram
    assert [h["uscc"] for h in reader.search("(银川)ab")] == [registration["uscc"]]
