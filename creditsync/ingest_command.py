"""`creditsync ingest`: wiring settings, the publisher and the ledger around producers.ingest."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from creditsync.settings import HttpSettings, KafkaSettings, RedisSettings, StreamSettings
from producers.departments import DepartmentAccess, load_departments
from producers.errors import CategoryNotAllowed, ProducerError
from producers.ingest import ingest_file
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher, PublishFailed
from schemas.categories import category_spec
from schemas.records import Department
from sinks.redis_client import open_redis


def department_access(code: str) -> DepartmentAccess | None:
    """The department's entry in the access configuration (CREDITSYNC_DEPARTMENTS_FILE);
    None when none is configured (local runs). UnknownDepartment for a code not listed."""
    path = HttpSettings().departments_file
    if path is None:
        return None
    return load_departments(path).get(code)


def resolve_department(code: str, category: str | None = None) -> Department:
    """The department's name from the access configuration when there is one; with a
    `category`, also CategoryNotAllowed unless the configuration grants it."""
    access = department_access(code)
    if access is None:
        return Department(code=code, name=code)
    if category is not None:
        access.check(category)
    return access.department


def _count_lines(path: Path) -> int | None:
    if path.suffix.lower() != ".csv":
        return None
    # Newlines counted in 1 MiB chunks: iterating lines would read a 100 MiB line whole.
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(0, lines + (last != b"\n") - 1)


def ingest_command(
    path: Path,
    department_code: str,
    category: str | None,
    console: Console,
    backfill: bool = False,
) -> int:
    if category is not None:
        category_spec(category)  # an unknown category fails here, naming the known ones
    access = department_access(department_code)
    department = access.department if access else Department(code=department_code,
                                                             name=department_code)  # fmt: skip
    kafka, stream = KafkaSettings(), StreamSettings()
    client = open_redis(RedisSettings().redis_url)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    try:
        with (
            KafkaPublisher(kafka, client_id="creditsync-ingest") as publisher,
            progress,
        ):
            task = progress.add_task(escape(f"ingest {path.name}"), total=_count_lines(path))
            summary = ingest_file(
                path,
                department,
                publisher=publisher,
                ledger=PublishedLedger(client, stream.topic_prefix),
                category=category,  # type: ignore[arg-type]
                topic_prefix=stream.topic_prefix,
                check_category=access.check if access else None,
                progress=lambda n: progress.advance(task, n),
                backfill=backfill,
                networked=access.networked if access else True,
            )
    except PublishFailed as exc:
        console.print(
            f"[red]failed:[/red] {escape(str(exc))}; rows not acknowledged were not published"
        )
        return 1
    except CategoryNotAllowed:
        raise  # one line on stderr, as an unknown department (cli.py)
    except ProducerError as exc:
        console.print(f"[red]failed:[/red] {escape(str(exc))}")
        return 1
    finally:
        client.close()
    table = Table("", "rows", title=escape(f"{path.name} → {summary.category or '?'}"))
    if summary.declared is not None:
        # The department's own count (trailer 合计,N or PATH.total): 对账 compares it.
        table.add_row("declared (申报)", str(summary.declared))
    table.add_row("read", str(summary.read))
    table.add_row("published", str(summary.published))
    table.add_row("already published", str(summary.already_published))
    for reason, count in sorted(summary.rejected_by_reason.items()):
        table.add_row(f"rejected: {reason}", str(count))
    console.print(table)
    if summary.declared is not None and summary.declared != summary.read:
        console.print(
            f"[yellow]申报 {summary.declared} 条，实际读取 {summary.read} 条，差额 "
            f"{summary.read - summary.declared}[/yellow]"
        )
    if summary.already_published and not summary.published:
        console.print("nothing new: every row was published before")
    if summary.rejections_file:
        console.print(f"rejected rows with reasons: {summary.rejections_file}", markup=False)
    return summary.exit_code
