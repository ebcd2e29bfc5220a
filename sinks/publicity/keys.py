"""Redis key names and the text normalisation the publicity index is built on (pure).

Layout (prefix `pub:` by default; `{uscc}` is a Redis Cluster hash tag, so one enterprise's
keys share a slot and the per-item Lua script touches that slot only on a cluster):

    pub:e:{uscc}            hash   identity: name, codes, region, type, status …
    pub:e:{uscc}:former     set    former names (every name seen that is not the current)
    pub:e:{uscc}:v          hash   item id → version of the newest event applied (also for
                                   items no longer public: the tombstone that stops a
                                   replayed older version from bringing one back)
    pub:e:{uscc}:i:<cat>    hash   item id → public item JSON, one hash per category
    pub:code:<code>         string code (USCC, registration number, organisation code) → USCC
    pub:names               zset   "<normalised name>\\0<uscc>" at score 0: exact and prefix
    pub:codes               zset   "<code>\\0<uscc>": code prefix search
    pub:bg:<bigram>         set    USCCs whose current or former name contains the bigram
    pub:list:<list>[:r:<p>] zset   USCC by listing date; per region prefix (2, 4, 6 digits)
    pub:meta                hash   enterprises, last applied version, rebuild marker

On a Redis Cluster (`Keys(cluster=True)`) the keys shared by many enterprises are hash-tagged
so that every script and every multi-key command touches one slot:

    pub:{s<k>}:names, :codes, :bg:<bigram>   the search entries of the enterprises whose USCC
                                   falls in bucket k of SEARCH_BUCKETS (crc32): a query runs
                                   per bucket, each bucket in one slot, and the client merges
    pub:{s<k>}:all          set    the USCCs of bucket k (the enterprise count, exact under
                                   replays: the per-enterprise script cannot reach pub:meta)
    pub:{list:<list>}[:r:<p>]  zset the lists, each list's keys (all regions) in one slot
    pub:{list:<list>}:u:<uscc> hash item id → "<version>|<list score>" of that enterprise's
                                   items on the list: the list's own versioned state, so a
                                   replayed older item cannot change the list (apply_list.lua)
    pub:code:<code>, pub:meta       single keys, any slot

A single Redis keeps the names above unchanged (one bucket, lists written by apply_record.lua).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

LISTS: tuple[str, ...] = ("restriction", "abnormal_operation", "red_list", "tax_credit_rating")
LIST_CHINESE: dict[str, str] = {
    "restriction": "严重违法失信名单（黑名单）",
    "abnormal_operation": "经营异常名录",
    "red_list": "守信红名单",
    # Only A-level ratings list an enterprise (profile.list_score); its profile shows them
    # under 守信红名单 too (profile.derived_red_list_items).
    "tax_credit_rating": "纳税信用A级纳税人名单",
}
# Search buckets on a cluster: enough to spread over a few dozen masters, few enough that a
# query's fan-out (one command per bucket, grouped per node in one round) stays cheap. Fixed:
# changing it needs a reindex (`creditsync replay --target publicity`).
SEARCH_BUCKETS = 16
# Name searches need two characters: one character matches too much to be useful.
MIN_QUERY_CHARS = 2
_SPACES = re.compile(r"\s+")
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")
_CODE_LIKE = re.compile(r"^[0-9A-Z]+$")


def normalise_name(name: str) -> str:
    """A name as the index compares it: NFKC (full-width → half-width), no spaces, casefolded.

    （ and ( are the same after NFKC, so 宁夏（银川） and 宁夏(银川) match each other."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", name)).casefold()


def normalise_code(code: str) -> str:
    """A code as typed by people: NFKC, upper case, without spaces or dashes (XXXXXXXX-X)."""
    return _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", code)).upper()


def looks_like_code(query: str) -> bool:
    """Whether a query reads as (the start of) a code rather than a name."""
    code = normalise_code(query)
    return bool(_CODE_LIKE.match(code)) and any(ch.isdigit() for ch in code)


def bigrams(text: str) -> set[str]:
    """The character bigrams of a normalised text (a 2-character text is its own bigram)."""
    return {text[i : i + 2] for i in range(len(text) - 1)}


def region_prefixes(region_code: str | None) -> list[str]:
    """Province, prefecture and county prefixes of a GB/T 2260 code: 640422 → 64, 6404,
    640422. A prefecture-level code (640400) gives only 64 and 6404."""
    code = (region_code or "").strip()
    if len(code) != 6 or not code.isdigit():
        return []
    out = [code[:2]]
    if code[2:4] != "00":
        out.append(code[:4])
        if code[4:] != "00":
            out.append(code)
    return out


def region_filter(region: str) -> str:
    """A region filter as a prefix: 64, 6404, 640422, or a full code with trailing zeros
    (640000 → 64, 640400 → 6404)."""
    code = region.strip()
    if not code.isdigit() or len(code) not in (2, 4, 6):
        raise ValueError(
            f"region {region!r}: expected a GB/T 2260 code or prefix of 2, 4 or 6 digits"
        )
    if len(code) == 6:
        code = code[:4] if code[4:] == "00" else code
    if len(code) == 4 and code[2:] == "00":
        code = code[:2]
    return code


@dataclass(frozen=True, slots=True)
class Keys:
    """Every key name of one index; the prefix lets tests and deployments share a server.

    `cluster` hash-tags the keys shared by many enterprises (module docstring); `buckets` is
    then the number of search buckets, and 1 on a single Redis."""

    prefix: str = "pub:"
    cluster: bool = False

    @property
    def buckets(self) -> int:
        return SEARCH_BUCKETS if self.cluster else 1

    def bucket(self, uscc: str) -> int:
        """The search bucket of an enterprise (always 0 on a single Redis)."""
        if not self.cluster:
            return 0
        return zlib.crc32(uscc.encode()) % SEARCH_BUCKETS

    def _shared(self, bucket: int) -> str:
        return f"{self.prefix}{{s{bucket}}}:" if self.cluster else self.prefix

    def entity(self, uscc: str) -> str:
        return f"{self.prefix}e:{{{uscc}}}"

    def former_names(self, uscc: str) -> str:
        return f"{self.prefix}e:{{{uscc}}}:former"

    def versions(self, uscc: str) -> str:
        return f"{self.prefix}e:{{{uscc}}}:v"

    def items(self, uscc: str, category: str) -> str:
        return f"{self.prefix}e:{{{uscc}}}:i:{category}"

    def history(self, uscc: str) -> str:
        """Items that left the public view, with when and why (issue #17)."""
        return f"{self.prefix}e:{{{uscc}}}:h"

    def code(self, code: str) -> str:
        return f"{self.prefix}code:{normalise_code(code)}"

    @property
    def names(self) -> str:
        return self.names_in(0)

    def names_in(self, bucket: int) -> str:
        return f"{self._shared(bucket)}names"

    @property
    def codes(self) -> str:
        return self.codes_in(0)

    def codes_in(self, bucket: int) -> str:
        return f"{self._shared(bucket)}codes"

    def bigram(self, bigram: str, bucket: int = 0) -> str:
        return f"{self._shared(bucket)}bg:{bigram}"

    def enterprises_in(self, bucket: int) -> str:
        """The USCCs of a search bucket (a cluster only)."""
        return f"{self._shared(bucket)}all"

    def list(self, list_name: str, region_prefix: str | None = None) -> str:
        # On a cluster one tag per list: a record's list keys (every region) share a slot.
        tagged = f"{{list:{list_name}}}" if self.cluster else f"list:{list_name}"
        base = f"{self.prefix}{tagged}"
        if region_prefix:
            return f"{base}:r:{region_prefix}"
        return base

    def list_items(self, list_name: str, uscc: str) -> str:
        """An enterprise's items on a list, with versions (a cluster only: apply_list.lua)."""
        return f"{self.list(list_name)}:u:{uscc}"

    def lists_for(self, list_name: str, region_code: str | None) -> list[str]:
        """The list keys an enterprise of that region belongs in: all, then each prefix."""
        return [self.list(list_name)] + [
            self.list(list_name, p) for p in region_prefixes(region_code)
        ]

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"
