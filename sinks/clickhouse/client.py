"""Connecting to ClickHouse: embedded (chdb) or a server, through one clickhouse-connect API.

`chdb:///path` embeds the real ClickHouse engine in this process. chdb allows one data path
per process (a second path raises), and its clients share that engine; databases inside it
work as on a server. `http(s)://host:8123/db` talks to a server; `…/db?cluster=name` to a
server of that cluster (sinks/clickhouse/cluster.py): the database is created ON CLUSTER, the
migrations make replicated and Distributed tables, and inserts into Distributed tables return
only once every shard has its rows (so a committed Kafka offset means stored on the shards).
The cluster travels in the DSN (ClickHouseSettings.dsn adds CREDITSYNC_CLICKHOUSE_CLUSTER) so
that every place that already passes the DSN (workers, replay, `creditsync sql`, bench) gets it.
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from sinks.clickhouse.cluster import ClusterTarget
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


# The cluster each connected client's DDL goes to (absent: one node). Kept beside the client,
# not on it: the clickhouse-connect client is a third-party object.
_CLUSTERS: weakref.WeakKeyDictionary[Any, ClusterTarget] = weakref.WeakKeyDictionary()
# A Distributed insert answers once every shard has its part (not queued on the node first).
CLUSTER_CLIENT_SETTINGS = {"distributed_foreground_insert": 1}


def cluster_of(client: Any) -> ClusterTarget | None:
    """The cluster a client from connect_clickhouse was connected for, if any."""
    return _CLUSTERS.get(client)


def split_cluster(dsn: str) -> tuple[str, str | None]:
    """(the DSN without its `cluster` parameter, the cluster name or None)."""
    parsed = urlparse(dsn)
    params = parse_qsl(parsed.query, keep_blank_values=True)
    names = [v for k, v in params if k == "cluster"]
    if not names:
        return dsn, None
    rest = urlencode([(k, v) for k, v in params if k != "cluster"])
    return parsed._replace(query=rest).geturl(), names[-1] or None


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
    dsn, cluster_name = split_cluster(dsn)
    cluster = ClusterTarget(cluster_name, database) if cluster_name else None
    if dsn.startswith("chdb:"):
        if cluster is not None:
            raise SinkError(
                f"ClickHouse cluster {cluster.name!r} configured with the embedded chdb: a "
                "cluster needs servers (CREDITSYNC_CLICKHOUSE_DSN=http://host:8123/db)"
            )
        client = ChdbClient(clickhouse_connect.get_client(dsn=dsn))
    elif dsn.startswith(("http://", "https://")):
        # Connect to `default` first: the database may not exist yet.
        parsed = urlparse(dsn)
        client = clickhouse_connect.get_client(
            dsn=parsed._replace(path="/default").geturl(),
            database="default",
            settings=CLUSTER_CLIENT_SETTINGS if cluster else None,
        )
    else:
        raise SinkError(
            f"ClickHouse DSN {redact_dsn(dsn)!r}: expected chdb:///<data dir> or http(s)://host:port/db"
        )
    try:
        on_cluster = f" ON CLUSTER {cluster.name}" if cluster else ""
        client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`{on_cluster}")
        client.database = database
    except Exception:
        client.close()
        raise
    if cluster is not None:
        _CLUSTERS[client] = cluster
    return client
