"""Parsing and checking the codes that tie a record to an enterprise (DOMAIN.md "Identifiers").

USCC (GB 32100-2015), organisation code (GB 11714), 15-digit registration number (GS15-2006)
and resident ID (GB 11643). Check digits come from python-stdnum where it has them; GB 11714
is not in stdnum, so its check is written here. Every failure is an `InvalidCode` naming the
kind that was expected and exactly what is wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from stdnum import numdb
from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError as _StdnumValidationError
from stdnum.iso7064 import mod_11_10 as _mod_11_10

from schemas.errors import SchemaError
from schemas.personal_ids import (
    is_resident_id_15,
    is_resident_id_18,
    mask_id_number,
    mask_resident_ids,
    mask_text,
    normalise_code,
)

CodeKind = Literal["uscc", "registration_number", "organisation_code"]

KIND_NAMES: dict[str, str] = {
    "uscc": "统一社会信用代码",
    "registration_number": "注册号",
    "organisation_code": "组织机构代码",
    "resident_id": "居民身份证号码",
    "subject_code": "统一社会信用代码（企业注册号）",
}

# GB 32100-2015: the USCC alphabet leaves out I, O, S, V and Z (confusable with 1, 0, 5, U, 2).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 11714: body characters are digits and upper-case letters; the check is a digit or X.
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# GB 32100-2015 table 1 (registration authority) and table 2 (entity type per authority).
# Authority 9 was 工商; since the 2018 reform the registrar is 市场监管, so both are named.
# A (军队) and N (农业农村) were added by later amendments to the standard.
USCC_AUTHORITIES: dict[str, str] = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "市场监管（工商）",
    "A": "中央军委改革和编制办公室",
    "N": "农业农村",
    "Y": "其他",
}
USCC_ENTITY_TYPES: dict[str, dict[str, str]] = {
    "1": {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    "2": {"1": "外国常驻新闻机构", "9": "其他"},
    "3": {
        "1": "律师执业机构",
        "2": "公证处",
        "3": "基层法律服务所",
        "4": "司法鉴定机构",
        "5": "仲裁委员会",
        "9": "其他",
    },
    "4": {"1": "外国在华文化中心", "9": "其他"},
    "5": {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"},
    "6": {
        "1": "外国旅游部门常驻代表机构",
        "2": "港澳台地区旅游部门常驻内地（大陆）代表机构",
        "9": "其他",
    },
    "7": {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"},
    "8": {"1": "基层工会", "9": "其他"},
    "9": {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"},
    "A": {"1": "军队事业单位", "9": "其他"},
    "N": {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    "Y": {"1": "其他"},
}

UNLISTED_ENTITY_TYPE = "未列明类型"

class InvalidCode(SchemaError, ValueError):
    """A code that is not a valid identifier of the expected kind, and why."""

    def __init__(self, kind: str, value: str, reason: str, *, personal_data: bool = False) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        self.personal_data = personal_data or kind == "resident_id"
        super().__init__(str(self))

    def __str__(self) -> str:
        # A resident ID is personal data (DOMAIN.md "Privacy"): error messages end up in
        # logs and on credit.rejected, so they show it masked like the public view does —
        # also one in any other written form inside a value of another kind.
        shown = mask_id_number(self.value) if self.personal_data else mask_text(self.value)
        name = KIND_NAMES.get(self.kind, self.kind)
        return mask_resident_ids(f"{shown!r} is not a valid {self.kind} ({name}): {self.reason}")


# Cached by the normalised code, never the raw input: " 9164…", "9164 …" and a 16 MiB cell
# padded around one code would each pin an entry (and the cell) in a cache keyed by input.
# Only valid codes are cached (lru_cache keeps no exceptions), so a key is at most 18
# characters and the caches hold at most CODE_CACHE_SIZE × ~0.5 KB.
CODE_CACHE_SIZE = 65_536


def _as_raw(exc: InvalidCode, raw: str) -> InvalidCode:
    """The same refusal, naming the value as it was given (not as normalised)."""
    return InvalidCode(exc.kind, raw, exc.reason, personal_data=exc.personal_data)


@dataclass(frozen=True)
class Uscc:
    """A parsed USCC with the parts GB 32100-2015 gives it."""

    code: str
    authority: str
    authority_name: str
    entity_type_code: str
    entity_type_name: str
    region_code: str
    organisation_code: str

    @property
    def organisation_code_valid(self) -> bool:
        """Whether chars 9-17 carry a correct GB 11714 check character."""
        return _org_check_char(self.organisation_code[:8]) == self.organisation_code[8]


def _bad_char(kind: str, raw: str, code: str, allowed: str, what: str, start: int = 0) -> None:
    for i, ch in enumerate(code[start:], start=start + 1):
        if ch not in allowed:
            raise InvalidCode(kind, raw, f"character {ch!r} at position {i} is not {what}")


def _expect_length(kind: str, raw: str, code: str, length: int) -> None:
    if len(code) != length:
        raise InvalidCode(kind, raw, f"length {len(code)}, expected {length} characters")


def parse_uscc(raw: str) -> Uscc:
    """Check an 18-character USCC and split it into its parts."""
    code = normalise_code(raw)
    _expect_length("uscc", raw, code, 18)
    try:
        return _parse_uscc(code)
    except InvalidCode as exc:
        raise _as_raw(exc, raw) from None


# Cached: the same enterprises' codes recur on every record about them, and parsing is a
# measurable share of the intake stage (the results are immutable).
@lru_cache(maxsize=CODE_CACHE_SIZE)
def _parse_uscc(code: str) -> Uscc:
    raw = code
    _bad_char("uscc", raw, code, USCC_ALPHABET, "allowed in a USCC (0-9, A-Z without I O S V Z)")
    # stdnum's validate() wants chars 1-8 to be digits, which rejects the real authority
    # codes A, N and Y; its check-digit function is right for every authority, so use that.
    _bad_char("uscc", raw, code[:8], "0123456789", "a digit (region code)", start=2)
    authority, entity_type = code[0], code[1]
    if authority not in USCC_AUTHORITIES:
        raise InvalidCode(
            "uscc", raw, f"registration authority {authority!r} at position 1 is not in GB 32100"
        )
    # The entity-type tables are the part of GB 32100 amended most often (司法行政 and 农业
    # types were added later), so a well-formed code with a type not listed here is kept,
    # named as unlisted, rather than rejected: the department cannot "correct" a real code.
    entity_type_name = USCC_ENTITY_TYPES[authority].get(entity_type, UNLISTED_ENTITY_TYPE)
    expected = _uscc.calc_check_digit(code[:17])
    if code[17] != expected:
        raise InvalidCode("uscc", raw, f"check character expected {expected!r}, got {code[17]!r}")
    return Uscc(
        code=code,
        authority=authority,
        authority_name=USCC_AUTHORITIES[authority],
        entity_type_code=entity_type,
        entity_type_name=entity_type_name,
        region_code=code[2:8],
        organisation_code=code[8:17],
    )


def _org_check_char(body8: str) -> str:
    total = sum(
        _ORG_BODY_ALPHABET.index(c) * w for c, w in zip(body8, ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def parse_organisation_code(raw: str) -> str:
    """Check a GB 11714 organisation code; return its 9 characters without the hyphen."""
    code = normalise_code(raw)
    _expect_length("organisation_code", raw, code, 9)
    _bad_char("organisation_code", raw, code[:8], _ORG_BODY_ALPHABET, "a digit or letter A-Z")
    expected = _org_check_char(code[:8])
    if code[8] != expected:
        raise InvalidCode(
            "organisation_code", raw, f"check character expected {expected!r}, got {code[8]!r}"
        )
    return code


def format_organisation_code(code: str) -> str:
    """The usual written form of an organisation code: XXXXXXXX-X."""
    code = normalise_code(code)
    return f"{code[:8]}-{code[8:]}"


def parse_registration_number(raw: str) -> str:
    """Check a 15-digit registration number (ISO 7064 MOD 11,10 check digit)."""
    code = normalise_code(raw)
    _expect_length("registration_number", raw, code, 15)
    _bad_char("registration_number", raw, code, "0123456789", "a digit")
    expected = _mod_11_10.calc_check_digit(code[:14])
    if code[14] != expected:
        raise InvalidCode(
            "registration_number", raw, f"check digit expected {expected!r}, got {code[14]!r}"
        )
    return code


def parse_resident_id(raw: str) -> str:
    """Check an 18-character resident ID number (GB 11643): check digit, birth date, region."""
    code = normalise_code(raw)
    _expect_length("resident_id", raw, code, 18)
    _bad_char("resident_id", raw, code[:17], "0123456789", "a digit")
    _bad_char("resident_id", raw, code, "0123456789X", "a digit or X", start=17)
    expected = _ric.calc_check_digit(code)
    if code[17] != expected:
        raise InvalidCode(
            "resident_id", raw, f"check digit expected {expected!r}, got {code[17]!r}"
        )
    try:
        _ric.get_birth_date(code)
    except _StdnumValidationError:
        raise InvalidCode(
            "resident_id", raw, f"birth date {code[6:14]} (positions 7-14) is not a calendar date"
        ) from None
    # Only "was ever a division code": stdnum's get_birth_place() also wants the division
    # to have existed in the birth year, but IDs take the code of the place of first issue,
    # which can be years later (a 1980 birth in 西吉县 may well carry 640422, valid from 2001).
    if not any("county" in props for _, props in numdb.get("cn/loc").info(code[:6])):
        raise InvalidCode(
            "resident_id", raw, f"region {code[:6]} (positions 1-6) is not a known division code"
        )
    return code


def _is_resident_id(code: str) -> bool:
    try:
        parse_resident_id(code)
    except InvalidCode:
        return False
    return True


def identify_code(raw: str) -> tuple[CodeKind, str]:
    """Tell which kind of subject code this is by its shape, check it, return it normalised."""
    code = normalise_code(raw)
    if len(code) not in (18, 15, 9):
        raise InvalidCode(
            "subject_code",
            raw,
            f"length {len(code)} fits no code: expected 18 characters (USCC), "
            "15 digits (registration number) or 9 characters (organisation code)",
        )
    try:
        return _identify_code(code)
    except InvalidCode as exc:
        raise _as_raw(exc, raw) from None


@lru_cache(maxsize=CODE_CACHE_SIZE)
def _identify_code(code: str) -> tuple[CodeKind, str]:
    raw = code
    if len(code) == 18:
        try:
            return "uscc", parse_uscc(raw).code
        except InvalidCode as exc:
            if not _is_resident_id(code) and not is_resident_id_18(code):
                raise
            # A person's ID number in the subject column is a common template mistake;
            # say so, without repeating the number (it is personal data).
            raise InvalidCode(
                "uscc",
                raw,
                "this is a resident ID number (居民身份证号码), not an enterprise code",
                personal_data=True,
            ) from exc
    if len(code) == 15:
        try:
            return "registration_number", parse_registration_number(raw)
        except InvalidCode as exc:
            if not is_resident_id_15(code):
                raise
            # Shaped like a legacy ID number too: the reason stays (it may be a mistyped
            # registration number), the value is shown masked.
            raise InvalidCode(
                "registration_number",
                raw,
                f"{exc.reason}; if it is a 15-digit resident ID number (居民身份证号码), that is "
                "not an enterprise code",
                personal_data=True,
            ) from exc
    return "organisation_code", parse_organisation_code(raw)


# --- builders for tests and the demo feed ----------------------------------------------


def make_uscc(authority: str, entity_type: str, region_code: str, org_code_body8: str) -> str:
    """A valid USCC from its parts, with both check characters computed."""
    body = org_code_body8.upper()
    org_code = body + _org_check_char(body)
    head = f"{authority}{entity_type}{region_code}{org_code}"
    return parse_uscc(head + _uscc.calc_check_digit(head)).code


def make_registration_number(region6: str, seq8: str) -> str:
    """A valid 15-digit registration number from region and sequence."""
    head = f"{region6}{seq8}"
    return parse_registration_number(head + _mod_11_10.calc_check_digit(head))


def make_resident_id(region6: str, birth: dt.date, seq3: str) -> str:
    """A valid resident ID number (for tests and synthetic data only)."""
    head = f"{region6}{birth:%Y%m%d}{seq3}"
    # stdnum's calc_check_digit reads the first 17 characters of an 18-character number.
    return parse_resident_id(head + _ric.calc_check_digit(head + "0"))
