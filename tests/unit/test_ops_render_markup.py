"""Department text in the operator CLI's tables is shown as it is, never read as rich markup
(a 序号 of `[/]` crashed `creditsync rejected list`; issue #13)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import typer
from rich.console import Console

from creditsync.ops.dead_letters import DeadLetter, decode_original
from creditsync.ops.rejected import RedriveOutcome
from creditsync.ops.render import (
    dead_letter_detail,
    dead_letters_table,
    plain,
    query_table,
    redrive_table,
)
from producers.events import build_intake_event
from producers.publisher import rejection_record
from sinks.clickhouse import QueryResult
from tests.intake_factory import DEPARTMENT, enterprise_codes

pytestmark = pytest.mark.security

NOW = dt.datetime(2024, 3, 8, 9, 0, tzinfo=dt.UTC)
MARKUP = ["[/]", "[bold red]红色[/bold red]", "[link=http://evil.example]点我[/link]", "\\[x]"]


def letter_with(text: str) -> DeadLetter:
    """A dead letter of a spreadsheet row whose 序号 and fine amount are `text`."""
    fields = {
        "subject_code": enterprise_codes(7)["uscc"],
        "subject_name": "宁夏丙建材有限公司",
        "penalising_authority": "西吉县市场监督管理局",
        "decision_number": "西市监罚〔2024〕30号",
        "decided_on": "2024-03-04",
        "violation_type": "虚假宣传",
        "fine_amount": text,  # not a number: the row is refused, the value in the message
        "penalty_kind": "罚款",
        "序号": text,
    }
    refused = build_intake_event("penalty", fields, DEPARTMENT, "spreadsheet/1", 1, NOW)
    assert not isinstance(refused, dict)
    out = rejection_record(refused, category="penalty", department_code=DEPARTMENT["code"],
                           adapter="spreadsheet/1", fields=fields, topic_prefix="p.")  # fmt: skip
    return DeadLetter("p.credit.rejected:0:4", 1_709_888_400_000, out.key, out.value,
                      tuple(out.headers))  # fmt: skip


def rendered(*renderables) -> str:
    console = Console(record=True, width=400, color_system=None)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("text", MARKUP)
def test_rejected_list_and_show_print_markup_literally(text: str) -> None:
    letter = letter_with(text)
    assert text in letter.message  # the value is quoted in the reason
    listing = rendered(dead_letters_table([letter], {letter.id: {}}))
    assert text in listing
    assert "(re-driven)" in listing
    detail = rendered(dead_letter_detail(letter, decode_original(letter), None))
    assert f'"序号": "{text}"'.replace("\\", "\\\\") in detail


@pytest.mark.parametrize("text", MARKUP)
def test_redrive_and_query_tables_print_markup_literally(text: str) -> None:
    outcome = RedriveOutcome("p.credit.rejected:0:4", "rejected", "rebuild", None, text)
    out = rendered(redrive_table([outcome]), query_table(QueryResult([text], [(text,)]), text))
    assert out.count(text) >= 3  # the detail, the column name, the cell (and the title)
    assert "still rejected" in out


def test_plain_keeps_brackets_and_styles_nothing() -> None:
    shown = plain("[bold red]x[/bold red]")
    assert shown.plain == "[bold red]x[/bold red]" and not shown.spans
    assert plain(None).plain == ""


def test_cli_errors_print_markup_literally(monkeypatch) -> None:
    from creditsync import ops_cli

    errors = Console(record=True, width=200, color_system=None)
    monkeypatch.setattr(ops_cli, "errors", errors)  # fail() writes to stderr's console
    with pytest.raises(typer.Exit):
        ops_cli.fail("序号 '[/]' 不是数字")
    assert "序号 '[/]' 不是数字" in errors.export_text()


def test_ingest_progress_counts_a_huge_line_in_chunks(tmp_path: Path) -> None:
    from creditsync.ingest_command import _count_lines

    path = tmp_path / "p.csv"
    path.write_bytes(b"a,b\n" + b"x" * (3 << 20) + b"\n1,2")
    assert _count_lines(path) == 2
    path.write_bytes(b"a,b\n1,2\n")
    assert _count_lines(path) == 1
