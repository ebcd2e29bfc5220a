"""The publicity index's search entries (codes, names, bigrams), each written once a process.

A name's entries — its `pub:names` member and its USCC in a set per character bigram, about
fifteen members — were written with every record, though almost every record repeats its
enterprise's name: that was a third of the commands Redis ran for the sink. The entries only
ever grow and are idempotent, so a process remembers which it has written and sends only new
ones: a name the first time this process sees it with that enterprise (a new enterprise, a
name change, a former name), a code the first time with that USCC.

What the process remembers is tied to the index's marker (sinks/publicity/index.py): an index
recreated empty has a new marker, and the batch that notices it writes all its entries again,
as do the batches after it (a replay rebuilds the rest). Search entries written a moment before
their profile are harmless: search verifies candidates against the profiles' names.
"""

from __future__ import annotations

from typing import Any

from schemas.records import EnrichedRecord
from sinks.publicity import profile
from sinks.publicity.keys import Keys, bigrams, normalise_code, normalise_name

# Entries remembered at most per kind (~150 bytes each); when full the memory starts afresh,
# and what it forgot is written once more (idempotent).
DEFAULT_LIMIT = 200_000


class WrittenTerms:
    """The search entries this process has written since the index's marker `marker`."""

    def __init__(self, marker: str | None = None, limit: int = DEFAULT_LIMIT) -> None:
        self.marker = marker
        self.limit = limit
        self.names: set[str] = set()  # pub:names members "<normalised name>\0<uscc>"
        self.codes: dict[str, str] = {}  # normalised code → the USCC last written for it

    def reset(self, marker: str | None) -> None:
        """Forget everything: the index was recreated (a new marker) or its state is unknown."""
        self.marker = marker
        self.names.clear()
        self.codes.clear()

    def remember(self, terms: BatchTerms) -> None:
        if len(self.names) + len(terms.names) > self.limit:
            self.names.clear()
        if len(self.codes) + len(terms.codes) > self.limit:
            self.codes.clear()
        self.names.update(terms.names)
        self.codes.update(terms.codes)


class BatchTerms:
    """The search entries of one batch, merged so each key is written once."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # normalised code → uscc
        self.names: dict[str, str] = {}  # pub:names member → normalised name

    def add(self, record: EnrichedRecord) -> None:
        uscc = record["uscc"]
        for code in profile.record_codes(record):
            self.codes[normalise_code(code)] = uscc
        name = normalise_name(profile.record_name(record))
        if name:
            self.names[f"{name}\0{uscc}"] = name

    def new(self, written: WrittenTerms) -> BatchTerms:
        """The entries `written` does not hold (a code counts as written only with the same
        USCC: the newest mapping of a code wins, as when every record wrote it)."""
        fresh = BatchTerms()
        fresh.codes = {c: u for c, u in self.codes.items() if written.codes.get(c) != u}
        fresh.names = {m: n for m, n in self.names.items() if m not in written.names}
        return fresh

    def queue(self, pipe: Any, keys: Keys) -> int:
        """Queue the entries' writes on `pipe`; the number of commands queued."""
        if keys.cluster:
            return self._queue_buckets(pipe, keys)
        queued = 0
        if self.codes:
            pipe.mset({keys.code(code): uscc for code, uscc in self.codes.items()})
            pipe.zadd(keys.codes, {f"{code}\0{uscc}": 0 for code, uscc in self.codes.items()})
            queued += 2
        if self.names:
            pipe.zadd(keys.names, dict.fromkeys(self.names, 0))
            queued += 1
            by_bigram: dict[str, set[str]] = {}
            for member, name in self.names.items():
                uscc = member.rpartition("\0")[2]
                for bigram in bigrams(name):
                    by_bigram.setdefault(bigram, set()).add(uscc)
            for bigram, usccs in by_bigram.items():
                pipe.sadd(keys.bigram(bigram), *usccs)
            queued += len(by_bigram)
        return queued

    def _queue_buckets(self, pipe: Any, keys: Keys) -> int:
        """The same entries on a Redis Cluster: every multi-key command within one search
        bucket (the USCC's), code keys one SET each (they hash anywhere), and each new USCC
        into its bucket's set of enterprises (the count)."""
        codes: dict[int, dict[str, float]] = {}
        enterprises: dict[int, set[str]] = {}
        for code, uscc in self.codes.items():
            pipe.set(keys.code(code), uscc)
            bucket = keys.bucket(uscc)
            codes.setdefault(bucket, {})[f"{code}\0{uscc}"] = 0
            enterprises.setdefault(bucket, set()).add(uscc)
        queued = len(self.codes)
        names: dict[int, dict[str, float]] = {}
        by_bigram: dict[tuple[int, str], set[str]] = {}
        for member, name in self.names.items():
            uscc = member.rpartition("\0")[2]
            bucket = keys.bucket(uscc)
            names.setdefault(bucket, {})[member] = 0
            for bigram in bigrams(name):
                by_bigram.setdefault((bucket, bigram), set()).add(uscc)
        for bucket, members in codes.items():
            pipe.zadd(keys.codes_in(bucket), members)
        for bucket, usccs in enterprises.items():
            pipe.sadd(keys.enterprises_in(bucket), *usccs)
        for bucket, members in names.items():
            pipe.zadd(keys.names_in(bucket), members)
        for (bucket, bigram), usccs in by_bigram.items():
            pipe.sadd(keys.bigram(bigram, bucket), *usccs)
        return queued + len(codes) + len(enterprises) + len(names) + len(by_bigram)
