"""Personal data at the edge: ID numbers encrypted before they enter Kafka, none in free text.

Every adapter's record passes here (producers.events.build_intake_event, and the rejection
records of producers.publisher), so nothing a department sends reaches a topic with an ID
number in clear: the restriction's 证件号码 is sealed (schemas.pii_crypto), a full resident ID
number anywhere else refuses the record, and a refused record's cells are kept with the ID
number sealed and any other one masked (DOMAIN.md "Privacy").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from producers.templates import SUBJECT_CODE_FIELDS, SUBJECT_NAME
from schemas.categories import CATEGORY_SPECS
from schemas.identifiers import InvalidCode, identify_code
from schemas.personal_ids import contains_resident_id, mask_resident_ids
from schemas.pii_crypto import PiiKeyring, decrypt_personal_id, encrypt_personal_id

ID_NUMBER_FIELD = "id_document_number"
# The field under its template (Chinese) header too: a spreadsheet's refused row keeps those.
ID_NUMBER_NAMES = frozenset(
    {ID_NUMBER_FIELD}
    | {
        f.chinese
        for spec in CATEGORY_SPECS.values()
        for f in spec.fields
        if f.name == ID_NUMBER_FIELD
    }
)
_CODE_FIELDS = frozenset(
    {f.name for spec in CATEGORY_SPECS.values() for f in spec.fields if f.kind == "code"}
    | set(SUBJECT_CODE_FIELDS)
)
ID_IN_TEXT = (
    "contains a full resident ID number; ID numbers may be sent only in 证件号码 "
    "(id_document_number) or masked (640422********1234)"
)


def clear_id_number(value: Any, keyring: PiiKeyring | None = None) -> Any:
    """The number as sent: a re-driven record's envelope is opened, so its event id is the
    one the clear number gives."""
    return decrypt_personal_id(value, keyring) if isinstance(value, str) else value


def seal_id_number(payload: dict[str, Any], keyring: PiiKeyring | None = None) -> None:
    """Encrypt the payload's ID number in place (an envelope already stays as it is)."""
    number = payload.get(ID_NUMBER_FIELD)
    if isinstance(number, str) and number:
        payload[ID_NUMBER_FIELD] = encrypt_personal_id(number, keyring)


def _texts(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(name, item)


def fields_with_id_numbers(payload: Mapping[str, Any], subject_name: Any = None) -> list[str]:
    """The free-text fields (not codes, not the ID number field) holding a full resident ID
    number in any written form; one joined scan first, as most records hold none."""
    texts = [
        pair
        for name, value in payload.items()
        if name != ID_NUMBER_FIELD and name not in _CODE_FIELDS
        for pair in _texts(name, value)
    ]
    texts += list(_texts(SUBJECT_NAME, subject_name))
    if not contains_resident_id("\n".join(text for _, text in texts)):
        return []
    return list(dict.fromkeys(name for name, text in texts if contains_resident_id(text)))


def _is_enterprise_code(text: str) -> bool:
    try:
        identify_code(text)
    except InvalidCode:
        return False
    return True


def protected_fields(
    fields: Mapping[str, Any], keyring: PiiKeyring | None = None
) -> dict[str, Any]:
    """A refused record's fields as they may be kept on credit.rejected: the ID number
    sealed, any full ID number elsewhere masked (an enterprise code that happens to pass an
    ID number's checks is left as it is)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in ID_NUMBER_NAMES and isinstance(value, str | int) and str(value).strip():
            out[name] = encrypt_personal_id(str(value), keyring)
        elif isinstance(value, str) and contains_resident_id(value):
            out[name] = value if _is_enterprise_code(value) else mask_resident_ids(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
            out[name] = mask_resident_ids(text) if contains_resident_id(text) else value
        elif isinstance(value, list):
            out[name] = [mask_resident_ids(v) if isinstance(v, str) else v for v in value]
        else:
            out[name] = value
    return out
