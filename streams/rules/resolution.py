"""Resolving the subject a department sent to the enterprise's USCC (DOMAIN.md "Identifiers").

Every record is attached to an enterprise (「涉企信用信息归于企业名下」). Priority:

1. A valid USCC resolves to itself. Legacy codes sent beside it are checked: an organisation
   code other than the one the USCC embeds, or a legacy code the registry maps to another
   USCC, is reported as a conflict — the record still goes to the USCC the department named.
2. Else an organisation code, through the registry (it is embedded in the USCC, so it is the
   stronger link of the two legacy codes).
3. Else a registration number, through the registry (新旧码映射).
4. A legacy code the registry does not know yet: the record is parked under the code until a
   registration maps it (the organisation code's key when both were sent and neither is
   known: registrations report both at once).
5. No code, or a code that fails its check: invalid, to credit.rejected with the reason.

The template column 「统一社会信用代码（企业注册号）」 holds either kind, so a code is taken for
what its shape and check say it is, not for the field it came in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.identifiers import InvalidCode, identify_code, parse_uscc
from schemas.personal_ids import mask_id_number
from schemas.records import SubjectAsSent
from streams.rules.registry import (
    CodeConflict,
    LegacyKind,
    LegacyLookup,
    organisation_code_mismatch,
)

Via = Literal["uscc", "organisation_code", "registration_number"]
SUBJECT_CODE_FIELDS = ("uscc", "organisation_code", "registration_number")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The record belongs to `uscc`, found `via` this code; conflicts go to credit.quality."""

    uscc: str
    via: Via
    conflicts: tuple[CodeConflict, ...] = ()


@dataclass(frozen=True, slots=True)
class Unresolved:
    """The legacy code is not mapped yet: park the record under `park_key` until it is."""

    park_key: str
    kind: LegacyKind
    code: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """The subject cannot name an enterprise: which field, the value (masked when it is
    personal data) and why."""

    field: str
    value: str | None
    reason: str


Resolution = Resolved | Unresolved | Invalid


def park_key(kind: str, code: str) -> str:
    """The key records waiting for a legacy code are parked under; a registration that maps
    `code` releases exactly the records parked under this key."""
    return f"{kind}:{code}"


def _codes_sent(subject: SubjectAsSent) -> dict[str, tuple[str, str]] | Invalid:
    """kind -> (field it came in, normalised code), or the first reason it cannot be used."""
    codes: dict[str, tuple[str, str]] = {}
    for field in SUBJECT_CODE_FIELDS:
        raw = subject.get(field)  # type: ignore[misc]
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            kind, code = identify_code(raw)
        except InvalidCode as exc:
            shown = mask_id_number(raw) if exc.personal_data else raw
            return Invalid(field, shown, exc.reason)
        if kind in codes and codes[kind][1] != code:
            other_field, other = codes[kind]
            return Invalid(
                field, raw, f"a second {kind} in one subject: {other} in {other_field}, {code} here"
            )
        codes[kind] = (field, code)
    return codes


def _registry_conflict(
    uscc: str, kind: LegacyKind, code: str, lookup_legacy: LegacyLookup
) -> CodeConflict | None:
    owner = lookup_legacy(kind, code)
    if owner is None or owner == uscc:
        return None
    reason = "legacy_code_claimed" if kind == "organisation_code" else "enterprise_under_two_usccs"
    return CodeConflict(
        reason,
        uscc,
        kind,
        code,
        other_uscc=owner,
        detail=f"the record names {uscc}; the registry maps {kind} {code} to {owner}",
    )


def resolve_subject(subject: SubjectAsSent, lookup_legacy: LegacyLookup) -> Resolution:
    """The USCC the record belongs to, where to park it, or why it is invalid (see module)."""
    codes = _codes_sent(subject)
    if isinstance(codes, Invalid):
        return codes
    org_code = codes.get("organisation_code", (None, None))[1]
    registration_number = codes.get("registration_number", (None, None))[1]

    if "uscc" in codes:
        uscc = parse_uscc(codes["uscc"][1])
        mismatch = organisation_code_mismatch(uscc, org_code)
        conflicts: list[CodeConflict] = [mismatch] if mismatch else []
        if mismatch is None and org_code is not None:
            conflict = _registry_conflict(uscc.code, "organisation_code", org_code, lookup_legacy)
            conflicts += [conflict] if conflict else []
        if registration_number is not None:
            conflict = _registry_conflict(
                uscc.code, "registration_number", registration_number, lookup_legacy
            )
            conflicts += [conflict] if conflict else []
        return Resolved(uscc.code, "uscc", tuple(conflicts))

    legacy: list[tuple[LegacyKind, str]] = []
    if org_code is not None:
        legacy.append(("organisation_code", org_code))
    if registration_number is not None:
        legacy.append(("registration_number", registration_number))
    if not legacy:
        return Invalid(
            "uscc",
            None,
            "no subject code: 统一社会信用代码（企业注册号） is mandatory in every category",
        )
    for i, (kind, code) in enumerate(legacy):
        owner = lookup_legacy(kind, code)
        if owner is None:
            continue
        # The other legacy code, if also mapped, must map to the same enterprise.
        others = [_registry_conflict(owner, k, c, lookup_legacy) for k, c in legacy[i + 1 :]]
        return Resolved(owner, kind, tuple(c for c in others if c is not None))
    kind, code = legacy[0]
    return Unresolved(park_key(kind, code), kind, code)
