"""Cell value parsers: the date, amount, name-list and text forms agencies write."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from producers.errors import FieldValueError
from producers.values import (
    parse_code,
    parse_date,
    parse_money,
    parse_names,
    parse_text,
)
from schemas.identifiers import make_registration_number, make_uscc

MARCH_7 = dt.date(2017, 3, 7)


@pytest.mark.parametrize(
    "raw",
    [
        "2017-03-07",
        "2017-3-7",
        "2017/3/7",
        "2017/03/07",
        "2017.3.7",
        "2017年3月7日",
        "2017 年 3 月 7 日",
        "20170307",
        "２０１７－０３－０７",  # full-width digits and dash
        " 2017-03-07\u3000",  # full-width space around
        "2017-03-07 00:00:00",  # a database export
        42801,  # Excel serial
        42801.75,  # Excel serial with a time of day
        "42801",  # a date column exported to CSV without its format
        dt.datetime(2017, 3, 7, 15, 30),
        MARCH_7,
    ],
)
def test_dates_in_every_form_agencies_use(raw: object) -> None:
    assert parse_date(raw, "decided_on") == MARCH_7


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000", "-", "无", "NULL"])
def test_blank_dates_are_none(raw: object) -> None:
    assert parse_date(raw, "decided_on") is None


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("2017-02-30", "no such day: 2017-02-30"),
        ("2017-13-01", "no such day"),
        ("2017/03-07", "a date such as 2017-03-07"),  # mixed separators
        ("3/7/2017", "a date such as 2017-03-07"),  # US order is not guessed
        ("next tuesday", "2017年3月7日"),
        (True, "a date such as"),
        (999999, "Excel date serial between 1 and 73050"),
        ("1850-01-01", "between 1900 and 2099"),
        ([2017, 3, 7], "a date such as"),
    ],
)
def test_bad_dates_name_the_field_and_the_expected_form(raw: object, detail: str) -> None:
    with pytest.raises(FieldValueError) as info:
        parse_date(raw, "decided_on")
    assert info.value.field == "decided_on"
    assert detail in str(info.value)
    assert str(info.value).startswith("decided_on: ")


def test_open_ended_words_only_where_allowed() -> None:
    assert parse_date("长期有效", "valid_to", open_ended=True) is None
    with pytest.raises(FieldValueError, match="no open end"):
        parse_date("长期", "valid_from")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12500", "12500.00"),
        ("12,500.5", "12500.50"),
        ("１２，５００元", "12500.00"),  # full-width digits and comma, trailing 元
        ("1.25万元", "12500.00"),
        ("1.25万", "12500.00"),
        ("￥3,000", "3000.00"),
        ("人民币 3000 元", "3000.00"),
        ("0.005", "0.01"),  # half up to the cent
        (".5", "0.50"),
        (3000, "3000.00"),
        (0.1, "0.10"),  # a float cell keeps its decimal value, not its binary one
        (Decimal("7.125"), "7.13"),
    ],
)
def test_amounts(raw: object, expected: str) -> None:
    assert parse_money(raw, "fine_amount") == Decimal(expected)


def test_a_column_in_wan_yuan_scales_bare_numbers_but_not_explicit_units() -> None:
    wan = Decimal(10_000)
    assert parse_money("1.5", "fine_amount", scale=wan) == Decimal("15000.00")
    assert parse_money(2, "fine_amount", scale=wan) == Decimal("20000.00")
    assert parse_money("800元", "fine_amount", scale=wan) == Decimal("800.00")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("-5", "not negative"),
        ("12,50", "an amount in yuan such as 12,500.00"),  # not a thousands grouping
        ("五千元", "12500元 or 1.25万元"),
        ("1e5", "an amount in yuan"),
        (float("nan"), "an amount in yuan"),
        ("9" * 20, "below"),
        (True, "an amount in yuan"),
    ],
)
def test_bad_amounts(raw: object, detail: str) -> None:
    with pytest.raises(FieldValueError) as info:
        parse_money(raw, "fine_amount")
    assert detail in str(info.value)
    assert info.value.field == "fine_amount"


@pytest.mark.parametrize(
    "raw",
    [
        "国家税务总局宁夏税务局、宁夏住建厅，宁夏法院",
        "国家税务总局宁夏税务局,宁夏住建厅;宁夏法院",
        "国家税务总局宁夏税务局；宁夏住建厅|宁夏法院",
        " 国家税务总局宁夏税务局 、、宁夏住建厅\n宁夏法院、宁夏法院",
        ["国家税务总局宁夏税务局", " 宁夏住建厅", "宁夏法院"],
    ],
)
def test_name_lists(raw: object) -> None:
    assert parse_names(raw, "receiving_departments") == [
        "国家税务总局宁夏税务局",
        "宁夏住建厅",
        "宁夏法院",
    ]


def test_text_is_trimmed_of_every_kind_of_space() -> None:
    assert parse_text("\u3000 宁夏六盘山商贸有限公司\xa0\ufeff", "name") == "宁夏六盘山商贸有限公司"
    assert parse_text(2017.0, "license_number") == "2017"  # Excel's float for a typed number
    assert parse_text(" — ", "remarks") is None


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("a\x00b", "without control characters (found U+0000)"),
        ("x" * 5000, "at most 4000 characters"),
        ({"a": 1}, "is not text"),
        (False, "is not text"),
    ],
)
def test_bad_text(raw: object, detail: str) -> None:
    with pytest.raises(FieldValueError) as info:
        parse_text(raw, "remarks")
    assert detail in str(info.value)


def test_codes_are_identified_and_normalised() -> None:
    uscc = make_uscc("9", "1", "640422", "43635181")
    assert parse_code(f" {uscc.lower()} ", "subject_code") == ("uscc", uscc)
    number = make_registration_number("640422", "66865727")
    assert parse_code(int(number), "subject_code") == ("registration_number", number)
    assert parse_code("43635181-3", "subject_code") == ("organisation_code", "436351813")
    assert parse_code("", "subject_code") is None


def test_invalid_code_says_what_is_wrong() -> None:
    uscc = make_uscc("9", "1", "640422", "43635181")
    bad = uscc[:17] + ("0" if uscc[17] != "0" else "1")
    with pytest.raises(FieldValueError) as info:
        parse_code(bad, "subject_code")
    assert "a valid USCC (统一社会信用代码): check character expected" in str(info.value)
    with pytest.raises(FieldValueError, match="length 5 fits no code"):
        parse_code("12345", "subject_code")
