"""Rich tables of the operator commands' results (the CLI stays a thin layer over ops/)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from rich.table import Column, Table

from creditsync.ops.dead_letters import DeadLetter
from creditsync.ops.rejected import RedriveOutcome
from creditsync.ops.replay import ReplayReport
from creditsync.ops.status import PipelineStatus
from schemas.personal_ids import mask_resident_ids
from sinks.clickhouse import QueryResult


def replay_table(report: ReplayReport) -> Table:
    verb = "would apply" if report.dry_run else "applied"
    title = (
        f"replay of {report.topic}: read {report.read:,} of {report.to_read:,}, "
        f"selected {report.selected:,}" + (" (dry run: nothing written)" if report.dry_run else "")
    )
    columns = ["sink", verb, "skipped (not newer)", "not applicable", "rejected"]
    if report.dry_run:
        columns.append("distinct items that would change")
    table = Table(*columns, title=title)
    for name, tally in report.sinks.items():
        row = [
            name,
            f"{tally.applied:,}",
            f"{tally.skipped_not_newer:,}",
            f"{tally.not_applicable:,}",
            f"{len(tally.rejected):,}",
        ]
        if report.dry_run:
            row.append(f"{report.items_changed.get(name, 0):,}")
        table.add_row(*row)
    return table


def dead_letters_table(letters: Sequence[DeadLetter], redriven: dict[str, Any]) -> Table:
    table = Table(
        # IDs are copied into `rejected show` / `redrive`: never wrapped.
        Column("ID", no_wrap=True),
        "rejected at (UTC)",
        "stage",
        "reason",
        "department",
        "category",
        "field",
        "message",
        title=f"{len(letters)} dead letter(s)",
    )
    for dl in letters:
        state = " [dim](re-driven)[/dim]" if dl.id in redriven else ""
        table.add_row(
            dl.id + state,
            dl.rejected_at.strftime("%Y-%m-%d %H:%M:%S"),
            dl.stage,
            dl.reason_code,
            dl.department or "",
            dl.category or "",
            dl.field or "",
            _short(dl.message, 120),
        )
    return table


def dead_letter_detail(letter: DeadLetter, original: dict[str, Any], redrive: Any) -> Table:
    table = Table("", "", title=f"dead letter {letter.id}", show_header=False)
    table.add_row("rejected at", letter.rejected_at.isoformat())
    table.add_row("stage / reason", f"{letter.stage} / {letter.reason_code}")
    table.add_row("field", letter.field or "")
    table.add_row("message", letter.message)
    table.add_row("came from", letter.origin)
    table.add_row("re-drive", f"{letter.redrive_kind}" + (f" — done: {redrive}" if redrive else ""))
    for name, value in letter.headers:
        shown = mask_resident_ids((value or b"").decode("utf-8", "replace"))
        table.add_row(f"header {name}", shown)
    record = json.dumps(original.get("record", original), ensure_ascii=False, indent=2, default=str)
    table.add_row(f"original ({original['format']})", mask_resident_ids(record))
    return table


def redrive_table(outcomes: Sequence[RedriveOutcome]) -> Table:
    table = Table("ID", "result", "how", "to", "detail", title="re-drive")
    for o in outcomes:
        shown = (
            "[green]re-driven[/green]" if o.status == "redriven" else "[red]still rejected[/red]"
        )
        table.add_row(o.id, shown, o.kind, o.target_topic or "", o.detail)
    return table


def status_tables(status: PipelineStatus) -> list[Table]:
    lag = Table("group", "topic", "partition", "committed", "end", "lag", title="consumer lag")
    for x in status.lag:
        lag.add_row(
            x.group,
            x.topic,
            str(x.partition),
            "—" if x.committed is None else str(x.committed),
            str(x.high),
            f"{x.lag:,}",
        )
    if not status.lag:
        lag.add_row("(no committed offsets: the workers have not run)", "", "", "", "", "")
    stages = Table("stage", "messages", title="counts per stage")
    for name, value in status.stage_counts.items():
        stages.add_row(name, f"{value:,}")
    stages.add_row(
        "rejected (open / total)", f"{status.rejected_open:,} / {status.rejected_total:,}"
    )
    parked = status.parked
    age = "" if parked.oldest_age_seconds is None else f", oldest {_age(parked.oldest_age_seconds)}"
    stages.add_row("parked (waiting / released)", f"{parked.waiting:,} / {parked.released:,}{age}")
    stages.add_row("joint-punishment notices open", f"{len(status.notices):,}")
    notices = Table(
        "notice",
        "department",
        "enterprise",
        "stage",
        "sent",
        "age (days)",
        title="open joint-punishment notices (oldest first)",
    )
    for n in status.notices[:20]:
        notices.add_row(
            n.notice_id[:8],
            n.department,
            f"{n.canonical_name} {n.uscc}",
            n.stage,
            n.initiated_on,
            str(n.age_days),
        )
    return [lag, stages, notices] if status.notices else [lag, stages]


def query_table(result: QueryResult, title: str) -> Table:
    table = Table(*result.columns, title=title)
    for row in result.rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"
