"""The Debezium feed on the real broker: change events in, intake events and dead letters out,
offsets committed only after publishing, and a restart publishes nothing new."""

from __future__ import annotations

import json

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from creditsync import services
from creditsync.local import create_topics
from producers.changefeed import DebeziumFeed, FeedPublisher, parse_mapping
from producers.publisher import KafkaPublisher, PublishFailed
from schemas.codec import decode_intake
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import REJECTED, TopicSpec, intake_topic, topic_specs
from tests.intake_factory import enterprise_codes

pytestmark = pytest.mark.integration


def mapping(source_topic: str):
    return parse_mapping(
        {
            "department": {"code": "hb-640000", "name": "宁夏回族自治区生态环境厅"},
            "debezium": {"topics": [source_topic]},
            "tables": [
                {
                    "table": "public.penalties",
                    "category": "penalty",
                    "key_columns": ["id"],
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


def row(number: int, fine: str = "1000.00", code: str | None = None) -> dict:
    return {
        "id": number,
        "credit_code": code or enterprise_codes(number)["uscc"],
        "ent_name": "测试企业",
        "doc_no": f"宁环罚〔2024〕{number}号",
        "authority": "宁夏回族自治区生态环境厅",
        "decided_on": 19786,
        "violation": "超标排放",
        "fine": fine,
        "kind": "罚款",
    }


def change(op: str, lsn: int, before=None, after=None) -> bytes:
    return json.dumps(
        {
            "before": before,
            "after": after,
            "op": op,
            "ts_ms": 1709600000000 + lsn,
            "source": {
                "connector": "postgresql",
                "db": "hb",
                "schema": "public",
                "table": "penalties",
                "lsn": lsn,
            },
        }
    ).encode()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer(client_config(kafka_at(bootstrap), enable_idempotence=True))
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def drain(bootstrap: str, topic: str, group: str) -> list:
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
                found.append(msg)
                idle = 0
    finally:
        consumer.close()
    return found


@pytest.fixture
def source(kafka_bootstrap, topic_prefix):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(topic_prefix, partitions=2))
    topic = f"{topic_prefix}hbdb.public.penalties"
    create_topics(kafka_at(kafka_bootstrap), [TopicSpec(topic, 2, -1)])
    return topic


def run_feed(bootstrap, redis_url, prefix, topic, *, group=None, publisher=None) -> DebeziumFeed:
    client = redis.Redis.from_url(redis_url)
    kafka = publisher or KafkaPublisher(kafka_at(bootstrap))
    try:
        sink = FeedPublisher(kafka, client, "hb-640000", topic_prefix=prefix, publish_timeout=8)
        feed = DebeziumFeed(
            mapping(topic), kafka_at(bootstrap), sink, group_id=group, batch_size=50
        )
        feed.run(until_idle=True, timeout=90)
        return feed
    finally:
        kafka.close()
        client.close()


def test_changes_are_mapped_deletes_withdraw_and_malformed_envelopes_are_rejected(
    kafka_bootstrap, redis_url, redis_client, topic_prefix, source
):
    key = b'{"id":%d}'
    produce(kafka_bootstrap, source, [
        (key % 1, change("c", 100, after=row(1))),
        (key % 2, change("c", 101, after=row(2))),
        (key % 3, change("c", 102, after=row(3))),
        (key % 2, change("u", 103, before=row(2), after=row(2, fine="2500.00"))),
        (key % 3, change("d", 104, before=row(3))),
        (key % 3, None),  # the tombstone after the delete
        (key % 1, change("r", 105, after=row(1))),  # a snapshot re-read: nothing new
        (key % 4, b"{not json"),
        (key % 5, change("c", 106, after=row(5, code="12345"))),
    ])  # fmt: skip
    feed = run_feed(kafka_bootstrap, redis_url, topic_prefix, source)
    assert feed.stats.read == 9 and feed.stats.tombstones == 1

    published = drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}a")
    events = sorted(
        (decode_intake(m.value()) for m in published), key=lambda e: e["source_sequence"]
    )
    assert [(e["record_key"], e["operation"], e["source_sequence"]) for e in events] == [
        ("宁环罚〔2024〕1号", "upsert", 100),
        ("宁环罚〔2024〕2号", "upsert", 101),
        ("宁环罚〔2024〕3号", "upsert", 102),
        ("宁环罚〔2024〕2号", "upsert", 103),
        ("宁环罚〔2024〕3号", "withdraw", 104),
    ]
    assert str(events[3]["payload"]["fine_amount"]) == "2500.00"
    assert all(e["adapter"] == "debezium/1" for e in events)
    assert {m.key() for m in published} == {enterprise_codes(n)["uscc"].encode() for n in (1, 2, 3)}

    dead = drain(kafka_bootstrap, f"{topic_prefix}{REJECTED}", f"{topic_prefix}b")
    reasons = {dict(m.headers())["creditsync.reason_code"]: m for m in dead}
    assert set(reasons) == {b"malformed_change", b"invalid_code"}
    malformed = reasons[b"malformed_change"]
    assert malformed.value() == b"{not json"  # the original bytes, kept for the operator
    assert dict(malformed.headers())["__connect.errors.topic"] == source.encode()
    assert (
        b"expected a JSON Debezium envelope"
        in dict(malformed.headers())["__connect.errors.exception.message"]
    )
    invalid = json.loads(reasons[b"invalid_code"].value())
    assert invalid["fields"]["subject_code"] == "12345"
    assert (
        b"penalties (id=5)"
        in dict(reasons[b"invalid_code"].headers())["__connect.errors.exception.message"]
    )

    # Restart in the same group: the offsets were committed, nothing is read again.
    again = run_feed(kafka_bootstrap, redis_url, topic_prefix, source)
    assert again.stats.read == 0
    # Offsets lost (a new group reads everything): the ledger publishes nothing new.
    replayed = run_feed(kafka_bootstrap, redis_url, topic_prefix, source, group=f"{topic_prefix}x")
    assert replayed.stats.read == 9
    assert replayed.stats.published == 0 and replayed.stats.already_published == 6
    after = drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}c")
    assert len(after) == 5


def test_an_unreachable_broker_stops_the_feed_and_a_restart_resumes(
    kafka_bootstrap, redis_url, redis_client, topic_prefix, source
):
    produce(kafka_bootstrap, source, [(b"1", change("c", 200, after=row(11))),
                                      (b"2", change("c", 201, after=row(12)))])  # fmt: skip
    nowhere = KafkaPublisher(
        kafka_at(f"127.0.0.1:{services.free_port()}"), extra_config={"message.timeout.ms": 2000}
    )
    with pytest.raises(PublishFailed):
        run_feed(kafka_bootstrap, redis_url, topic_prefix, source, publisher=nowhere)
    assert not drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}a")

    resumed = run_feed(kafka_bootstrap, redis_url, topic_prefix, source)
    assert resumed.stats.read == 2 and resumed.stats.published == 2
    published = drain(kafka_bootstrap, intake_topic("penalty", topic_prefix), f"{topic_prefix}b")
    assert sorted(decode_intake(m.value())["record_key"] for m in published) == [
        "宁环罚〔2024〕11号",
        "宁环罚〔2024〕12号",
    ]
