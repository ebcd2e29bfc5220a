"""The `creditsync` console script: the composition root that wires settings to components."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from creditsync.errors import CreditSyncError
from creditsync.health import check_services
from creditsync.local import LocalStack

app = typer.Typer(
    help="creditsync: enterprise credit records from government departments, kept in sync.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def up() -> None:
    """Start the local Kafka (KRaft) and Redis under the data dir and create the topics."""
    try:
        for line in LocalStack.from_settings().up():
            console.print(f"[green]✓[/green] {line}")
    except CreditSyncError as exc:
        fail(str(exc))


@app.command()
def down() -> None:
    """Stop the local Kafka and Redis that `up` started (by their pids)."""
    stopped = LocalStack.from_settings().down()
    console.print("\n".join(stopped) if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Health of each service (and, with a running pipeline, lag and counts per stage)."""
    table = Table("service", "state", "detail")
    healthy = True
    for check in check_services():
        healthy &= check.ok
        table.add_row(
            check.name, "[green]up[/green]" if check.ok else "[red]down[/red]", check.detail
        )
    console.print(table)
    if not healthy:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry
    app()
