"""Personal data in published records: ID numbers masked for the public, keyed hashes for analytics.

DOMAIN.md "Privacy": ID numbers are never shown in full (640422********1234), and analytics
keeps an HMAC of the number, never the number; the raw number never leaves streams/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from schemas.identifiers import normalise_code
from streams.errors import PrivacyError

MASK = "*"
ID_NUMBER_FIELD = "id_document_number"
MASKED_FIELD = "id_document_number_masked"
HASH_FIELD = "id_document_number_hash"

# Candidate resident IDs anywhere in a text, overlapping (the lookahead consumes nothing),
# so a number glued to other digits is still found.
_RESIDENT_ID_CANDIDATE = re.compile(r"(?=([0-9]{17}[0-9Xx]))")


def mask_resident_id(number: str) -> str:
    """The number as the public may see it: 18- and 15-digit resident IDs keep the first 6
    (the division) and the last 4 characters; other document numbers (passports, permits)
    keep at most the last 4, and never more than a third of the number."""
    code = normalise_code(number)
    if len(code) in (18, 15) and code[:6].isdigit():
        return code[:6] + MASK * (len(code) - 10) + code[-4:]
    keep = min(4, len(code) // 3)
    return MASK * (len(code) - keep) + code[len(code) - keep :]


def hash_personal_id(number: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised number: the same person hashes the same whether
    the department wrote 640422…123x, full-width digits or spaces."""
    if not key:
        raise PrivacyError("the PII hash key is empty; set CREDITSYNC_PII_HASH_KEY")
    return hmac.new(key, normalise_code(number).encode("utf-8"), hashlib.sha256).hexdigest()


def published_payload(category: str, payload: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The payload as it may leave streams/: for a restriction the ID number is replaced by
    its mask and keyed hash (both None when no number was sent); other categories carry no
    ID number field and are returned as they are (copied)."""
    published = dict(payload)
    if category != "restriction":
        return published
    number = published.pop(ID_NUMBER_FIELD, None)
    has_number = isinstance(number, str) and number.strip() != ""
    published[MASKED_FIELD] = mask_resident_id(number) if has_number else None
    published[HASH_FIELD] = hash_personal_id(number, key) if has_number else None
    return published


# A living person's birth year: no resident ID holder was born before this. Without the
# bound, digit runs that are no ID at all pass the check digit and a calendar date — the
# hex of an event id's ASCII (the version string) gave "333646639306236306", born 6393.
EARLIEST_BIRTH_YEAR = 1900


def _is_resident_id(candidate: str) -> bool:
    # Check digit and a plausible birth date only: stdnum's is_valid() also wants the
    # division to have existed in the birth year, and a leak scanner must not miss a number
    # over that.
    if ric.calc_check_digit(candidate) != candidate[-1].upper():
        return False
    try:
        born = ric.get_birth_date(candidate)
    except ValidationError:
        return False
    return born.year >= EARLIEST_BIRTH_YEAR and born <= dt.date.today()


def contains_resident_id(text: str) -> bool:
    """Whether any 18 consecutive characters of `text` form a resident ID number with a valid
    check digit and birth date (GB 11643) — the leak detector for published data."""
    return any(_is_resident_id(match.group(1)) for match in _RESIDENT_ID_CANDIDATE.finditer(text))
