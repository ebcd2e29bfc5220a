"""Connecting to ClickHouse: embedded (chdb) or a server, through one clickhouse-connect API.

`chdb:///path` embeds the real ClickHouse engine in this process. chdb allows one data path
per process (a second path raises), and its clients share that engine; databases inside it
work as on a server. `http(s)://host:8123/db` talks to a server.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.errors import SinkError

DEFAULT_DATABASE = "creditsync"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def database_from_dsn(dsn: str) -> str | None:
    """The database named in an http(s) DSN path (`http://host:8123/db`), if any."""
    if dsn.startswith("chdb:"):
        return None  # the path of a chdb DSN is the data directory, not a database
    path = urlparse(dsn).path.strip("/")
    return path or None


def connect_clickhouse(dsn: str, database: str | None = None) -> Client:
    """A client whose current database exists: created if absent, then selected."""
    database = database or database_from_dsn(dsn) or DEFAULT_DATABASE
    if not _IDENTIFIER.match(database):
        raise SinkError(
            f"ClickHouse database name {database!r} is not a plain identifier "
            "(letters, digits, underscore; not starting with a digit)"
        )
    if dsn.startswith("chdb:"):
        client = clickhouse_connect.get_client(dsn=dsn)
    elif dsn.startswith(("http://", "https://")):
        # Connect to `default` first: the database may not exist yet.
        parsed = urlparse(dsn)
        client = clickhouse_connect.get_client(
            dsn=parsed._replace(path="/default").geturl(), database="default"
        )
    else:
        raise SinkError(
            f"ClickHouse DSN {dsn!r}: expected chdb:///<data dir> or http(s)://host:port/db"
        )
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        client.database = database
    except Exception:
        client.close()
        raise
    return client
