"""Ranking search matches: exact > prefix > substring, current name before former (pure).

The index finds candidates; this decides the order users see, so it is tested on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sinks.publicity.keys import normalise_name

MatchKind = Literal["code", "exact", "prefix", "substring"]
_TIER: dict[MatchKind, int] = {"code": 0, "exact": 1, "prefix": 2, "substring": 3}


@dataclass(frozen=True, slots=True)
class NameMatch:
    uscc: str
    match: MatchKind
    matched_name: str
    former: bool  # matched a former name, not the current one

    def sort_key(self) -> tuple[int, bool, int, str, str]:
        # Shorter names first within a tier: 「西吉县商贸」 is a closer match to 「商贸」
        # than a long branch-office name that merely contains it.
        return (_TIER[self.match], self.former, len(self.matched_name), self.matched_name,
                self.uscc)  # fmt: skip


def match_kind(query: str, name: str) -> MatchKind | None:
    """How a normalised query matches one name, if it does."""
    normalised = normalise_name(name)
    if normalised == query:
        return "exact"
    if normalised.startswith(query):
        return "prefix"
    if query in normalised:
        return "substring"
    return None


def best_match(query: str, uscc: str, current: str, former: Iterable[str]) -> NameMatch | None:
    """The best way an enterprise's names match the query; None if none does (a bigram
    candidate whose name does not really contain the query)."""
    found: list[NameMatch] = []
    for name, is_former in [(current, False), *((f, True) for f in former if f != current)]:
        if not name:
            continue
        kind = match_kind(query, name)
        if kind is not None:
            found.append(NameMatch(uscc, kind, name, is_former))
    return min(found, key=NameMatch.sort_key) if found else None


def rank(
    query: str,
    names: Mapping[str, tuple[str, Iterable[str]]],
    limit: int,
    code_matches: Iterable[str] = (),
) -> list[NameMatch]:
    """The `limit` best matches: code matches first, then names by tier.

    `names` maps each candidate USCC to (current name, former names); `query` is normalised."""
    best: dict[str, NameMatch] = {}
    for uscc in code_matches:
        current = names.get(uscc, ("", ()))[0]
        best[uscc] = NameMatch(uscc, "code", current, False)
    for uscc, (current, former) in names.items():
        if uscc in best:
            continue
        match = best_match(query, uscc, current, former)
        if match is not None:
            best[uscc] = match
    return sorted(best.values(), key=NameMatch.sort_key)[:limit]
