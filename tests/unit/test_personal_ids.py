"""The one detector and masker of resident ID numbers (schemas/personal_ids.py), every written form.

Property tests: hypothesis generates valid numbers (18-character, residence permits, 15-digit
legacy) in every written form inside random text, and codes that are no ID number at all.
EXAMPLES sums their max_examples (the figure quoted in the report of issue #13).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.identifiers import make_registration_number, make_uscc
from schemas.personal_ids import (
    PROVINCES,
    ZERO_WIDTH,
    check_character,
    contains_resident_id,
    find_resident_ids,
    is_resident_id_15,
    is_resident_id_18,
    mask_resident_ids,
    mask_text,
)

pytestmark = pytest.mark.security

FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789Xx"})
HALF_WIDTH = str.maketrans({chr(ord(c) + 0xFEE0): c for c in "0123456789X"})
DROP_ZERO_WIDTH = str.maketrans("", "", ZERO_WIDTH)
TODAY = dt.date.today()


def id18(region: str, born: dt.date, seq: str) -> str:
    head = f"{region}{born:%Y%m%d}{seq}"
    return head + check_character(head)


def id15(region: str, born: dt.date, seq: str) -> str:
    return f"{region}{born:%y%m%d}{seq}"


ID = id18("640422", dt.date(1990, 3, 7), "123")  # 640422199003071235
OLD = id15("640422", dt.date(1965, 8, 1), "042")

# Cases are built from one drawn seed, CASES per example: hypothesis's own cost per example
# (~0.5 ms here) made 100,000 examples of composite strategies take minutes. A seed keeps a
# failure reproducible (hypothesis reports it).
seeds = st.integers(min_value=0, max_value=2**64 - 1)
CASES = 3
PROVINCE_LIST = sorted(PROVINCES)
WORD_CHARS = "身份证号码备注当事人张三，。：（）abcQRST"
GAPS = [" ", "-", ".", " - ", "\u3000", "－", "—"]
GROUPS = {
    18: [(6, 8, 4), (6, 4, 4, 4), (6, 12), (3, 3, 8, 4), (6, 8, 3, 1)],
    15: [(6, 6, 3), (3, 3, 6, 3), (6, 2, 2, 2, 3)],
}


def random_region(rnd: random.Random) -> str:
    if rnd.random() < 0.1:
        return rnd.choice(["810000", "820000", "830000"])  # HK, Macao, Taiwan residence permits
    return rnd.choice(PROVINCE_LIST) + f"{rnd.randrange(10_000):04d}"


def random_date(rnd: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rnd.randrange((last - first).days + 1))


def random_id18(rnd: random.Random) -> str:
    born = random_date(rnd, dt.date(1900, 1, 1), TODAY)
    return id18(random_region(rnd), born, f"{rnd.randrange(1000):03d}")


def random_id15(rnd: random.Random) -> str:
    born = random_date(rnd, dt.date(1910, 1, 1), dt.date(1999, 12, 31))
    return id15(random_region(rnd), born, f"{rnd.randrange(1000):03d}")


def random_words(rnd: random.Random) -> str:
    # No digit or separator right next to the number: exactly it is expected to be found.
    return "".join(rnd.choice(WORD_CHARS) for _ in range(rnd.randrange(13)))


def random_form(rnd: random.Random, number: str) -> str:
    """The number as people write it: x or X, groups with gaps, full-width, zero-width."""
    text = number.lower() if rnd.random() < 0.5 else number
    if rnd.random() < 0.6:
        sizes, gap = rnd.choice(GROUPS[len(number)]), rnd.choice(GAPS)
        parts, at = [], 0
        for size in sizes:
            parts.append(text[at : at + size])
            at += size
        text = gap.join(parts)
    if rnd.random() < 0.4:
        text = text.translate(FULL_WIDTH)
    for _ in range(rnd.choice([0, 0, 1, 2, 3])):
        at = rnd.randrange(1, len(text))
        text = text[:at] + rnd.choice(ZERO_WIDTH) + text[at:]
    return text


EXAMPLES = {
    "every_form_of_an_18_character_number": 12_000,
    "every_form_of_a_15_digit_number": 8_000,
    "codes_that_are_no_id_are_untouched": 12_000,
    "no_id_survives_masking": 8_000,
}
TOTAL_CASES = CASES * sum(EXAMPLES.values())  # 120,000
FAST = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_found_and_masked(number: str, form: str, before: str, after: str) -> None:
    text = before + form + after
    found = find_resident_ids(text)
    assert [f.number for f in found] == [number.upper()], (text, found)
    masked = mask_resident_ids(text)
    shown = number[:6].upper() + "*" * (len(number) - 10) + number[-4:].upper()
    assert masked == before + shown + after
    assert not contains_resident_id(masked)


@settings(max_examples=EXAMPLES["every_form_of_an_18_character_number"], **FAST)
@given(seeds)
def test_every_form_of_an_18_character_number_is_found_and_masked(seed):
    rnd = random.Random(seed)
    for _ in range(CASES):
        number = random_id18(rnd)
        form = random_form(rnd, number)
        assert_found_and_masked(number, form, random_words(rnd), random_words(rnd))


@settings(max_examples=EXAMPLES["every_form_of_a_15_digit_number"], **FAST)
@given(seeds)
def test_every_form_of_a_15_digit_number_is_found_and_masked(seed):
    rnd = random.Random(seed)
    for _ in range(CASES):
        number = random_id15(rnd)
        form = random_form(rnd, number)
        if form.translate(DROP_ZERO_WIDTH).upper().translate(HALF_WIDTH) == number and not (
            contains_resident_id(number)
        ):
            # Written without gaps, a 15-digit number with a registration number's check
            # digit is taken for one (1 in 10; documented in schemas/personal_ids.py).
            continue
        assert_found_and_masked(number, form, random_words(rnd), random_words(rnd))


def random_no_id_text(rnd: random.Random) -> str:
    """Ordinary data: USCCs, registration numbers, decision numbers, amounts, dates, ids."""
    kind = rnd.randrange(8)
    n = rnd.randrange(100_000_000)
    region = rnd.choice(["640422", "110101", "640100", "440106", "320102"])
    if kind == 0:
        authority = rnd.choice("159")
        return make_uscc(authority, "1" if authority != "9" else "2", region, f"{n:08d}")
    if kind == 1:
        return make_registration_number(region, f"{n:08d}")
    if kind == 2:
        return f"宁市监罚〔{rnd.randrange(1990, 2031)}〕{n}号"
    if kind == 3:
        first = random_date(rnd, dt.date(1990, 1, 1), dt.date(2040, 12, 31))
        last = random_date(rnd, dt.date(1990, 1, 1), dt.date(2040, 12, 31))
        return f"罚款 {n:,}.{n % 100:02d} 元，{first.isoformat()} 至 {last}，{first:%Y%m%d}"
    if kind == 4:
        return str(uuid.UUID(int=rnd.getrandbits(128)))
    if kind == 5:  # a record version: sequence, emitted ms and the event id's hex
        event = uuid.UUID(int=rnd.getrandbits(128))
        return f"{n:020d}.{rnd.getrandbits(45):015d}.{str(event).encode().hex()}"
    if kind == 6:
        return f"金额合计 {rnd.getrandbits(40)} 元，序号 {rnd.getrandbits(30)}"
    return f"电话 0951-{n % 10_000_000:07d}，邮编 {n % 1_000_000:06d}"


@settings(max_examples=EXAMPLES["codes_that_are_no_id_are_untouched"], **FAST)
@given(seeds)
def test_codes_that_are_no_id_are_untouched(seed):
    rnd = random.Random(seed)
    for _ in range(CASES):
        text = random_no_id_text(rnd)
        if len(text) == 18 and text.isdigit() and is_resident_id_18(text):
            # An all-digit USCC passes an ID number's checks about 1 time in 1,000; code
            # fields are never scanned (streams/rules/enrich.py, sinks/clickhouse/rows.py).
            continue
        assert mask_resident_ids(text) is text, text


NOISE = "0123456789Xx -.　身份证号"


@settings(max_examples=EXAMPLES["no_id_survives_masking"], **FAST)
@given(seeds)
def test_no_id_survives_masking(seed):
    rnd = random.Random(seed)
    for _ in range(CASES):
        pieces = [
            random_form(rnd, random_id18(rnd) if rnd.random() < 0.7 else random_id15(rnd))
            if rnd.random() < 0.5
            else "".join(rnd.choice(NOISE) for _ in range(rnd.randrange(41)))
            for _ in range(rnd.randrange(1, 6))
        ]
        text = "".join(pieces)
        masked = mask_resident_ids(text)
        assert not contains_resident_id(masked), (text, masked)
        assert mask_resident_ids(masked) == masked


def test_the_written_forms_of_the_issue():
    for form in (
        f"{ID[:6]} {ID[6:14]} {ID[14:]}",
        f"{ID[:6]}-{ID[6:10]}-{ID[10:14]}-{ID[14:]}",
        f"{ID[:6]}.{ID[6:14]}.{ID[14:]}",
        ID.translate(FULL_WIDTH),
        ID[:9] + "\u200b" + ID[9:],
        "\ufeff".join(ID),
        OLD,
        f"{OLD[:6]} {OLD[6:12]} {OLD[12:]}",
    ):
        text = f"备注：当事人身份证号{form}，已核实。"
        masked = mask_resident_ids(text)
        assert masked.startswith("备注：当事人身份证号640422*") and masked.endswith("，已核实。")
        assert not contains_resident_id(masked), masked


def test_residence_permits_and_the_legacy_number_are_masked_like_ids():
    permit = id18("810000", dt.date(1988, 2, 29), "004")
    assert mask_resident_ids(permit) == f"810000********{permit[-4:]}"
    assert mask_resident_ids(OLD) == f"640422*****{OLD[-4:]}"
    assert is_resident_id_15(OLD)


def test_near_misses_are_no_ids():
    assert not contains_resident_id(ID[:-1] + ("0" if ID[-1] != "0" else "1"))  # check char
    assert not contains_resident_id("640422999999991234")  # no such birth date
    assert not contains_resident_id(id18("640422", dt.date(1850, 5, 17), "123"))
    assert not contains_resident_id(id18("960422", dt.date(1990, 5, 17), "123"))  # province
    assert not contains_resident_id(f"{ID[:6]}     {ID[6:]}")  # a gap too wide
    assert not contains_resident_id(f"{ID[:5]} {ID[5:]}")  # a gap inside a group
    assert not contains_resident_id(id15("640422", dt.date(1905, 1, 2), "123"))
    assert not contains_resident_id("1" + OLD)  # 15 digits glued to others


def test_a_number_glued_to_digits_and_several_numbers_in_one_text():
    assert mask_resident_ids(f"99{ID}77") == f"99640422********{ID[-4:]}77"
    two = f"{ID}、{OLD}"
    assert mask_resident_ids(two) == f"640422********{ID[-4:]}、640422*****{OLD[-4:]}"
    assert mask_text(int(ID[:17] + "0") if ID[-1] == "0" else ID).startswith("640422****")
