"""The one place a Redis client is opened: a single server, or a Redis Cluster (issue #18).

`redis+cluster://host:port[/0]` (or `rediss+cluster://` for TLS), or any URL with
CREDITSYNC_REDIS_CLUSTER=true, opens a `redis.cluster.RedisCluster` that discovers the other
nodes from the one named; every other URL opens a `redis.Redis` as before. A cluster has only
database 0: a URL naming another is refused rather than silently sharing db 0.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse, urlunparse

import redis
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
CLUSTER_SETTING = "CREDITSYNC_REDIS_CLUSTER"

RedisClient = redis.Redis | RedisCluster


def cluster_requested(url: str, cluster: bool | None = None) -> bool:
    """Whether `url` (or the CREDITSYNC_REDIS_CLUSTER setting) names a cluster."""
    if urlparse(url).scheme in CLUSTER_SCHEMES:
        return True
    if cluster is not None:
        return cluster
    return os.environ.get(CLUSTER_SETTING, "").strip().lower() in ("1", "true", "yes", "on")


def plain_url(url: str) -> str:
    """The URL redis-py parses: `redis+cluster://` → `redis://` (the rest unchanged)."""
    parsed = urlparse(url)
    scheme = CLUSTER_SCHEMES.get(parsed.scheme, parsed.scheme)
    return urlunparse(parsed._replace(scheme=scheme))


def open_redis(url: str, *, cluster: bool | None = None, **kwargs: Any) -> RedisClient:
    """A client for `url`: RedisCluster for a cluster URL or setting, else redis.Redis."""
    if not cluster_requested(url, cluster):
        return redis.Redis.from_url(url, **kwargs)
    plain = plain_url(url)
    db = urlparse(plain).path.strip("/")
    if db not in ("", "0"):
        raise ValueError(
            f"CREDITSYNC_REDIS_URL: a Redis Cluster has only database 0, the URL names {db!r}"
        )
    return RedisCluster.from_url(urlunparse(urlparse(plain)._replace(path="")), **kwargs)


def queue_evalsha(pipe: Any, sha: str, keys: list[str], args: list[Any]) -> None:
    """Queue an EVALSHA on a pipeline of either kind.

    redis-py's ClusterPipeline blocks its `evalsha` method (a script may name keys of several
    slots); the command itself is routed by its keys' slot, and refused when they span
    several, so the scripts here — each touching one slot — are queued as plain commands."""
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)


def is_cluster(client: Any) -> bool:
    """Whether a client (or a pipeline of one) talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)
