"""Rich tables of the operator commands' results (the CLI stays a thin layer over ops/).

Every value that came from a department, a record or a query is put in a table as `Text`
(`plain()`), never as a str: rich parses a str as markup, so a 序号 of `[/]` crashed
`creditsync rejected list` and `[bold red]` restyled the table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from creditsync.ops.dead_letters import DeadLetter
from creditsync.ops.rejected import RedriveOutcome
from creditsync.ops.status import PipelineStatus
from schemas.kafka.lag import lag_by_topic
from schemas.personal_ids import mask_resident_ids
from sinks.clickhouse import QueryResult


def plain(value: object) -> Text:
    """A value shown exactly as it is: never read as rich markup."""
    return Text("" if value is None else str(value))


def replay_table(report: dict[str, Any]) -> Table:
    """A replay's report (ReplayReport.as_dict(): made here, or by the running server)."""
    dry_run = report["dry_run"]
    verb = "would apply" if dry_run else "applied"
    title = (
        f"replay of {escape(report['topic'])}: read {report['read']:,} of "
        f"{report['to_read']:,}, selected {report['selected']:,}"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    columns = ["sink", verb, "skipped (not newer)", "not applicable", "rejected"]
    columns.append("distinct items that would change" if dry_run else "older versions left out")
    table = Table(*columns, title=title)
    for name, tally in report["sinks"].items():
        row: list[Text | str] = [
            plain(name),
            f"{tally['applied']:,}",
            f"{tally['skipped_not_newer']:,}",
            f"{tally['not_applicable']:,}",
            f"{tally['rejected']:,}",
        ]
        if dry_run:
            row.append(f"{report['items_changed'].get(name, 0):,}")
        else:
            row.append(f"{tally.get('collapsed', 0):,}")
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
        shown_id = plain(dl.id)
        if dl.id in redriven:
            shown_id.append(" (re-driven)", style="dim")
        table.add_row(
            shown_id,
            dl.rejected_at.strftime("%Y-%m-%d %H:%M:%S"),
            plain(dl.stage),
            plain(dl.reason_code),
            plain(dl.department),
            plain(dl.category),
            plain(dl.field),
            plain(_short(dl.message, 120)),
        )
    return table


def dead_letter_detail(letter: DeadLetter, original: dict[str, Any], redrive: Any) -> Table:
    table = Table("", "", title=f"dead letter {escape(letter.id)}", show_header=False)
    table.add_row("rejected at", letter.rejected_at.isoformat())
    table.add_row("stage / reason", plain(f"{letter.stage} / {letter.reason_code}"))
    table.add_row("field", plain(letter.field))
    table.add_row("message", plain(letter.message))
    table.add_row("came from", plain(letter.origin))
    table.add_row(
        "re-drive", plain(f"{letter.redrive_kind}" + (f" — done: {redrive}" if redrive else ""))
    )
    for name, value in letter.headers:
        shown = mask_resident_ids((value or b"").decode("utf-8", "replace"))
        table.add_row(plain(f"header {name}"), plain(shown))
    record = json.dumps(original.get("record", original), ensure_ascii=False, indent=2, default=str)
    table.add_row(plain(f"original ({original['format']})"), plain(mask_resident_ids(record)))
    return table


def redrive_table(outcomes: Sequence[RedriveOutcome]) -> Table:
    table = Table("ID", "result", "how", "to", "detail", title="re-drive")
    for o in outcomes:
        shown = (
            Text("re-driven", style="green")
            if o.status == "redriven"
            else Text("still rejected", style="red")
        )
        table.add_row(plain(o.id), shown, plain(o.kind), plain(o.target_topic), plain(o.detail))
    return table


def lag_table(status: PipelineStatus, partitions: bool = False) -> Table:
    """Lag per group and topic (partitions committed on / all), or with `partitions` a row
    per partition (about 150 for the demo)."""
    if partitions:
        lag = Table("group", "topic", "partition", "committed", "end", "lag", title="consumer lag")
        for x in status.lag:
            lag.add_row(
                plain(x.group),
                plain(x.topic),
                str(x.partition),
                "—" if x.committed is None else str(x.committed),
                str(x.high),
                f"{x.lag:,}",
            )
    else:
        lag = Table(
            "group",
            "topic",
            "partitions committed",
            "lag",
            title="consumer lag (--partitions: each)",
        )
        for t in lag_by_topic(status.lag):
            lag.add_row(
                plain(t.group),
                plain(t.topic),
                f"{t.committed_partitions} / {t.partitions}",
                f"{t.lag:,}",
            )
    if not status.lag:
        empty = ["(no committed offsets: the workers have not run)"]
        lag.add_row(*empty, *[""] * (len(lag.columns) - 1))
    return lag


def status_tables(status: PipelineStatus, partitions: bool = False) -> list[Table]:
    lag = lag_table(status, partitions)
    stages = Table("stage", "messages", title="counts per stage")
    for name, value in status.stage_counts.items():
        stages.add_row(plain(name), f"{value:,}")
    stages.add_row(
        "rejected (open / total)", f"{status.rejected_open:,} / {status.rejected_total:,}"
    )
    parked = status.parked
    age = "" if parked.oldest_age_seconds is None else f", oldest {_age(parked.oldest_age_seconds)}"
    stages.add_row("parked (waiting / released)", f"{parked.waiting:,} / {parked.released:,}{age}")
    stages.add_row("joint-punishment notices open", f"{len(status.notices):,}")
    for group, seconds in sorted(status.stalled.items()):
        stages.add_row(group, f"[red]stalled: lag with no commit for {seconds:,.0f} s[/red]")
    if not status.notices:
        return [lag, stages]
    from creditsync.ops.status import OLDEST_SHOWN, notices_by_department

    counts = Table("department", "stage", "open", title="open joint-punishment notices")
    for row in notices_by_department(status.notices):
        counts.add_row(plain(row["department"]), plain(row["stage"]), f"{row['notices']:,}")
    oldest = notice_table(
        status.notices[:OLDEST_SHOWN],
        f"the oldest {min(OLDEST_SHOWN, len(status.notices))} "
        f"(all {len(status.notices):,}: creditsync notices list)",
    )
    return [lag, stages, counts, oldest]


def notice_table(notices: Any, title: str) -> Any:
    """Open notices, one per row (status shows the oldest, `notices list` all)."""
    table = Table("notice", "department", "enterprise", "stage", "sent", "age (days)",
                  title=title)  # fmt: skip
    for n in notices:
        table.add_row(
            plain(n.notice_id),
            plain(n.department),
            plain(f"{n.canonical_name} {n.uscc}"),
            plain(n.stage),
            plain(n.initiated_on),
            str(n.age_days),
        )
    return table


def query_table(result: QueryResult, title: str) -> Table:
    table = Table(*(Column(header=plain(c)) for c in result.columns), title=escape(title))
    for row in result.rows:
        table.add_row(*(plain(_cell(v)) for v in row))
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
