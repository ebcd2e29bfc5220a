"""Connecting to ClickHouse: embedded (chdb) or a server, through one clickhouse-connect API.

`chdb:///path` embeds the real ClickHouse engine in this process. chdb allows one data path
per process (a second path raises), and its clients share that engine; databases inside it
work as on a server. `http(s)://host:8123/db` talks to a server.
"""

from __future__ import annotations

import re
import threading
from typing import Any
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


# The embedded engine runs one statement at a time: the worker's sink threads and the HTTP
# server's analytics reads share it, so every call into it takes this process-wide lock.
CHDB_LOCK = threading.RLock()


class ChdbClient:
    """A clickhouse-connect chdb client whose calls never overlap (see CHDB_LOCK)."""

    def __init__(self, client: Client) -> None:
        object.__setattr__(self, "_client", client)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def serialised(*args: Any, **kwargs: Any) -> Any:
            with CHDB_LOCK:
                return attr(*args, **kwargs)

        return serialised

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._client, name, value)


def redact_dsn(dsn: str) -> str:
    """The DSN as it may be shown: a password in it (https://user:pw@host) becomes ***."""
    parsed = urlparse(dsn)
    if parsed.password is None:
        return dsn
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"{parsed.username}:***@{host}").geturl()


def connect_clickhouse(dsn: str, database: str | None = None) -> Client:
    """A client whose current database exists: created if absent, then selected."""
    database = database or database_from_dsn(dsn) or DEFAULT_DATABASE
    if not _IDENTIFIER.match(database):
        raise SinkError(
            f"ClickHouse database name {database!r} is not a plain identifier "
            "(letters, digits, underscore; not starting with a digit)"
        )
    if dsn.startswith("chdb:"):
        client = ChdbClient(clickhouse_connect.get_client(dsn=dsn))
    elif dsn.startswith(("http://", "https://")):
        # Connect to `default` first: the database may not exist yet.
        parsed = urlparse(dsn)
        client = clickhouse_connect.get_client(
            dsn=parsed._replace(path="/default").geturl(), database="default"
        )
    else:
        raise SinkError(
            f"ClickHouse DSN {redact_dsn(dsn)!r}: expected chdb:///<data dir> or http(s)://host:port/db"
        )
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        client.database = database
    except Exception:
        client.close()
        raise
    return client
