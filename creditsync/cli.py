"""The `creditsync` console script: the composition root that wires settings to components."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from creditsync.bench_cli import register as register_bench
from creditsync.early_stop import exit_cleanly_on_sigterm
from creditsync.errors import CreditSyncError
from creditsync.feeds_cli import register as register_feeds
from creditsync.local import LocalStack
from creditsync.ops_cli import register as register_ops
from creditsync.owner_cli import register as register_owner
from creditsync.report_cli import register as register_report

app = typer.Typer(
    help="creditsync: enterprise credit records from government departments, kept in sync.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()


@app.callback()
def configure_wire_format() -> None:
    """Every command encodes as configured (Confluent's frame when a registry is set) and
    refuses incomplete TLS and SASL settings (each command reads them and passes them to its
    Kafka clients); its logs mask ID numbers, and it refuses shared services without the PII
    keys (creditsync/pii_keys.py)."""
    from creditsync.log_privacy import install_log_masking
    from creditsync.pii_keys import prepare_pii_keys
    from creditsync.settings import KafkaSettings
    from schemas import confluent
    from schemas.kafka.config import settings_error

    install_log_masking()
    # First: every later step (the PII key check too) reads these settings.
    try:
        kafka = KafkaSettings()
    except ValueError as exc:
        fail(settings_error(exc))
    try:
        prepare_pii_keys()
    except CreditSyncError as exc:
        fail(str(exc))
    confluent.configure(kafka.schema_registry_url)


def fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


@app.command()
def up() -> None:
    """Start the local Kafka (KRaft) and Redis under the data dir and create the topics."""
    try:
        for line in LocalStack.from_settings().up():
            console.print(f"[green]✓[/green] {escape(line)}")
    except CreditSyncError as exc:
        fail(str(exc))


@app.command()
def down() -> None:
    """Stop the local Kafka and Redis that `up` started (by their pids)."""
    stopped = LocalStack.from_settings().down()
    console.print("\n".join(stopped) if stopped else "nothing was running")


@app.command()
def run(
    demo: bool = typer.Option(False, "--demo", help="Add a synthetic agency feed."),
    demo_rate: float = typer.Option(20.0, help="Demo events per second."),
    no_local_services: bool = typer.Option(
        False, help="Do not start Kafka/Redis here; use those the settings name."
    ),
    processes: int | None = typer.Option(
        None,
        "--processes",
        min=0,
        max=64,
        help="Child processes of each kind (the stages, each sink); 0: all on threads of "
        "this one process. Default: CREDITSYNC_STAGE_PROCESSES (1).",
    ),
) -> None:
    """The main job: the HTTP server and operations here, the stream stages and sinks in
    supervised child processes (restarted when they die), until Ctrl-C."""
    exit_cleanly_on_sigterm()
    from creditsync.runtime import run_main_job

    try:
        raise typer.Exit(
            run_main_job(
                demo=demo,
                demo_rate=demo_rate,
                start_local=not no_local_services,
                console=console,
                processes=processes,
            )
        )
    except CreditSyncError as exc:
        fail(str(exc))


@app.command()
def worker(
    stages: str = typer.Option(
        "intake,items,sinks",
        help="Comma-separated stages to run: intake, items, sinks (both sinks), or one sink: "
        "clickhouse (with the operations loop), publicity.",
    ),
    metrics_port: int = typer.Option(
        0,
        "--metrics-port",
        envvar="CREDITSYNC_WORKER_METRICS_PORT",
        help="Serve this worker's Prometheus metrics (stage and sink counters, end-to-end "
        "latency) at http://<CREDITSYNC_HTTP_HOST>:PORT/metrics; 0: off.",
    ),
) -> None:
    """Only the stream workers (no HTTP server), one process that exits non-zero when a loop
    fails; run several for more throughput."""
    exit_cleanly_on_sigterm()
    import logging

    from creditsync.runtime import KNOWN_STAGES, run_main, worker_config
    from streams.runtime.children import PARENT_PID_ENV, ParentWatch
    from streams.runtime.malloc_arenas import cap_malloc_arenas

    cap_malloc_arenas()  # before Kafka's and RocksDB's threads start

    names = tuple(s.strip() for s in stages.split(",") if s.strip())
    unknown = sorted(set(names) - KNOWN_STAGES)
    if unknown or not names:
        fail(f"--stages {stages!r}: unknown {unknown}; expected some of {sorted(KNOWN_STAGES)}", 2)

    logging.basicConfig(
        level=os.environ.get("CREDITSYNC_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    if metrics_port:
        from prometheus_client import start_http_server

        from creditsync.settings import HttpSettings

        # What this process counts; /metrics of `creditsync run` also has the pipeline status.
        start_http_server(metrics_port, addr=HttpSettings().http_host)
    config = worker_config(names)
    # A child of `creditsync run` stops with its parent, even one killed with -9.
    parent = os.environ.get(PARENT_PID_ENV, "")
    watch = [("parent-watch", ParentWatch(int(parent)))] if parent.isdigit() else []
    raise typer.Exit(run_main(config, serve_http=False, extra_loops=watch))


@app.command()
def ingest(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or XLSX file"),
    department: str = typer.Option(..., "--department", help="The sending department's code"),
    category: str | None = typer.Option(
        None, "--category", help="Inferred from headers if omitted"
    ),
    backfill: bool = typer.Option(
        False,
        "--backfill",
        help="A back-load of archived records (存量): published, not counted in timeliness",
    ),
) -> None:
    """Load a CSV/XLSX in the template layout; rejected rows go to PATH.rejected.csv.

    Exit 0: all sent; 3: some rejected; 1: failed."""
    from creditsync.ingest_command import ingest_command

    try:
        raise typer.Exit(ingest_command(path, department, category, console, backfill))
    except (CreditSyncError, KeyError) as exc:
        # One line on stderr (an unknown department or category, a category it may not send
        # …), never wrapped to the terminal's width and never a traceback. KeyError: only
        # schemas.categories.category_spec raises it here, naming the known categories.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None


# Operator commands (replay, rejected, sql, status details) and the benchmark live in their
# own modules; they register themselves here.
register_ops(app)
register_bench(app)
register_feeds(app)
register_owner(app)
register_report(app)


def main() -> None:  # pragma: no cover - console entry
    app()
