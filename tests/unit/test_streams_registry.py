"""The code registry: entries from registration reports, former names, uniqueness breaches."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from schemas.identifiers import make_registration_number, make_uscc
from schemas.records import IntakeEvent
from streams.errors import RegistrationError
from streams.rules.registry import RegistryEntry, apply_registration

USCC = make_uscc("9", "1", "640422", "MA76Y5XX")
OTHER_USCC = make_uscc("9", "1", "640422", "MA76Y6AB")
ORG_CODE = USCC[8:17]
REG_NO = make_registration_number("640422", "00001234")


def registration(seq: int = 1, name: str = "西吉县丰源农业有限公司", **payload: Any) -> IntakeEvent:
    fields: dict[str, Any] = {"uscc": USCC, "registration_number": REG_NO, "name": name}
    fields.update(payload)
    return IntakeEvent(
        event_id=f"00000000-0000-0000-0000-{seq:012d}",
        category="registration",
        operation="upsert",
        department={"code": "scjg-640422", "name": "西吉县市场监督管理局"},
        record_key=str(fields["uscc"]),
        subject={
            "uscc": None,
            "registration_number": None,
            "organisation_code": None,
            "name": name,
        },
        occurred_at=dt.date(2024, 3, 1),
        emitted_at=dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=seq),
        source_sequence=seq,
        adapter="spreadsheet/1",
        payload=fields,
    )


def test_first_registration_creates_the_entry() -> None:
    entry, conflicts = apply_registration(
        None, registration(status="存续", entity_type="有限责任公司")
    )
    assert conflicts == []
    assert entry.uscc == USCC
    assert entry.registration_number == REG_NO
    assert entry.organisation_code == ORG_CODE  # embedded in the USCC, even if not sent
    assert entry.region_code == "640422"
    assert (entry.entity_type, entry.status) == ("有限责任公司", "存续")
    assert entry.former_names == []
    assert entry.legacy_codes() == [
        ("organisation_code", ORG_CODE),
        ("registration_number", REG_NO),
    ]


def test_a_new_name_pushes_the_old_one_to_former_names() -> None:
    first, _ = apply_registration(None, registration(1, "西吉县丰源农业有限公司"))
    second, _ = apply_registration(first, registration(2, "宁夏丰源农业科技有限公司"))
    third, _ = apply_registration(second, registration(3, "西吉县丰源农业有限公司"))
    assert second.name == "宁夏丰源农业科技有限公司"
    assert second.former_names == ["西吉县丰源农业有限公司"]
    # Renamed back: the current name is not also a former name.
    assert third.former_names == ["宁夏丰源农业科技有限公司"]


def test_older_or_repeated_reports_change_nothing() -> None:
    newer, _ = apply_registration(None, registration(5, "新名称有限公司"))
    assert apply_registration(newer, registration(4, "旧名称有限公司")) == (newer, [])
    assert apply_registration(newer, registration(5, "新名称有限公司")) == (newer, [])


def test_codes_left_out_keep_their_earlier_values() -> None:
    first, _ = apply_registration(None, registration(1, status="存续"))
    second, _ = apply_registration(first, registration(2, registration_number=None, status=None))
    assert second.registration_number == REG_NO
    assert second.status == "存续"


def test_entry_round_trips_through_a_dict() -> None:
    entry, _ = apply_registration(None, registration())
    assert RegistryEntry.from_dict(entry.to_dict()) == entry
    assert RegistryEntry.from_dict({**entry.to_dict(), "former_names": None}).former_names == []


def test_entry_dict_is_every_field_with_its_own_list() -> None:
    # The stored entry is what dataclasses.asdict gave: every field, in order, and a list of
    # former names that changing the entry afterwards leaves alone.
    first, _ = apply_registration(None, registration(1))
    entry, _ = apply_registration(first, registration(2, name="新名称有限公司"))
    stored = entry.to_dict()
    assert list(stored) == [f.name for f in dataclasses.fields(RegistryEntry)]
    assert stored == dataclasses.asdict(entry)
    entry.former_names.append("另一个名称")
    assert "另一个名称" not in stored["former_names"]


def test_organisation_code_contradicting_the_uscc_is_reported() -> None:
    sent = OTHER_USCC[8:17]
    entry, conflicts = apply_registration(None, registration(organisation_code=sent))
    assert entry.organisation_code == ORG_CODE
    assert [(c.reason, c.code) for c in conflicts] == [("organisation_code_mismatch", sent)]
    assert ORG_CODE in conflicts[0].detail


def test_registration_number_of_another_uscc_is_reported() -> None:
    index = {("registration_number", REG_NO): OTHER_USCC}
    _, conflicts = apply_registration(None, registration(), lambda k, c: index.get((k, c)))
    assert [c.to_dict() for c in conflicts] == [
        {
            "reason": "enterprise_under_two_usccs",
            "uscc": USCC,
            "kind": "registration_number",
            "code": REG_NO,
            "other_uscc": OTHER_USCC,
            "detail": f"registration_number {REG_NO} already belongs to {OTHER_USCC}",
        }
    ]


def test_organisation_code_claimed_by_another_uscc_is_reported() -> None:
    index = {("organisation_code", ORG_CODE): OTHER_USCC}
    _, conflicts = apply_registration(None, registration(), lambda k, c: index.get((k, c)))
    assert [(c.reason, c.other_uscc) for c in conflicts] == [("legacy_code_claimed", OTHER_USCC)]


def test_uscc_reported_with_a_second_registration_number_is_reported() -> None:
    first, _ = apply_registration(None, registration(1))
    other = make_registration_number("640422", "00009999")
    second, conflicts = apply_registration(first, registration(2, registration_number=other))
    assert second.registration_number == other
    assert [(c.reason, c.code) for c in conflicts] == [("legacy_code_changed", other)]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"uscc": None}, "field uscc is missing"),
        ({"uscc": USCC[:-1] + "0"}, "field uscc: .*check character"),
        ({"registration_number": "640422000012340"}, "field registration_number: .*check digit"),
        ({"name": ""}, "name .*missing"),
    ],
)
def test_unusable_reports_are_refused_with_the_field(payload, message) -> None:
    with pytest.raises(RegistrationError, match=message):
        apply_registration(None, registration(**payload))


def test_only_registrations_update_the_registry() -> None:
    event = registration()
    event["category"] = "penalty"
    with pytest.raises(RegistrationError, match="not a registration"):
        apply_registration(None, event)
