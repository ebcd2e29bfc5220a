"""The SQL poller against SQLite and a real PostgreSQL (Debian's server, started here), on the
real broker: a restart neither skips nor repeats rows — equal timestamps, a crash between
publishing and storing the position, and an unreachable broker included."""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from creditsync import services
from creditsync.local import create_topics
from producers.changefeed import FeedPublisher, PositionStore, SqlPoller, parse_mapping
from producers.publisher import KafkaPublisher, PublishFailed
from schemas.codec import decode_intake
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import intake_topic, topic_specs
from tests import leaks
from tests.intake_factory import enterprise_codes

pytestmark = pytest.mark.integration
T0 = dt.datetime(2024, 3, 4, 10, 0, 0)


def _postgres_bindir() -> Path | None:
    """Debian keeps the server programs under /usr/lib/postgresql/<version>/bin."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parts[-3])
    except ValueError:
        return 0.0


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        pytest.skip(
            "PostgreSQL server not installed (initdb/postgres): apt-get install -y postgresql"
        )
    # initdb refuses to run as root: run the server as the postgres user in a directory it owns.
    as_user: dict = {}
    root = Path(tempfile.mkdtemp(prefix="creditsync-pg-"))
    if os.geteuid() == 0:
        import pwd

        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid}
    data = root / "data"
    log = root / "postgres.log"
    subprocess.run(
        [bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-locale"],
        check=True, capture_output=True, timeout=120, **as_user,
    )  # fmt: skip
    port = services.free_port()
    with open(log, "ab") as out:
        server = subprocess.Popen(
            [bindir / "postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", root,
             "-c", "fsync=off"],
            stdout=out, stderr=subprocess.STDOUT, **as_user,
        )  # fmt: skip
    # Started during the first postgresql case's setup (getfixturevalue), kept for the session.
    leaks.outlives_tests(server.pid)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    try:
        services.wait_until(lambda: services.port_open("127.0.0.1", port), 60, "postgres", server)
        yield url
    finally:
        server.send_signal(signal.SIGINT)  # "fast" shutdown, by the pid we started
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'department.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def penalties_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("credit_code", sa.String(32)),
        sa.Column("ent_name", sa.String(200)),
        sa.Column("doc_no", sa.String(100)),
        sa.Column("authority", sa.String(200)),
        sa.Column("decided_on", sa.Date),
        sa.Column("violation", sa.String(200)),
        sa.Column("fine", sa.Numeric(14, 2)),
        sa.Column("kind", sa.String(50)),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def mapping(table: str):
    return parse_mapping(
        {
            "department": {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
            "tables": [
                {
                    "table": table,
                    "category": "penalty",
                    "key_columns": ["id"],
                    "sequence_column": "updated_at",
                    "columns": {
                        "credit_code": "统一社会信用代码（企业注册号）",
                        "ent_name": "企业名称",
                        "doc_no": "行政处罚决定书文号",
                        "authority": "作出行政处罚决定机关名称",
                        "decided_on": "作出行政处罚决定日期",
                        "violation": "违法行为类型",
                        "fine": "罚款金额",
                        "kind": "处罚种类",
                    },
                }
            ],
        }
    )


def row(number: int, updated_at: dt.datetime, fine: str = "1000.00") -> dict:
    return {
        "id": number,
        "credit_code": enterprise_codes(number)["uscc"],
        "ent_name": "测试企业",
        "doc_no": f"宁环罚〔2024〕{number}号",
        "authority": "宁夏回族自治区生态环境厅",
        "decided_on": dt.date(2024, 3, 4),
        "violation": "超标排放",
        "fine": Decimal(fine),
        "kind": "罚款",
        "updated_at": updated_at,
    }


def drain(bootstrap: str, topic: str, group: str) -> list[dict]:
    consumer = Consumer(client_config(kafka_at(bootstrap), group_id=group))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found, idle = [], 0
    try:
        while idle < 4:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 1
            elif msg.error() is None:
                found.append(decode_intake(msg.value()))
                idle = 0
    finally:
        consumer.close()
    return found


def poll(engine, table, bootstrap, redis_url, prefix, data_dir, publisher=None) -> SqlPoller:
    client = redis.Redis.from_url(redis_url)
    kafka = publisher or KafkaPublisher(kafka_at(bootstrap))
    try:
        sink = FeedPublisher(kafka, client, "hb-640000", topic_prefix=prefix, publish_timeout=8)
        poller = SqlPoller(mapping(table), engine, sink, data_dir, batch_size=2, settle_seconds=0)
        poller.poll_once()
        return poller
    finally:
        kafka.close()
        client.close()


def test_a_restart_neither_skips_nor_repeats_rows(
    engine, kafka_bootstrap, redis_url, redis_client, topic_prefix, tmp_path
):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(topic_prefix, partitions=2))
    name = f"penalties_{topic_prefix.strip('.')}"
    table = penalties_table(name)
    table.metadata.create_all(engine)
    feed = (engine, name, kafka_bootstrap, redis_url, topic_prefix, tmp_path / "data")
    intake = intake_topic("penalty", topic_prefix)
    t1, t2, t3 = (T0 + dt.timedelta(minutes=m) for m in (1, 2, 3))
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(1, T0), row(2, t1), row(3, t1)])

    first = poll(*feed)
    assert first.stats.published == 3
    store = PositionStore.under(tmp_path / "data", "hb-640000", name)
    saved = store.path.read_bytes()

    # More rows: one stamped exactly like the last row read, one later, and row 1 changed.
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(4, t1), row(5, t2)])
        conn.execute(
            table.update().where(table.c.id == 1).values(fine=Decimal("5000.00"), updated_at=t3)
        )
    second = poll(*feed)
    assert (second.stats.published, second.stats.already_published) == (3, 0)
    events = drain(kafka_bootstrap, intake, f"{topic_prefix}a")
    keys = sorted((e["record_key"], str(e["payload"]["fine_amount"])) for e in events)
    assert keys == [
        ("宁环罚〔2024〕1号", "1000.00"),
        ("宁环罚〔2024〕1号", "5000.00"),
        ("宁环罚〔2024〕2号", "1000.00"),
        ("宁环罚〔2024〕3号", "1000.00"),
        ("宁环罚〔2024〕4号", "1000.00"),
        ("宁环罚〔2024〕5号", "1000.00"),
    ]
    changed = [e for e in events if e["record_key"] == "宁环罚〔2024〕1号"]
    assert max(changed, key=lambda e: e["source_sequence"])["payload"]["fine_amount"] == 5000

    # A crash after publishing but before storing the position: the batch comes again,
    # and the ledger makes it "already published".
    store.path.write_bytes(saved)
    repeated = poll(*feed)
    assert (repeated.stats.published, repeated.stats.already_published) == (0, 3)

    # Kafka unreachable: the poller stops with the error and keeps its position.
    with engine.begin() as conn:
        conn.execute(table.insert(), [row(6, t3)])
    before = store.path.read_bytes()
    nowhere = KafkaPublisher(
        kafka_at(f"127.0.0.1:{services.free_port()}"), extra_config={"message.timeout.ms": 2000}
    )
    with pytest.raises(PublishFailed):
        poll(*feed, publisher=nowhere)
    assert store.path.read_bytes() == before
    resumed = poll(*feed)
    assert (resumed.stats.read, resumed.stats.published) == (1, 1)
    final = drain(kafka_bootstrap, intake, f"{topic_prefix}b")
    assert len(final) == 7
    assert sum(e["record_key"] == "宁环罚〔2024〕6号" for e in final) == 1
