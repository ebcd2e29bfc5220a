"""`creditsync owner reassign|list`: a merged department's items passed to its successor.

Thin: options become a `streams.rules.ownership.Reassignment` published by
creditsync/ops/ownership.py.
Reassigning needs the operator token, as `replay` and `rejected redrive` do.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from creditsync.ops_cli import _authorize, _kafka, _prefix, console, operator_errors

owner_app = typer.Typer(
    help="Ownership of public items: only the department that created an item may change it.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(owner_app, name="owner")


def _known_name(code: str) -> str | None:
    """The department's name from the access configuration; an error for a code unknown
    there (when one is configured), since records from it could never be accepted."""
    from creditsync.ingest_command import department_access

    access = department_access(code)
    return access.name if access is not None else None


@owner_app.command("reassign")
def reassign(
    from_: str = typer.Option(..., "--from", help="The former owner (merged department)."),
    to: str = typer.Option(..., "--to", help="The department its items pass to."),
    category: str | None = typer.Option(None, help="Only items of this category."),
    reason: str = typer.Option(..., help="Why (e.g. the merger's decision); recorded."),
) -> None:
    """Records from --to may change the items --from owns, from now on (recorded on
    credit.ownership; the item's owner becomes --to when it applies its first change)."""
    from creditsync.ops.ownership import ownership_topic, publish_reassignment
    from streams.rules.ownership import Reassignment

    with operator_errors():
        _authorize()
        entry = Reassignment.new(from_, to, reason, category=category, to_name=_known_name(to))
        publish_reassignment(_kafka(), _prefix(), entry)
    scope = f"{category} items" if category else "items"
    console.print(
        f"[green]reassigned[/green] {scope} of {from_} → {to} from {entry.at.isoformat()} "
        f"(event {entry.id} on {ownership_topic(_prefix())})"
    )


@owner_app.command("list")
def list_reassignments(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every reassignment made, oldest first."""
    from creditsync.ops.ownership import read_reassignments

    with operator_errors():
        entries = read_reassignments(_kafka(), _prefix())
    if as_json:
        rows = [json.loads(e.to_json()) for e in entries]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not entries:
        console.print("no reassignments")
        return
    table = Table("at", "from", "to", "category", "reason", "id", title="ownership reassignments")
    for e in entries:
        to = f"{e.to_code} ({e.to_name})" if e.to_name else e.to_code
        table.add_row(e.at.isoformat(), e.from_code, to, e.category or "(all)", e.reason, e.id)
    console.print(table)
