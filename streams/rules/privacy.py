"""Personal data in published records: ID numbers masked for the public, keyed hashes for analytics.

DOMAIN.md "Privacy": ID numbers are never shown in full (640422********1234), and analytics
keeps an HMAC of the number, never the number; the raw number never leaves streams/.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from schemas.categories import PERSONAL_ID_CATEGORIES
from schemas.identifiers import normalise_code
from schemas.personal_ids import (
    EARLIEST_BIRTH_YEAR,
    contains_resident_id,
    find_resident_ids,
    mask_id_number,
    mask_resident_ids,
)
from schemas.pii_crypto import PiiKeyError, PiiKeyring, decrypt_personal_id
from streams.errors import PrivacyError

ID_NUMBER_FIELD = "id_document_number"
MASKED_FIELD = "id_document_number_masked"
HASH_FIELD = "id_document_number_hash"

# The detector and masker live in schemas.personal_ids (one for every package); re-exported.
__all__ = [
    "EARLIEST_BIRTH_YEAR",
    "contains_resident_id",
    "find_resident_ids",
    "hash_personal_id",
    "mask_id_number",
    "mask_resident_ids",
    "published_payload",
]


def hash_personal_id(number: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised number: the same person hashes the same whether
    the department wrote 640422…123x, full-width digits or spaces."""
    if not key:
        raise PrivacyError("the PII hash key is empty; set CREDITSYNC_PII_HASH_KEY")
    return hmac.new(key, normalise_code(number).encode("utf-8"), hashlib.sha256).hexdigest()


def published_payload(
    category: str,
    payload: Mapping[str, Any],
    key: bytes,
    keyring: PiiKeyring | None = None,
) -> dict[str, Any]:
    """The payload as it may leave streams/: in a category with a personal ID field (a
    restriction's 证件号码, a pledgor's or judgment debtor's 证照号码: PERSONAL_ID_CATEGORIES)
    the ID number is replaced by its mask and keyed hash (both None when no number was sent);
    other categories carry no ID number field and are returned as they are (copied).

    The producers send the number encrypted (schemas.pii_crypto); this is where it is opened,
    with `keyring` or the process's. A clear number (sent before encryption) is taken as is."""
    published = dict(payload)
    if category not in PERSONAL_ID_CATEGORIES:
        return published
    number = published.pop(ID_NUMBER_FIELD, None)
    if isinstance(number, str):
        try:
            number = decrypt_personal_id(number, keyring)
        except PiiKeyError as exc:
            raise PrivacyError(f"{ID_NUMBER_FIELD}: {exc}") from exc
    has_number = isinstance(number, str) and number.strip() != ""
    published[MASKED_FIELD] = mask_id_number(number) if has_number else None
    published[HASH_FIELD] = hash_personal_id(number, key) if has_number else None
    return published
