"""Reading the publicity index: profile by any code, name and code search, paged lists.

Each call is at most three round trips (resolve, fetch, verify), none of which grows with
the number of enterprises: this is what keeps look-ups and searches in single milliseconds
at 1,000,000 enterprises (bench/sinks_rate.py measures it). On a Redis Cluster a search
asks every search bucket (keys.py) in the same rounds — redis-py's ClusterPipeline sends each
node its buckets' commands at once — and merges the buckets' answers here.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from typing import Any

from redis.exceptions import NoScriptError

from schemas.categories import CATEGORY_SPECS, ITEM_AND_CHANGE_CATEGORIES
from sinks.errors import SearchQueryInvalid
from sinks.publicity.index import load_script
from sinks.publicity.keys import (
    LIST_CHINESE,
    LISTS,
    MIN_QUERY_CHARS,
    Keys,
    bigrams,
    looks_like_code,
    normalise_code,
    normalise_name,
    region_filter,
)
from sinks.publicity.paging import PageOutOfRange, check_in_range, page_request
from sinks.publicity.profile import RED_LIST, TAX_RATING, derived_red_list_items
from sinks.publicity.ranking import rank
from sinks.redis_client import RedisClient, is_cluster, queue_evalsha

MAX_LIMIT = 100
# Bounds of the substring scan (sample_intersection.lua): candidates wanted per result; the
# rarest bigrams intersected (the ranker drops a candidate whose name lacks the rest); the
# smallest set intersected whole by a native SINTER; members examined at most when the
# smallest is larger. Each keeps the script near a millisecond of server time.
CANDIDATES_PER_RESULT = 2
INTERSECTED_BIGRAMS = 4
EXACT_INTERSECTION_MAX = 2_000
SCAN_BUDGET = 1000
# A bucket holds 1/buckets of the enterprises: it scans a share of the budget, but not less
# than this (buckets on different nodes scan in parallel).
MIN_BUCKET_BUDGET = 1000
_CATEGORY_CHINESE = {c: CATEGORY_SPECS[c].chinese for c in ITEM_AND_CHANGE_CATEGORIES}
_SUMMARY_FIELDS = ("name", "region_code", "province", "prefecture", "county", "entity_type",
                   "status")  # fmt: skip


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode_hash(raw: dict[Any, Any]) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in raw.items()}


def _history(
    raw: dict[Any, Any], public_ids: set[str], category: str | None
) -> list[dict[str, Any]]:
    """The history entries, newest end first; an item public again (a later version, e.g. a
    restriction extended) is left out, as is any other category when one is asked for."""
    entries = [json.loads(_s(v)) for v in raw.values()]
    entries = [
        e for e in entries
        if e["item_id"] not in public_ids and category in (None, e["category"])
    ]  # fmt: skip
    entries.sort(key=lambda e: (e.get("ended_on") or "", e["version"]), reverse=True)
    return entries


class PublicityReader:
    """Read side of the publicity index, for the HTTP API and the public page."""

    def __init__(self, redis: RedisClient, prefix: str = "pub:") -> None:
        self.redis = redis
        self.keys = Keys(prefix, cluster=is_cluster(redis))
        self._intersect_source = load_script("sample_intersection.lua")
        self._intersect_sha: str | None = None

    def resolve(self, code: str) -> str | None:
        """The USCC an identifier leads to (USCC, registration number, organisation code)."""
        normalised = normalise_code(code)
        if not normalised:
            return None
        value = self.redis.get(self.keys.code(normalised))
        return _s(value) if value is not None else None

    def profile(
        self,
        code: str,
        *,
        category: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> dict[str, Any] | None:
        """The public profile of the enterprise a code leads to, or None.

        `item_counts` gives every category's number of public items; `items` the newest
        `page_size` of each (or, with `category`, that page of that category only). Without
        `page_size` every item is returned (the audit compares whole profiles)."""
        if category is not None and category not in ITEM_AND_CHANGE_CATEGORIES:
            known = ", ".join(ITEM_AND_CHANGE_CATEGORIES)
            raise ValueError(f"category {category!r}: expected one of {known}")
        request = page_request(page, page_size) if page_size is not None else None
        if category is None and page != 1:
            raise PageOutOfRange("翻页时请同时指定类别（category），每个类别分别翻页")
        uscc = self.resolve(code)
        if uscc is None:
            return None
        k = self.keys
        shown_categories = [c for c in ITEM_AND_CHANGE_CATEGORIES if category in (None, c)]
        # The red-list section shows the A-level tax ratings too: read them with it.
        fetched = list(shown_categories)
        if RED_LIST in fetched and TAX_RATING not in fetched:
            fetched.append(TAX_RATING)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(k.entity(uscc))
        pipe.smembers(k.former_names(uscc))
        for name in LISTS:
            pipe.zscore(k.list(name), uscc)
        for cat in ITEM_AND_CHANGE_CATEGORIES:
            pipe.hlen(k.items(uscc, cat))
        for cat in fetched:
            # A hash has no order: the section is sorted here, then sliced to the page.
            pipe.hgetall(k.items(uscc, cat))
        pipe.hgetall(k.history(uscc))
        replies = pipe.execute()
        history_raw = replies.pop()
        identity_raw, former_raw = replies[0], replies[1]
        if not identity_raw:
            return None
        rest = iter(replies[2:])
        list_scores = [next(rest) for _ in LISTS]
        counts = {cat: int(next(rest)) for cat in ITEM_AND_CHANGE_CATEGORIES}
        listed = {n for n, score in zip(LISTS, list_scores, strict=True) if score is not None}
        if TAX_RATING in listed:
            listed.add(RED_LIST)  # an A-level taxpayer is on the red list too
        items_raw = list(rest)
        identity = _decode_hash(identity_raw)
        name = identity.get("name", "")
        items: dict[str, list[dict[str, Any]]] = {}
        sections = {cat: [json.loads(_s(v)) for v in raw.values()]
                    for cat, raw in zip(fetched, items_raw, strict=True)}  # fmt: skip
        if RED_LIST in sections:
            # Derived, not stored: an A-level rating's 守信 entry (profile.derived_red_list_items).
            sections[RED_LIST] += derived_red_list_items(sections[TAX_RATING])
        if request is not None and category is not None:
            check_in_range(
                request, len(sections[category]), f"该企业的{_CATEGORY_CHINESE[category]}信息"
            )
        for cat in shown_categories:
            shown = sections[cat]
            for item in shown:
                item.pop("list_score", None)  # the list membership is `lists`
            # Newest first, as the public page lists them.
            shown.sort(key=lambda i: (i.get("occurred_at") or "", i["version"]), reverse=True)
            counts[cat] = len(shown)  # the hash as read, should it have changed in between
            if request is not None:
                shown = shown[request.start : request.stop]
            if shown:
                items[cat] = shown
        # Every public item, not only this page's: one public again on page 2 has not ended.
        public_ids = {i["item_id"] for section in sections.values() for i in section}
        history = _history(history_raw, public_ids, category)
        return {
            "uscc": uscc,
            "name": name,
            "former_names": sorted(n for n in map(_s, former_raw) if n != name),
            "codes": {
                "uscc": identity.get("uscc", uscc),
                "registration_number": identity.get("registration_number"),
                "organisation_code": identity.get("organisation_code"),
            },
            "region": {
                "code": identity.get("region_code"),
                "province": identity.get("province"),
                "prefecture": identity.get("prefecture"),
                "county": identity.get("county"),
            },
            "entity_type": identity.get("entity_type"),
            "registered_type": identity.get("registered_type"),
            "status": identity.get("status"),
            "legal_representative": identity.get("legal_representative"),
            "registration_authority": identity.get("registration_authority"),
            "established_on": identity.get("established_on"),
            # An item with a list score puts the enterprise on that list (apply_record.lua
            # keeps the list's zset in step with the items).
            "lists": [n for n in LISTS if n in listed],
            "item_counts": counts,
            "items": items,
            "items_page": {
                "category": category,
                "page": page,
                "page_size": request.size if request is not None else None,
            },
            # Items that left the public view: when and why (移出, 期满, 修复, 撤销).
            "history": history,
        }

    def search(self, q: str, limit: int = 20) -> list[dict[str, Any]]:
        """Enterprises whose current or former name contains `q` (two characters or more),
        or whose code starts with it; ranked code > exact > prefix > substring."""
        query = normalise_name(q or "")
        if len(query) < MIN_QUERY_CHARS:
            raise SearchQueryInvalid(
                f"search query {q!r}: expected at least {MIN_QUERY_CHARS} characters of a "
                "name, or the start of a code"
            )
        limit = max(1, min(limit, MAX_LIMIT))
        k = self.keys
        q_bytes = query.encode()
        code = normalise_code(q) if looks_like_code(q) else None
        grams = sorted(bigrams(query))
        buckets = range(k.buckets)
        # Round one, every bucket: name prefixes, the bigram sets' sizes, code prefixes.
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.zrangebylex(k.names_in(b), b"[" + q_bytes, b"(" + q_bytes + b"\xff", 0,
                             limit * 2)  # fmt: skip
            for gram in grams:
                pipe.scard(k.bigram(gram, b))
            if code:
                pipe.zrangebylex(k.codes_in(b), b"[" + code.encode(),
                                 b"(" + code.encode() + b"\xff", 0, limit)  # fmt: skip
        if code:
            pipe.get(k.code(code))
        replies = iter(pipe.execute())
        named: list[bytes] = []
        coded: list[bytes] = []
        cards: list[list[int]] = []
        for _ in buckets:
            named += next(replies)
            cards.append([int(next(replies)) for _ in grams])
            if code:
                coded += next(replies)
        # Merged in the order one sorted set would give (member order), then cut as one.
        prefixed = [_s(m).rpartition("\0")[2] for m in sorted(named)[: limit * 2]]
        code_hits: list[str] = []
        if code:
            exact_code = next(replies)
            if exact_code is not None:
                code_hits.append(_s(exact_code))
            code_hits += [_s(m).rpartition("\0")[2] for m in sorted(coded)[:limit]]
        candidates = list(dict.fromkeys([*code_hits, *prefixed]))
        if len(candidates) < limit and grams:
            # A two-character query is one bigram: every member is a true match.
            want = limit if len(grams) == 1 else limit * CANDIDATES_PER_RESULT
            found = self._intersect_buckets(grams, cards, want)
            candidates += [u for u in found if u not in candidates]
        summaries = self._summaries(candidates, with_former=True)
        names = {u: (s["name"], s["former_names"]) for u, s in summaries.items()}
        ranked = rank(query, names, limit, code_matches=dict.fromkeys(code_hits))
        return [
            {**summaries[m.uscc], "match": m.match, "matched_name": m.matched_name,
             "former": m.former}
            for m in ranked
        ]  # fmt: skip

    def _intersect_buckets(self, grams: list[str], cards: list[list[int]], want: int) -> list[str]:
        """Round two: sample_intersection.lua in every bucket holding all the bigrams (one
        slot each) over its rarest bigrams, smallest set first; each bucket is asked for its
        share of `want`."""
        k, buckets = self.keys, len(cards)
        calls = []
        for b, sizes in enumerate(cards):
            if min(sizes) > 0:
                rarest = sorted(zip(sizes, grams, strict=True))[:INTERSECTED_BIGRAMS]
                calls.append([k.bigram(g, b) for _, g in rarest])
        if not calls:
            return []
        share = want if buckets == 1 else 2 * math.ceil(want / buckets)
        budget = max(SCAN_BUDGET // buckets, min(SCAN_BUDGET, MIN_BUCKET_BUDGET))
        for attempt in (1, 2):
            if self._intersect_sha is None:
                self._intersect_sha = self.redis.script_load(self._intersect_source)
            pipe = self.redis.pipeline(transaction=False)
            for ordered in calls:
                queue_evalsha(pipe, self._intersect_sha, ordered,
                              [share, budget, EXACT_INTERSECTION_MAX])  # fmt: skip
            try:
                replies = pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
                self._intersect_sha = None  # the server restarted or flushed its scripts
                continue
            finally:
                pipe.reset()
            return [_s(u) for found in replies for u in found]
        raise AssertionError("unreachable")

    def _summaries(self, usccs: Iterable[str], with_former: bool = False) -> dict[str, Any]:
        usccs = list(usccs)
        if not usccs:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for uscc in usccs:
            pipe.hmget(self.keys.entity(uscc), _SUMMARY_FIELDS)
            if with_former:
                pipe.smembers(self.keys.former_names(uscc))
        replies = iter(pipe.execute())
        out: dict[str, Any] = {}
        for uscc in usccs:
            values = [_s(v) if v is not None else None for v in next(replies)]
            summary: dict[str, Any] = {"uscc": uscc, **dict(zip(_SUMMARY_FIELDS, values,
                                                                  strict=True))}  # fmt: skip
            if with_former:
                former = sorted(n for n in map(_s, next(replies)) if n != summary["name"])
                summary["former_names"] = former
            if summary["name"] is not None:
                out[uscc] = summary
        return out

    def list_page(
        self, list_name: str, region: str | None = None, page: int = 1, size: int = 20
    ) -> dict[str, Any]:
        """One page of a list (restriction, abnormal_operation, red_list), newest listing
        first, optionally only one region (province, prefecture or county code prefix)."""
        if list_name not in LISTS:
            raise ValueError(f"list {list_name!r}: expected one of {', '.join(LISTS)}")
        request = page_request(page, size, size_name="size")
        prefix = region_filter(region) if region else None
        key = self.keys.list(list_name, prefix)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(key)
        pipe.zrevrange(key, request.start, request.stop - 1, withscores=True)
        total, members = pipe.execute()
        pages = check_in_range(request, int(total), f"{LIST_CHINESE[list_name]}")
        summaries = self._summaries(_s(m) for m, _ in members)
        entries = []
        for member, score in members:
            uscc = _s(member)
            day = int(score)
            listed_on = dt.date(day // 10000, day // 100 % 100, day % 100).isoformat()
            entries.append({**summaries.get(uscc, {"uscc": uscc}), "listed_on": listed_on})
        return {
            "list": list_name,
            "title": LIST_CHINESE[list_name],
            "region": prefix,
            "page": page,
            "size": size,
            "total": int(total),
            "pages": pages,
            "items": entries,
        }

    def rebuild_marker(self) -> dict[str, str] | None:
        """The index's marker (id, created_at), or None: an index without one is empty or
        lost — replay credit.records into it."""
        marker, created_at = self.redis.hmget(self.keys.meta, "marker", "created_at")
        if marker is None:
            return None
        return {"marker": _s(marker), "created_at": _s(created_at)}

    def index_stats(self) -> dict[str, Any]:
        """Enterprises indexed, the last version applied and when, and the marker."""
        meta = _decode_hash(self.redis.hgetall(self.keys.meta))
        enterprises = int(meta.get("enterprises", 0))
        if self.keys.cluster:  # counted per search bucket (keys.py)
            pipe = self.redis.pipeline(transaction=False)
            for b in range(self.keys.buckets):
                pipe.scard(self.keys.enterprises_in(b))
            enterprises = sum(int(n) for n in pipe.execute())
        return {
            "enterprises": enterprises,
            "last_applied_version": meta.get("last_applied_version"),
            "last_applied_at": meta.get("last_applied_at"),
            "marker": meta.get("marker"),
            "created_at": meta.get("created_at"),
            "format": meta.get("format"),
        }
