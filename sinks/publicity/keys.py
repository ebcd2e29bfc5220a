"""Redis key names and the text normalisation the publicity index is built on (pure).

Layout (prefix `pub:` by default; `{uscc}` is a Redis Cluster hash tag, so one enterprise's
keys share a slot and the per-item Lua script touches one slot plus the global lists):

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
"""

from __future__ import annotations

import re
import unicodedata
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
    """Every key name of one index; the prefix lets tests and deployments share a server."""

    prefix: str = "pub:"

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
        return f"{self.prefix}names"

    @property
    def codes(self) -> str:
        return f"{self.prefix}codes"

    def bigram(self, bigram: str) -> str:
        return f"{self.prefix}bg:{bigram}"

    def list(self, list_name: str, region_prefix: str | None = None) -> str:
        if region_prefix:
            return f"{self.prefix}list:{list_name}:r:{region_prefix}"
        return f"{self.prefix}list:{list_name}"

    def lists_for(self, list_name: str, region_code: str | None) -> list[str]:
        """The list keys an enterprise of that region belongs in: all, then each prefix."""
        return [self.list(list_name)] + [
            self.list(list_name, p) for p in region_prefixes(region_code)
        ]

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"
