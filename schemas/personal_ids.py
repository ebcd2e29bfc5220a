"""Finding and masking resident ID numbers in any text, in every way people write them.

The one detector and masker of the system (DOMAIN.md "Privacy": ID numbers never in full):
the intake leak scan, the HTTP response guard, rejection reasons, ClickHouse columns, logs and
the CLI all use it. Found: the 18-character number (GB 11643: ISO 7064 MOD 11-2 check
character, a birth date from 1900 to today), Hong Kong, Macao and Taiwan residence permits
(810000/820000/830000, same check) and the 15-digit legacy number (a valid yyMMdd birth
date); written in full-width or other Unicode decimal digits (NFKC), with x or X, with zero
width characters anywhere inside, and with its groups separated by spaces, hyphens or dots
(640422 19900307 123X, 640422-1990-0307-123X). Every number starts with a province code.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MASK = "*"

# A living person's birth year: no resident ID holder was born before this. Without the
# bound, digit runs that are no ID at all pass the check digit and a calendar date — the
# hex of an event id's ASCII (the version string) gave "333646639306236306", born 6393.
EARLIEST_BIRTH_YEAR = 1900

# The legacy number was issued 1984-2004; nobody born 1900-1909 is still alive to hold one,
# while registration numbers whose sequence starts 00-09 are many (0001 …).
EARLIEST_BIRTH_YEAR_15 = 1910

# GB 2260 province-level codes, and 71 (Taiwan), 81/82/83 (Hong Kong, Macao and Taiwan
# residents' residence permits, 810000/820000/830000).
PROVINCES = frozenset(
    {*map(str, (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))), "71"}
    | {*map(str, (*range(50, 55), *range(61, 66), 81, 82, 83))}
)

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Between the groups of a number: spaces (also ideographic), hyphens and dashes, dots.
SEPARATORS = " \u00a0\u3000\t-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d.\uff0e\u00b7\u30fb"
# The cheap pre-filter, one regex without nesting: 15 or more Unicode decimal digits, X and
# separator or zero-width characters in a row, starting with a digit. Only such a run, and
# only when 15 of its characters are digits or X, goes on to the exact (per character) check;
# most texts have no such run at all.
_RUN = re.compile("\\d[\\dXx\uff38\uff58" + re.escape(SEPARATORS + ZERO_WIDTH) + "]{14,}")
_MIN_LENGTH = 15
_DROP_GAPS = str.maketrans("", "", SEPARATORS + ZERO_WIDTH)
# More separator characters than this in a row end a number.
_MAX_GAP = 3

# Where a written number may have a gap between its characters (after this many of them):
# its groups, 6-8-4 or 6-4-4-4 and the like. A gap anywhere else ends the number, so lists of
# amounts or dates never join into one. Numbers without gaps may be glued to other digits
# (18 characters), but a 15-digit one must stand alone: registration numbers, amounts and
# timestamps of 15 digits and more are everywhere, and the legacy number has no check digit.
_GAPS_18 = frozenset({3, 6, 10, 12, 14, 17})
_GAPS_15 = frozenset({3, 6, 8, 10, 12})

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
# ISO 7064 MOD 11-2 (GB 11643): 12 - sum mod 11, with 10 written X.
_CHECK = "10X98765432"
# GS15-2006's ISO 7064 MOD 11,10 check digit: a contiguous 15-digit number that carries it is
# an enterprise registration number (1 in 10 legacy ID numbers pass it too; those are left).


def check_character(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=False))
    return _CHECK[total % 11]


def _registration_check_ok(code: str) -> bool:
    check = 5
    for c in code[:14]:
        check = (((check or 10) * 2) % 11 + int(c)) % 10
    return (((check or 10) * 2) % 11 + int(code[14])) % 10 == 1


def _plausible_birth(year: int, month: int, day: int) -> bool:
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return False
    return year >= EARLIEST_BIRTH_YEAR and born <= dt.date.today()


def is_resident_id_18(code: str) -> bool:
    """Whether 18 characters (digits, last may be X) form a resident ID number or residence
    permit: province code, plausible birth date, check character."""
    if len(code) != 18 or not code[:17].isascii() or not code[:17].isdigit():
        return False
    if code[:2] not in PROVINCES:
        return False
    if not _plausible_birth(int(code[6:10]), int(code[10:12]), int(code[12:14])):
        return False
    return check_character(code[:17]) == code[17].upper()


def is_resident_id_15(code: str) -> bool:
    """Whether 15 digits form a legacy resident ID number: province code, yyMMdd date (19yy)."""
    if len(code) != 15 or not code.isascii() or not code.isdigit():
        return False
    year = 1900 + int(code[6:8])
    return (
        code[:2] in PROVINCES
        and year >= EARLIEST_BIRTH_YEAR_15
        and _plausible_birth(year, int(code[8:10]), int(code[10:12]))
    )


@dataclass(frozen=True, slots=True)
class FoundId:
    """One resident ID number in a text: where it is (as written) and what it is."""

    start: int
    end: int
    number: str  # normalised: ASCII digits, upper-case X, no separators

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


# Separators seen in agency data: spaces of every width, ASCII and Unicode hyphens and dashes.
_CODE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc\uff0d]+")


def normalise_code(raw: str) -> str:
    """Full-width to half-width (NFKC), spaces and hyphens/dashes removed, upper-case.

    The normal form of every code (schemas.identifiers) and of ID document numbers; here, at
    the bottom layer, so the masker below and the identifier parsers share it."""
    if raw.isascii() and raw.isalnum():
        return raw.upper()  # the common case, unchanged by NFKC and the separators
    return _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()


def mask_id_number(number: str) -> str:
    """An ID document number as the public may see it — the one masker of a number on its
    own (mask_resident_ids masks the numbers inside a text). 18- and 15-character resident
    IDs keep the first 6 (the division) and the last 4 characters, 640422********1234 and
    640422*****1234; other document numbers (passports, permits) and malformed values keep
    at most the last 4, and never more than a third of the number."""
    code = normalise_code(number)
    if len(code) in (18, 15) and code[:6].isdigit():
        return code[:6] + MASK * (len(code) - 10) + code[-4:]
    keep = min(4, len(code) // 3)
    return MASK * (len(code) - keep) + code[len(code) - keep :]


@lru_cache(maxsize=4096)
def _normal_char(ch: str) -> str:
    """The ASCII digit or X a character stands for (NFKC), else ''."""
    norm = unicodedata.normalize("NFKC", ch).upper()
    return norm if len(norm) == 1 and norm in "0123456789X" else ""


def _segment_ids(chars: list[str], gaps: list[bool]) -> list[tuple[int, int]]:
    """(first, last) character indexes of every number in one run's characters. gaps[i]:
    separators stood before character i."""
    found: list[tuple[int, int]] = []
    n = len(chars)
    text = "".join(chars)
    for i in range(n - _MIN_LENGTH + 1):
        # The 18-character form: glued to digits when written without gaps.
        if i + 18 <= n and "X" not in text[i : i + 17]:
            inner = [k - i for k in range(i + 1, i + 18) if gaps[k]]
            if (
                not inner or (_GAPS_18.issuperset(inner) and _stands_alone(gaps, i, i + 18, n))
            ) and is_resident_id_18(text[i : i + 18]):
                found.append((i, i + 18))
                continue
        if i + 15 <= n and _stands_alone(gaps, i, i + 15, n):
            inner = [k - i for k in range(i + 1, i + 15) if gaps[k]]
            code = text[i : i + 15]
            if (
                _GAPS_15.issuperset(inner)
                and is_resident_id_15(code)
                and (inner or not _registration_check_ok(code))
            ):
                found.append((i, i + 15))
    return found


def _stands_alone(gaps: list[bool], first: int, end: int, n: int) -> bool:
    return (first == 0 or gaps[first]) and (end == n or gaps[end])


def find_resident_ids(text: str) -> list[FoundId]:
    """Every resident ID number in `text`, in order, with its span as written (separators
    and zero-width characters inside included). Overlapping finds are merged into one span
    (its `number` is the first one's)."""
    if len(text) < _MIN_LENGTH:
        return []
    out: list[FoundId] = []
    for run in _RUN.finditer(text):
        if len(run.group().translate(_DROP_GAPS)) < _MIN_LENGTH:
            continue
        out += _run_ids(text, run.start(), run.end())
    return out


def _run_ids(text: str, start: int, end: int) -> list[FoundId]:
    out: list[FoundId] = []
    chars: list[str] = []
    pos: list[int] = []
    gaps: list[bool] = []
    gap = 0

    def flush() -> None:
        if len(chars) >= _MIN_LENGTH:
            spans = _segment_ids(chars, gaps)
            for a, b in spans:
                first, last = pos[a], pos[b - 1] + 1
                if out and first < out[-1].end:  # overlapping finds: one span
                    prev = out[-1]
                    out[-1] = FoundId(prev.start, max(prev.end, last), prev.number)
                else:
                    out.append(FoundId(first, last, "".join(chars[a:b])))
        chars.clear()
        pos.clear()
        gaps.clear()

    for i in range(start, end):
        ch = text[i]
        if ch in ZERO_WIDTH:
            continue
        if ch in SEPARATORS:
            gap += 1
            continue
        norm = _normal_char(ch)
        # A digit NFKC does not make ASCII (e.g. Arabic-Indic), or a long gap: a new number.
        if not norm or gap > _MAX_GAP:
            flush()
        if norm:
            chars.append(norm)
            pos.append(i)
            gaps.append(gap > 0)
        gap = 0
    flush()
    return out


def contains_resident_id(text: str) -> bool:
    """Whether `text` holds a resident ID number in any written form (the leak detector)."""
    return bool(find_resident_ids(text))


def mask_resident_ids(text: str) -> str:
    """`text` with every resident ID number replaced, span as written, by its masked form
    (640422********1234); the surrounding text unchanged, the same object when clean."""
    for _ in range(4):
        found = find_resident_ids(text)
        if not found:
            return text
        parts: list[str] = []
        at = 0
        for item in found:
            parts += [text[at : item.start], _masked_span(text, item)]
            at = item.end
        parts.append(text[at:])
        text = "".join(parts)
    return text


def _masked_span(text: str, item: FoundId) -> str:
    # Merged (overlapping) finds cover more characters than one number: every digit of the
    # span but the first 6 and the last 4 is masked.
    digits = [c for c in (_normal_char(ch) for ch in text[item.start : item.end]) if c]
    if len(digits) == len(item.number):
        return item.masked
    return "".join(digits[:6]) + MASK * (len(digits) - 10) + "".join(digits[-4:])


def mask_text(value: object) -> str:
    """str(value) with resident ID numbers masked: for messages and reasons built from data."""
    return mask_resident_ids(value if isinstance(value, str) else str(value))
