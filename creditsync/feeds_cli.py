"""`creditsync feed debezium|poll`: a department's change feed, wired to settings and services.

Thin: options become a DebeziumFeed or SqlPoller (producers.changefeed) on the configured
Kafka, Redis (ledger) and data dir. Exit codes as `creditsync ingest`: 0 all published,
3 some records rejected (on credit.rejected with reasons), 1 failed — Kafka or Redis
unreachable, a bad mapping — in which case nothing unacknowledged counts as done and a
restart resumes from the stored position.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from creditsync.errors import CreditSyncError

if TYPE_CHECKING:
    from producers.changefeed import FeedMapping, FeedPublisher, FeedStats

console = Console()
feed_app = typer.Typer(help="Change feeds of department databases (Debezium, SQL polling).")

MAPPING_HELP = "The department's mapping file (see producers/changefeed/department.example.toml)."


def register(app: typer.Typer) -> None:
    """Mount `creditsync feed …` on the main app."""
    app.add_typer(feed_app, name="feed")


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM end the feed after the batch in hand (published and committed)."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_rights(mapping: FeedMapping) -> None:
    """With a departments file configured, the mapping's department must be in it and may
    send every category it maps (UnknownDepartment / CategoryNotAllowed otherwise)."""
    from creditsync.ingest_command import department_access

    access = department_access(mapping.department["code"])
    if access is not None:
        for category in dict.fromkeys(t.category for t in mapping.tables):
            access.check(category)


def _failed(exc: Exception) -> typer.Exit:
    """The failure as one line on stderr (never wrapped to the terminal), exit code 1."""
    typer.echo(f"failed: {exc}", err=True)
    return typer.Exit(1)


def _feed_publisher(mapping_department: str) -> FeedPublisher:
    from creditsync.settings import KafkaSettings, RedisSettings, StreamSettings
    from producers.changefeed import FeedPublisher
    from producers.publisher import KafkaPublisher
    from sinks.redis_client import open_redis

    publisher = KafkaPublisher(KafkaSettings(), client_id=f"creditsync-feed-{mapping_department}")
    client = open_redis(RedisSettings().redis_url)
    return FeedPublisher(
        publisher, client, mapping_department, topic_prefix=StreamSettings().topic_prefix
    )


def _finish(stats: FeedStats, bounded: bool) -> None:
    console.print(stats.summary(), markup=False)
    if bounded and stats.rejected:
        console.print("rejected records are on credit.rejected: `creditsync rejected list`")
        raise typer.Exit(3)


@feed_app.command("debezium")
def debezium(
    mapping: Path = typer.Option(..., "--mapping", exists=True, help=MAPPING_HELP),
    topic: list[str] = typer.Option(None, "--topic", help="Source topic (overrides the file)."),
    group_id: str = typer.Option(None, help="Consumer group (default from the file)."),
    until_idle: bool = typer.Option(False, help="Stop once every partition is read to its end."),
    timeout: float = typer.Option(None, help="With --until-idle: fail after this many seconds."),
) -> None:
    """Consume Debezium change events and publish them as intake events."""
    from creditsync.settings import KafkaSettings
    from producers.changefeed import DebeziumFeed, load_mapping

    try:
        feed_mapping = load_mapping(mapping)
        _check_rights(feed_mapping)
        sink = _feed_publisher(feed_mapping.department["code"])
        feed = DebeziumFeed(
            feed_mapping,
            KafkaSettings(),
            sink,
            topics=topic or None,
            group_id=group_id,
        )
        with _stop_on_signals() as stop, sink.publisher:
            stats = feed.run(
                until_idle=until_idle,
                stop=stop.is_set,
                timeout=timeout,
                on_batch=lambda s: console.print(s.summary(), markup=False),
            )
    except CreditSyncError as exc:
        raise _failed(exc) from exc
    _finish(stats, until_idle)


@feed_app.command("poll")
def poll(
    mapping: Path = typer.Option(..., "--mapping", exists=True, help=MAPPING_HELP),
    database_url: str = typer.Option(
        None,
        envvar="CREDITSYNC_FEED_DATABASE_URL",
        help="SQLAlchemy URL of the department's database (default: the mapping's poller url).",
    ),
    table: list[str] = typer.Option(None, "--table", help="Poll only these tables."),
    once: bool = typer.Option(False, help="One pass over the tables, then exit."),
    settle_seconds: float = typer.Option(None, help="Override the mapping's settle_seconds."),
) -> None:
    """Poll the mapped tables for new and changed rows and publish them as intake events."""
    import sqlalchemy as sa

    from creditsync.settings import DataSettings
    from producers.changefeed import SqlPoller, load_mapping

    try:
        feed_mapping = load_mapping(mapping)
        _check_rights(feed_mapping)
        url = database_url or feed_mapping.poller.url
        if not url:
            raise CreditSyncError(
                "no database URL: pass --database-url, set CREDITSYNC_FEED_DATABASE_URL or "
                "[poller] url in the mapping"
            )
        engine = sa.create_engine(url)
        sink = _feed_publisher(feed_mapping.department["code"])
        poller = SqlPoller(
            feed_mapping, engine, sink, DataSettings().data_dir, settle_seconds=settle_seconds
        )
        try:
            with _stop_on_signals() as stop, sink.publisher:
                stats = poller.poll_once(table) if once else poller.run(stop, table)
        finally:
            engine.dispose()
    except (CreditSyncError, sa.exc.SQLAlchemyError, ValueError) as exc:
        # ValueError: sqlalchemy's answer to a malformed URL.
        raise _failed(exc) from exc
    for name, count in poller.invisible_rows.items():
        if count:
            console.print(f"[yellow]warning:[/yellow] {name}: {count} row(s) with a NULL sequence")
    _finish(stats, once)
