"""Operator commands of `creditsync`: replay, rejected list|show|redrive, status, sql.

Thin: options become calls of creditsync/ops (plain functions, tested there); this module
reads the settings, shows progress and tables, and turns errors into exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from creditsync.errors import CreditSyncError
from creditsync.ops.helptext import REDRIVE_HELP, REPLAY_HELP, SQL_HELP, paragraphs
from creditsync.settings import (
    ClickHouseSettings,
    DataSettings,
    HttpSettings,
    KafkaSettings,
    RedisSettings,
    StreamSettings,
)

console = Console()
# Errors: one line on stderr, never wrapped to the terminal's width.
errors = Console(stderr=True, soft_wrap=True)
OFF = "off"


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def operator_errors() -> Iterator[None]:
    """Every error raised on purpose, and Kafka's, as one clear line and exit code 1."""
    from confluent_kafka import KafkaException

    try:
        yield
    except (CreditSyncError, KafkaException, ValueError) as exc:
        fail(str(exc))


def _authorize() -> None:
    """Commands that write (replay, re-drive) need the operator token (operator_token.py)."""
    from creditsync.operator_token import authorize_operator

    authorize_operator(DataSettings().data_dir.resolve())


def _prefix() -> str:
    return StreamSettings().topic_prefix


def _kafka() -> KafkaSettings:
    """How this command reaches Kafka (read here, at the command, and passed down)."""
    return KafkaSettings()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _clickhouse_dsn() -> str | None:
    settings = ClickHouseSettings()
    return None if settings.clickhouse_dsn.lower() == OFF else settings.dsn(DataSettings())


def replay(
    from_: str = typer.Option(..., "--from", help="Start time (see above)."),
    to: str | None = typer.Option(None, "--to", help="End time (exclusive); default: now."),
    target: str = typer.Option("all", help="clickhouse | publicity | all"),
    department: str | None = typer.Option(None, help="Only this department's records."),
    category: str | None = typer.Option(None, help="Only this category."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Preview counts; write nothing."),
    stage: str = typer.Option("records", help="records (to the sinks) | streams (see above)"),
    yes: bool = typer.Option(False, "--yes", help="--stage streams: do not ask to confirm."),
    batch_size: int = typer.Option(10_000, help="Records per sink write."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    from creditsync.ops.timespec import parse_time

    with operator_errors():
        if not dry_run:
            _authorize()
        start_ms = parse_time(from_, option="--from")
        end_ms = parse_time(to, option="--to") if to else None
        if stage == "streams":
            _replay_streams(start_ms, dry_run=dry_run, yes=yes)
            return
        if stage != "records":
            fail(f"--stage {stage!r}: expected records or streams")
        _replay_records(
            start_ms, end_ms, target, department, category, dry_run, batch_size, as_json
        )


def _replay_records(
    start_ms: int,
    end_ms: int | None,
    target: str,
    department: str | None,
    category: str | None,
    dry_run: bool,
    batch_size: int,
    as_json: bool,
) -> None:
    from creditsync.ops.render import replay_table
    from creditsync.ops.replay import sinks_for
    from creditsync.ops.runlock import running_main_job

    names = sinks_for(target)
    dsn = _clickhouse_dsn()
    data_dir = DataSettings().data_dir.resolve()
    pid = running_main_job(data_dir)
    with _replay_progress() as (progress, task):
        progress.update(task, description="dry run" if dry_run else f"replay → {target}")
        if "clickhouse" in names and dsn and dsn.startswith("chdb:") and pid is not None:
            # The running server owns chdb: it runs the replay (ops/replay_http.py says why).
            from creditsync.operator_token import presented_token
            from creditsync.ops.replay_remote import replay_on_server

            http = HttpSettings()
            progress.console.print(
                f"`creditsync run` (pid {pid}) owns the embedded ClickHouse: replaying there"
            )
            request = {
                "from_ms": start_ms, "to_ms": end_ms, "target": target,
                "department": department, "category": category, "dry_run": dry_run,
                "batch_size": batch_size,
            }  # fmt: skip
            report = replay_on_server(
                f"http://{http.http_host}:{http.http_port}",
                presented_token(data_dir),
                request,
                lambda p: progress.update(task, total=p["total"], completed=p["done"]),
            )
        else:
            report = _replay_here(
                names, dsn, start_ms, end_ms, department, category, dry_run, batch_size,
                on_start=lambda total: progress.update(task, total=total),
                on_progress=lambda done: progress.update(task, completed=done),
            )  # fmt: skip
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        console.print(replay_table(report))
    if any(t["rejected"] for t in report["sinks"].values()):
        console.print(
            "[yellow]some records were refused by a sink; see --json for reasons[/yellow]"
        )


def _replay_here(
    names: tuple[str, ...],
    dsn: str | None,
    start_ms: int,
    end_ms: int | None,
    department: str | None,
    category: str | None,
    dry_run: bool,
    batch_size: int,
    **callbacks: Any,
) -> dict[str, Any]:
    """The replay in this process: nothing else owns the stores it writes."""
    from creditsync.ops.replay import close_sinks, open_replay_sinks, replay_records

    redis_url = RedisSettings().redis_url
    sinks = open_replay_sinks(
        names,
        clickhouse_dsn=dsn,
        redis_url=None if redis_url == OFF else redis_url,
        database=ClickHouseSettings().clickhouse_database,
    )
    try:
        return replay_records(
            _kafka(),
            _prefix(),
            sinks,
            start_ms=start_ms,
            end_ms=end_ms,
            department=department,
            category=category,
            dry_run=dry_run,
            batch_size=batch_size,
            **callbacks,
        ).as_dict()
    finally:
        close_sinks(sinks)


class _RateColumn(ProgressColumn):
    """Records (offsets) per second, as rich measures the task's progress."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


@contextmanager
def _replay_progress() -> Iterator[tuple[Progress, TaskID]]:
    """A bar of offsets read, with rate and time left (ETA)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        yield progress, progress.add_task("replay", total=None)


def _replay_streams(start_ms: int, *, dry_run: bool, yes: bool) -> None:
    from creditsync.ops.stream_reset import apply_stream_reset, plan_stream_reset
    from creditsync.ops.timespec import describe_millis

    group = f"{_prefix()}{StreamSettings().worker_id}"
    plan = plan_stream_reset(_kafka(), group, _prefix(), start_ms)
    console.print(
        f"Re-derive credit.records from the intake topics from {describe_millis(start_ms)}:\n"
        f"  1. consumer group [bold]{group}[/bold]: intake offsets reset on "
        f"{len(plan.offsets)} partition(s); {plan.to_reprocess:,} intake message(s) re-read\n"
        f"  2. table state deleted so it rebuilds from the re-read intake — changelog topics:\n"
        + "".join(f"       {t}\n" for t in plan.changelogs or ["(none yet)"])
        + f"  3. derivation generation {plan.generation}: the re-derived records supersede "
        "those derived before\n     (the sinks keep the greatest version of each item).\n"
        "  Tables then hold only what is re-read: use --from beginning for a complete registry."
    )
    if dry_run:
        console.print("[dim]dry run: nothing changed[/dim]")
        return
    if not yes and not typer.confirm("Reset offsets and delete the changelog topics?"):
        fail("nothing changed", code=1)
    apply_stream_reset(_kafka(), _prefix(), plan)
    console.print("[green]done[/green]: start the workers (`creditsync run`) to re-derive.")


rejected_app = typer.Typer(
    help="Inspect and re-drive dead letters on credit.rejected.", no_args_is_help=True
)


@rejected_app.command("list")
def rejected_list(
    reason: list[str] = typer.Option([], "--reason", help="Reason code (repeatable)."),
    department: str | None = typer.Option(None, help="Department code."),
    category: str | None = typer.Option(None, help="Category."),
    since: str | None = typer.Option(None, help="Only rejected at or after this time."),
    stage: str | None = typer.Option(
        None, help="decode | validate | resolve | enrich | items | sink"
    ),
    show_all: bool = typer.Option(False, "--all", help="Include re-driven dead letters."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Dead letters, newest last; re-driven ones hidden unless --all."""
    from creditsync.ops.dead_letters import matches, open_letters
    from creditsync.ops.rejected import read_dead_letters, read_redriven
    from creditsync.ops.render import dead_letters_table
    from creditsync.ops.timespec import parse_time

    with operator_errors():
        since_ms = parse_time(since, option="--since") if since else None
        redriven = read_redriven(_kafka(), _prefix())
        letters = [
            dl
            for dl in open_letters(read_dead_letters(_kafka(), _prefix()), redriven, show_all)
            if matches(
                dl,
                reasons=reason,
                department=department,
                category=category,
                since_ms=since_ms,
                stage=stage,
            )
        ]
    if as_json:
        rows = [
            {
                "id": d.id,
                "rejected_at": d.rejected_at.isoformat(),
                "stage": d.stage,
                "reason_code": d.reason_code,
                "department": d.department,
                "category": d.category,
                "field": d.field,
                "message": d.message,
                "origin": d.origin,
                "redriven": d.id in redriven,
            }
            for d in letters
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        console.print(dead_letters_table(letters, redriven))


@rejected_app.command("show")
def rejected_show(dead_letter: str = typer.Argument(..., metavar="ID")) -> None:
    """One dead letter: its reason headers and the original record, decoded."""
    from creditsync.ops.dead_letters import decode_original, parse_dead_letter_id
    from creditsync.ops.rejected import fetch_dead_letter, read_redriven
    from creditsync.ops.render import dead_letter_detail

    with operator_errors():
        letter = fetch_dead_letter(_kafka(), _prefix(), *parse_dead_letter_id(dead_letter))
        redrive = read_redriven(_kafka(), _prefix()).get(letter.id)
        console.print(dead_letter_detail(letter, decode_original(letter), redrive))


@rejected_app.command("redrive", help=paragraphs(REDRIVE_HELP))
def rejected_redrive(
    ids: list[str] = typer.Argument(None, metavar="[ID]...", help="Dead letters to re-drive."),
    reason: list[str] = typer.Option([], "--reason", help="All open ones with this reason."),
    department: str | None = typer.Option(None, help="All open ones of this department."),
    redrive_all: bool = typer.Option(False, "--all", help="Every open dead letter."),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="FIELD=VALUE",
        help="Correct a field of an adapter-refused record first.",
    ),
) -> None:
    """Re-drive dead letters after a fix (see REDRIVE_HELP)."""
    from creditsync.ops.dead_letters import matches, open_letters, parse_dead_letter_id
    from creditsync.ops.rejected import read_dead_letters, read_redriven, redrive
    from creditsync.ops.render import redrive_table

    corrections = dict(_assignment(s) for s in set_)
    if not (ids or reason or department or redrive_all):
        fail("name dead letters (IDs), or select them with --reason, --department or --all", 2)
    with operator_errors():
        _authorize()
        redriven = read_redriven(_kafka(), _prefix())
        letters = read_dead_letters(_kafka(), _prefix())
        if ids:
            wanted = {":".join(map(str, parse_dead_letter_id(i))) for i in ids}
            known = {dl.id for dl in letters}
            if missing := sorted(wanted - known):
                fail(f"no such dead letter(s): {', '.join(missing)}")
            chosen = [dl for dl in letters if dl.id in wanted]
        else:
            chosen = [
                dl
                for dl in open_letters(letters, redriven)
                if matches(dl, reasons=reason, department=department)
            ]
        with _progress() as progress:
            task = progress.add_task("re-drive", total=len(chosen))
            outcomes = redrive(
                _kafka(),
                chosen,
                prefix=_prefix(),
                corrections=corrections,
                on_progress=lambda _: progress.advance(task),
            )
    console.print(redrive_table(outcomes))
    if any(o.status != "redriven" for o in outcomes):
        raise typer.Exit(3)


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        fail(f"--set {text!r}: expected FIELD=VALUE (English field name)", 2)
    return name.strip(), value


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    group: list[str] = typer.Option([], "--group", help="Also show this consumer group's lag."),
    partitions: bool = typer.Option(
        False, "--partitions", help="Lag per partition (default: per group and topic)."
    ),
) -> None:
    """Service health, consumer lag, counts per stage, rejected, parked and open notices."""
    from rich.table import Table

    from creditsync.health import check_services
    from creditsync.ops.render import status_tables
    from creditsync.ops.status import collect_status

    checks = check_services()
    healthy = all(c.ok for c in checks)
    pipeline: Any = None
    # Lag and counts need only Kafka: shown also while Redis is down.
    if any(c.ok for c in checks if c.name == "kafka"):
        with operator_errors():
            pipeline = collect_status(
                _kafka(), _prefix(), StreamSettings().worker_id, extra_groups=group
            )
    from creditsync.runtime import PROCESSES_FILE
    from streams.runtime.children import read_status

    # What a running `creditsync run` has started (its file; absent: no run, or threads only).
    children = read_status(DataSettings().data_dir / PROCESSES_FILE)
    if as_json:
        body = {
            "services": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
            **(pipeline.as_dict() if pipeline else {}),
            "processes": children["processes"] if children else [],
        }
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        table = Table("service", "state", "detail")
        for c in checks:
            state = "[green]up[/green]" if c.ok else "[red]down[/red]"
            table.add_row(c.name, state, escape(c.detail))
        console.print(table)
        for extra in status_tables(pipeline, partitions) if pipeline else []:
            console.print(extra)
        if children:
            procs = Table(
                "process", "kind", "pid", "restarts", "last exit",
                title=f"processes of creditsync run (pid {children['parent']})",
            )  # fmt: skip
            for p in children["processes"]:
                pid = str(p["pid"]) if p["pid"] is not None else "restarting"
                procs.add_row(p["name"], p["kind"], pid, str(p["restarts"]), p["last_exit"] or "")
            console.print(procs)
    if not healthy:
        raise typer.Exit(1)


def sql(
    query: str = typer.Argument(..., metavar='"SELECT …"'),
    fmt: str = typer.Option("table", "--format", help="table | csv | xlsx | json"),
    output: Path | None = typer.Option(
        None, "--output", help="Write to this file (csv/json: default stdout)."
    ),
) -> None:
    """One read-only analytics query: a single SELECT, checked by ClickHouse's parser."""
    from creditsync.ops.render import query_table
    from creditsync.ops.sqlclient import run_sql
    from creditsync.report_cli import write_sheet
    from creditsync.reports.export import Sheet
    from sinks.errors import ReadOnlyQueryRefused

    dsn = _clickhouse_dsn()
    if dsn is None:
        fail("ClickHouse is off (CREDITSYNC_CLICKHOUSE_DSN=off)")
    http = HttpSettings()
    try:
        result, route = run_sql(
            query,
            dsn=dsn or "",
            database=ClickHouseSettings().clickhouse_database,
            data_dir=DataSettings().data_dir.resolve(),
            http_base=f"http://{http.http_host}:{http.http_port}",
        )
    except ReadOnlyQueryRefused as exc:
        fail(str(exc), 2)
    except CreditSyncError as exc:
        fail(str(exc), 1)
    if fmt == "table" and output is None:
        console.print(query_table(result, f"{len(result.rows)} row(s) — {route.via}"))
        return
    body = {"columns": result.columns, "rows": [list(r) for r in result.rows]}
    try:
        write_sheet(Sheet("query", result.columns, result.rows), fmt, output, body)
    except CreditSyncError as exc:
        fail(str(exc), 1)


notices_app = typer.Typer(help="Joint-punishment notices (联合惩戒通知) awaiting feedback.")


@notices_app.command("list")
def notices_list(
    department: str = typer.Option(
        "", "--department", help="Only this receiving department (name or part of it)."
    ),
    limit: int = typer.Option(0, "--limit", help="At most this many (0: all)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    fmt: str = typer.Option("table", "--format", help="table | csv | xlsx | json"),
    output: Path | None = typer.Option(
        None, "--output", help="Write to this file (csv/json: default stdout; xlsx: needed)."
    ),
) -> None:
    """Every open notice, oldest first: those `creditsync status` only counts."""
    from dataclasses import asdict

    from creditsync.ops.render import notice_table
    from creditsync.ops.status import collect_open_notices, notice_sheet
    from creditsync.report_cli import write_sheet

    with operator_errors():
        found = collect_open_notices(_kafka(), _prefix())
    shown = [n for n in found if department in n.department]
    shown = shown[:limit] if limit > 0 else shown
    fmt = "json" if as_json else fmt
    if fmt == "table" and output is None:
        console.print(notice_table(shown, f"{len(shown):,} open notice(s), oldest first"))
        return
    with operator_errors():
        write_sheet(notice_sheet(shown), fmt, output, [asdict(n) for n in shown])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `creditsync` app."""
    app.command(help=paragraphs(REPLAY_HELP))(replay)
    app.add_typer(rejected_app, name="rejected")
    app.add_typer(notices_app, name="notices")
    # Replaces cli.py's health-only `status`, keeping its health table first.
    app.command("status")(status)
    app.command("sql", help=paragraphs(SQL_HELP))(sql)
