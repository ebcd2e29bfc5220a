"""Shared fixtures: real services started once per session, isolated names per test.

Kafka (KRaft, from the Maven-resolved jars) and redis-server run on free ports in a
temporary directory and are stopped by pid at the end, also when tests fail. ClickHouse is
embedded (chdb) in a fresh temporary directory per session. Each test that needs topics gets
its own prefix and consumer group, so tests never see each other's data.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from creditsync import services
from schemas.pii_crypto import PiiKeyring, install_keyring
from tests import leaks

# The keys ID numbers are sealed and hashed with in tests, in this process and (through the
# environment) in the CLI processes tests start; in-process workers get TEST_HASH_KEY too.
TEST_KEYRING_SPEC = "test-1:" + base64.b64encode(bytes(range(32))).decode()
TEST_KEYRING = PiiKeyring.parse(TEST_KEYRING_SPEC)
TEST_HASH_KEY = "creditsync-tests-only-pii-hash-key"


@pytest.fixture(autouse=True, scope="session")
def pii_keyring() -> Iterator[PiiKeyring]:
    saved = {
        k: os.environ.get(k) for k in ("CREDITSYNC_PII_ENCRYPTION_KEYS", "CREDITSYNC_PII_HASH_KEY")
    }
    os.environ["CREDITSYNC_PII_ENCRYPTION_KEYS"] = TEST_KEYRING_SPEC
    os.environ["CREDITSYNC_PII_HASH_KEY"] = TEST_HASH_KEY
    install_keyring(TEST_KEYRING)
    try:
        yield TEST_KEYRING
    finally:
        install_keyring(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fails (as an error at teardown) a test that leaves behind threads or child processes
    it started, or a changed environment (tests/leaks.py). Autouse fixtures of the function
    scope are set up before the test's other function-scoped fixtures and torn down after
    them, while session- and module-scoped services are already up when the snapshot is
    taken: those outlive tests by design and are not counted."""
    before = leaks.snapshot()
    yield
    threads = leaks.new_threads(before)
    processes = leaks.new_processes(before)
    environ = leaks.environ_changes(before)
    if environ:
        leaks.restore_environ(before)
    if processes:
        leaks.kill(processes)
    if threads or processes or environ:
        pytest.fail(leaks.report(threads, processes, environ), pytrace=False)


@pytest.fixture(scope="session")
def service_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url(service_root: Path) -> Iterator[str]:
    port = services.free_port()
    managed = services.start_redis(service_root / "redis", port)
    leaks.outlives_tests(managed.pid())  # also asked for lazily (publicity_redis_url)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        managed.stop()


def _cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too and below 65536."""
    ports: list[int] = []
    while len(ports) < count:
        port = services.free_port()
        if port < 55000 and port not in ports and not services.port_open("127.0.0.1", port + 10000):
            ports.append(port)
    return ports


@pytest.fixture(scope="session")
def redis_cluster_url(service_root: Path) -> Iterator[str]:
    """A Redis Cluster of three masters (issue #18), started on first use, stopped by pid."""
    ports = _cluster_ports(3)
    managed = services.start_redis_cluster(service_root / "redis-cluster", ports)
    for node in managed:
        # Often first asked for by a parametrized fixture (getfixturevalue) in some test's
        # setup: a session service, not that test's leak.
        leaks.outlives_tests(node.pid())
    try:
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for node in managed:
            node.stop()


@pytest.fixture(params=["single", "cluster"])
def publicity_redis_url(request: pytest.FixtureRequest) -> str:
    """The publicity index's Redis, both ways: one server (the default) and a cluster."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster_url")
    return request.getfixturevalue("redis_url")


@pytest.fixture
def publicity_redis(publicity_redis_url: str):
    """A client of `publicity_redis_url`, emptied (every node of a cluster) before the test."""
    from sinks.redis_client import open_redis

    client = open_redis(publicity_redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(service_root: Path) -> Iterator[str]:
    port, controller = services.free_port(), services.free_port()
    managed = services.start_kafka(service_root / "kafka", port, controller)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        managed.stop()


@pytest.fixture
def redis_client(redis_url: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def chdb_dsn(service_root: Path) -> str:
    return f"chdb://{service_root / 'clickhouse'}"


@pytest.fixture
def clickhouse_database() -> str:
    """A fresh database name per test (clickhouse-connect's own isolation habit)."""
    return f"cs_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic_prefix() -> str:
    """A per-test prefix for every topic and consumer group it uses."""
    return f"t{uuid.uuid4().hex[:10]}."
