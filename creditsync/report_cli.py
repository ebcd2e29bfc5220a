"""`creditsync report monthly|scorecard|conversion` and the file output `creditsync sql` shares.

Thin: the reports are creditsync/reports (plain functions over a query callable); this module
reads the settings, routes the queries as `creditsync sql` does (creditsync/ops/sqlclient.py:
straight to ClickHouse, or through the running `creditsync run` that owns chdb) and writes a
table, CSV, XLSX or JSON, with a progress bar on stderr for large files.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from creditsync.errors import CreditSyncError
from creditsync.reports.export import Sheet, write_csv, write_xlsx
from creditsync.reports.periods import ReportError, previous_month, reporting_period

console = Console()
errors = Console(stderr=True, soft_wrap=True)
# Files of at least this many rows are written under a progress bar.
PROGRESS_FROM = 1_000
OUTPUT_FORMATS = ("table", "csv", "xlsx", "json")
CHINA = dt.timezone(dt.timedelta(hours=8))

report_app = typer.Typer(
    help="Analysts' reports: monthly monitoring indicators (seed 003 #26, due before the "
    "25th), department scorecards (考核/通报), legacy-code conversion progress.",
    no_args_is_help=True,
)

FORMAT_HELP = "table (default: on the terminal) | csv | xlsx | json"
OUTPUT_HELP = "Write to this file (csv/json: default stdout; xlsx: default <report>.xlsx)."


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def analytics_query() -> Callable[[str], Any]:
    """The query callable of `creditsync sql`: the same route, settings and limits."""
    from creditsync.ops.sqlclient import run_sql
    from creditsync.settings import ClickHouseSettings, DataSettings, HttpSettings

    settings = ClickHouseSettings()
    if settings.clickhouse_dsn.lower() == "off":
        fail("ClickHouse is off (CREDITSYNC_CLICKHOUSE_DSN=off)")
    dsn = settings.dsn(DataSettings())
    http = HttpSettings()

    def query(sql: str) -> Any:
        result, _route = run_sql(
            sql,
            dsn=dsn,
            database=settings.clickhouse_database,
            data_dir=DataSettings().data_dir.resolve(),
            http_base=f"http://{http.http_host}:{http.http_port}",
        )
        return result

    return query


def _progress(total: int) -> tuple[Progress | None, Callable[[int], None] | None]:
    if total < PROGRESS_FROM:
        return None, None
    bar = Progress(
        TextColumn("writing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    )
    task = bar.add_task("rows", total=total)
    return bar, lambda done: bar.update(task, completed=done)


# A row of the monthly report has ~30 figures: side by side they do not fit a terminal, so a
# wide sheet is shown turned (one column per region or department, one line per figure).
TURN_AFTER_COLUMNS = 8


def terminal_tables(sheet: Sheet, width: int) -> list[Table]:
    """The sheet as rich tables that fit `width`: as it is when narrow, else turned, with as
    many of its rows per table as fit beside the figure names."""
    cell = lambda v: Text("—" if v is None else str(v))  # noqa: E731
    if len(sheet.headers) <= TURN_AFTER_COLUMNS:
        table = Table(*(Column(header=Text(str(h))) for h in sheet.headers),
                      title=escape(sheet.title))  # fmt: skip
        for row in sheet.rows:
            table.add_row(*(cell(v) for v in row))
        return [table]
    names = [str(h) for h in sheet.headers]
    # The first column that differs between rows names each turned column (region, department).
    key = next((i for i in range(len(names))
                if len({str(r[i]) for r in sheet.rows}) == len(sheet.rows)), 0)  # fmt: skip
    # Widths in terminal cells (a Chinese character takes two), 3 for borders and padding.
    names_width = max((cell_len(n) for n in names), default=10) + 4
    used = names_width
    groups: list[list[Sequence[Any]]] = [[]]
    for row in sheet.rows:
        need = max(cell_len("—" if v is None else str(v)) for v in row) + 3
        if groups[-1] and used + need > width:
            groups.append([])
            used = names_width
        groups[-1].append(row)
        used += need
    tables = []
    for at, rows in enumerate(groups):
        table = Table(Column(header=Text(names[key])),
                      *(Column(header=cell(r[key]), justify="right") for r in rows),
                      title=escape(sheet.title) if at == 0 else None)  # fmt: skip
        for i, name in enumerate(names):
            if i != key:
                table.add_row(Text(name), *(cell(r[i]) for r in rows))
        tables.append(table)
    return tables


def write_sheet(sheet: Sheet, fmt: str, output: Path | None, json_body: Any = None) -> None:
    """The sheet as `fmt` to `output` (or stdout / the terminal); ReportError for an
    unknown format or xlsx without a file name."""
    if fmt not in OUTPUT_FORMATS:
        raise ReportError(f"--format {fmt!r}: expected one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "table":
        for table in terminal_tables(sheet, console.width):
            console.print(table)
        for key, value in sheet.about:
            console.print(Text(f"{key}：{value}"))
        return
    if fmt == "json":
        text = json.dumps(json_body, ensure_ascii=False, indent=2, default=str)
        if output is None:
            print(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
        return
    if fmt == "xlsx" and output is None:
        raise ReportError("--format xlsx needs --output FILE.xlsx")
    bar, progress = _progress(len(sheet.rows)) if output is not None else (None, None)
    try:
        if bar is not None:
            bar.start()
        if fmt == "xlsx":
            write_xlsx(output, [sheet], progress)  # type: ignore[arg-type]
        elif output is None:
            write_csv(sys.stdout, sheet)
        else:
            with output.open("w", encoding="utf-8-sig", newline="") as out:
                write_csv(out, sheet, progress)
    finally:
        if bar is not None:
            bar.stop()
    if output is not None:
        errors.print(f"{len(sheet.rows):,} row(s) → {escape(str(output))}", highlight=False)


def _emit(report: Any, fmt: str, output: Path | None) -> None:
    if fmt == "xlsx" and output is None:
        output = Path(f"{report.name}.xlsx")
    write_sheet(report.sheet(), fmt, output, report.as_json())


def _month(month: str | None) -> Any:
    return reporting_period(month or previous_month(dt.datetime.now(CHINA).date()))


@report_app.command("monthly")
def monthly(
    month: str | None = typer.Option(None, "--month", help="YYYY-MM; default: last month."),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
) -> None:
    """Monthly monitoring indicators per region: records per category, 双公示 on time, open
    joint-punishment feedback, credit repairs, objections; with the reporting period."""
    from creditsync.reports.indicators import monthly_report

    try:
        period = _month(month)
        _emit(monthly_report(analytics_query(), period, dt.datetime.now(CHINA)), fmt, output)
    except CreditSyncError as exc:
        fail(str(exc))


@report_app.command("scorecard")
def scorecard(
    month: str | None = typer.Option(None, "--month", help="YYYY-MM; default: last month."),
    department: str | None = typer.Option(None, "--department", help="Only this code or name."),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
) -> None:
    """Per-department scorecard (考核/通报): volume, on-time share, refusal rate, open
    notices, 查错查重 findings."""
    from creditsync.reports.indicators import scorecard_report

    try:
        period = _month(month)
        report = scorecard_report(
            analytics_query(), period, dt.datetime.now(CHINA), department=department
        )
        _emit(report, fmt, output)
    except CreditSyncError as exc:
        fail(str(exc))


@report_app.command("conversion")
def conversion(
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
    output: Path | None = typer.Option(None, "--output", help=OUTPUT_HELP),
) -> None:
    """Legacy-code conversion progress: codes mapped to a USCC vs outstanding, by region and
    registering authority (seed 000 §三(三))."""
    from creditsync.reports.indicators import conversion_report

    try:
        _emit(conversion_report(analytics_query(), dt.datetime.now(CHINA)), fmt, output)
    except CreditSyncError as exc:
        fail(str(exc))


def register(app: typer.Typer) -> None:
    """Add `creditsync report …` to the app."""
    app.add_typer(report_app, name="report")


__all__ = ["OUTPUT_FORMATS", "register", "write_sheet"]
