"""The code registry as plain data: one entry per USCC, with its legacy codes and names.

Registration authorities report the codes they assign or convert (增量赋码、存量转换, seed 000);
each report updates the entry of its USCC and maps the enterprise's legacy codes to it
(新旧码映射). Codes are unique — one USCC, one organisation — so a report that breaks that is
kept but also reported as a `CodeConflict` for the data-quality queue (查错查重).
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.identifiers import (
    InvalidCode,
    Uscc,
    parse_organisation_code,
    parse_registration_number,
    parse_uscc,
)
from schemas.records import IntakeEvent
from streams.errors import RegistrationError
from streams.rules.versioning import is_newer, record_version

LegacyKind = Literal["organisation_code", "registration_number"]
# What a finding is about: a legacy code, the USCC itself, or an enterprise name.
FindingKind = Literal["organisation_code", "registration_number", "uscc", "name"]
# (kind, code) -> the USCC the registry maps that legacy code to, or None when unknown.
LegacyLookup = Callable[[str, str], str | None]

ConflictReason = Literal[
    # An organisation code already maps to another USCC: two USCCs built on one code.
    "legacy_code_claimed",
    # The organisation code sent is not the one embedded in the USCC (chars 9-17).
    "organisation_code_mismatch",
    # A registration number already maps to another USCC: one enterprise, two USCCs.
    "enterprise_under_two_usccs",
    # The USCC was reported before with a different registration number: one USCC, two
    # enterprises — or a typing error in one of the reports.
    "legacy_code_changed",
    # A record names the enterprise of this USCC by a name it was never registered under:
    # one code, two names (a typing error, or the code of another enterprise).
    "one_code_two_names",
    # Two USCCs registered under one name: likely one enterprise registered twice.
    "one_name_two_codes",
]


@dataclass(frozen=True, slots=True)
class CodeConflict:
    """A breach of code uniqueness, for the data-quality topic (credit.quality)."""

    reason: ConflictReason
    uscc: str
    kind: FindingKind
    code: str
    other_uscc: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def organisation_code_mismatch(uscc: Uscc, org_code: str | None) -> CodeConflict | None:
    """The conflict when an organisation code sent beside a USCC is not the one the USCC
    embeds (characters 9-17, GB 32100); None when none was sent or it is the same.
    `org_code`: the normalised code (parse_organisation_code / identify_code)."""
    if org_code is None or org_code == uscc.organisation_code:
        return None
    return CodeConflict(
        "organisation_code_mismatch",
        uscc.code,
        "organisation_code",
        org_code,
        detail=f"the USCC embeds organisation code {uscc.organisation_code}",
    )


@dataclass(slots=True)
class RegistryEntry:
    """What the registry knows of one enterprise (stored in a stage table, as a dict)."""

    uscc: str
    registration_number: str | None
    organisation_code: str | None
    name: str
    former_names: list[str] = field(default_factory=list)
    region_code: str = ""
    entity_type: str = ""
    status: str | None = None
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives (a copy of the list), without its recursive deep
        # copy (about 3 % of the stage loop in a profile: written once per registration).
        return {
            "uscc": self.uscc,
            "registration_number": self.registration_number,
            "organisation_code": self.organisation_code,
            "name": self.name,
            "former_names": list(self.former_names),
            "region_code": self.region_code,
            "entity_type": self.entity_type,
            "status": self.status,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistryEntry:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["former_names"] = list(values.get("former_names") or [])
        return cls(**values)

    def legacy_codes(self) -> list[tuple[LegacyKind, str]]:
        """The (kind, code) pairs the legacy-code index should map to this USCC."""
        codes: list[tuple[LegacyKind, str]] = []
        if self.organisation_code:
            codes.append(("organisation_code", self.organisation_code))
        if self.registration_number:
            codes.append(("registration_number", self.registration_number))
        return codes


def _sent(event: IntakeEvent, name: str) -> str | None:
    # The payload is the registration as the authority filled it in; the subject is the
    # same codes as the adapter read them. Either may be the only one filled.
    value = event["payload"].get(name) or event["subject"].get(name)  # type: ignore[misc]
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _parse(event: IntakeEvent, name: str, parse: Callable[[str], Any]) -> Any:
    raw = _sent(event, name)
    if raw is None:
        return None
    try:
        return parse(raw)
    except InvalidCode as exc:
        raise RegistrationError(
            f"registration {event['event_id']} (record {event['record_key']}): field {name}: {exc}"
        ) from exc


def _renamed(former_names: list[str], old: str | None, new: str) -> list[str]:
    names = [n for n in former_names if n != new]
    if old and old != new and old not in names:
        names.append(old)
    return names


def apply_registration(
    existing: RegistryEntry | None,
    event: IntakeEvent,
    lookup_legacy: LegacyLookup | None = None,
) -> tuple[RegistryEntry, list[CodeConflict]]:
    """The registry entry after a registration event, and the uniqueness breaches it shows.

    An event not newer than the entry's version is ignored (returned entry unchanged, no
    conflicts), so replays and late duplicates change nothing. A new name pushes the old
    one to `former_names` (search finds enterprises by former names). The organisation code
    stored is the one embedded in the USCC; a different one sent is reported, not stored.
    Codes the event leaves out keep their earlier values. `lookup_legacy` is the
    legacy-code index; without it only the event's own consistency is checked.
    """
    if event["category"] != "registration":
        raise RegistrationError(
            f"event {event['event_id']}: category {event['category']!r} is not a registration"
        )
    version = record_version(event["source_sequence"], event["emitted_at"], event["event_id"])
    if existing is not None and not is_newer(version, existing.version):
        return existing, []

    uscc: Uscc | None = _parse(event, "uscc", parse_uscc)
    if uscc is None:
        raise RegistrationError(
            f"registration {event['event_id']} (record {event['record_key']}): field uscc is "
            "missing; a registration must carry the 统一社会信用代码 it assigns"
        )
    if existing is not None and existing.uscc != uscc.code:
        raise RegistrationError(
            f"registration {event['event_id']}: USCC {uscc.code} applied to the entry of "
            f"{existing.uscc}"
        )
    org_code: str | None = _parse(event, "organisation_code", parse_organisation_code)
    registration_number: str | None = _parse(
        event, "registration_number", parse_registration_number
    )
    name = _sent(event, "name") or (existing.name if existing else None)
    if name is None:
        raise RegistrationError(
            f"registration {event['event_id']} (USCC {uscc.code}): field name (名称) is missing"
        )

    mismatch = organisation_code_mismatch(uscc, org_code)
    conflicts: list[CodeConflict] = [mismatch] if mismatch else []
    if (
        existing is not None
        and registration_number is not None
        and existing.registration_number not in (None, registration_number)
    ):
        conflicts.append(
            CodeConflict(
                "legacy_code_changed",
                uscc.code,
                "registration_number",
                registration_number,
                detail=f"reported before with registration number {existing.registration_number}",
            )
        )

    entry = RegistryEntry(
        uscc=uscc.code,
        registration_number=registration_number
        or (existing.registration_number if existing else None),
        organisation_code=uscc.organisation_code,
        name=name,
        former_names=_renamed(
            existing.former_names if existing else [], existing.name if existing else None, name
        ),
        region_code=uscc.region_code,
        entity_type=_sent(event, "entity_type")
        or (existing.entity_type if existing else uscc.entity_type_name),
        status=_sent(event, "status") or (existing.status if existing else None),
        version=version,
    )
    if lookup_legacy is not None:
        for kind, code in entry.legacy_codes():
            owner = lookup_legacy(kind, code)
            if owner is not None and owner != entry.uscc:
                reason: ConflictReason = (
                    "legacy_code_claimed"
                    if kind == "organisation_code"
                    else "enterprise_under_two_usccs"
                )
                conflicts.append(
                    CodeConflict(
                        reason,
                        entry.uscc,
                        kind,
                        code,
                        other_uscc=owner,
                        detail=f"{kind} {code} already belongs to {owner}",
                    )
                )
    return entry, conflicts


def name_key(name: str) -> str:
    """The key two spellings of one enterprise name share (full/half-width, spaces)."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def name_conflict(entry: RegistryEntry, sent_name: str | None) -> CodeConflict | None:
    """A record naming the enterprise of `entry` by a name it was never registered under
    (not its name, not a former one): one code, two names; None when the names agree."""
    if not sent_name or not entry.name:
        return None
    known = {name_key(n) for n in (entry.name, *entry.former_names)}
    if name_key(sent_name) in known:
        return None
    return CodeConflict(
        "one_code_two_names",
        entry.uscc,
        "uscc",
        entry.uscc,
        detail=f"代码 {entry.uscc} 登记的名称为「{entry.name}」，记录中的名称为「{sent_name}」",
    )
