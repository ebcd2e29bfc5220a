"""HTTP intake against the real Kafka broker and Redis: published, rejected, refused, repeated."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from creditsync import services
from creditsync.http import HttpDeps, create_http_app
from creditsync.local import create_topics
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake, IntakeLimits
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from schemas.codec import decode_intake
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import REJECTED, intake_topic, topic_specs
from sinks.publicity import PublicityReader
from tests.factories import make_codes

pytestmark = pytest.mark.integration

MARKET = "token-market-" + "m" * 20
TAX = "token-tax-" + "t" * 20
SLOW = "token-slow-" + "s" * 20


def departments_file(path: Path) -> Path:
    path.write_text(
        f"""
[[departments]]
code = "scjg-640000"
name = "宁夏回族自治区市场监督管理厅"
token_sha256 = "{hash_token(MARKET)}"
categories = ["penalty", "license", "registration"]

[[departments]]
code = "sw-640000"
name = "国家税务总局宁夏回族自治区税务局"
token_sha256 = "{hash_token(TAX)}"
categories = ["restriction"]

[[departments]]
code = "hb-640000"
name = "宁夏回族自治区生态环境厅"
token_sha256 = "{hash_token(SLOW)}"
categories = ["penalty"]
rate_limit = {{ per_second = 0.01, burst = 3 }}
""",
        encoding="utf-8",
    )
    return path


def penalty(n: int, chinese: bool = True) -> dict[str, object]:
    uscc = make_codes(n)["uscc"]
    if chinese:
        return {
            "统一社会信用代码（企业注册号）": uscc,
            "企业名称": f"宁夏测试企业{n}有限公司",
            "作出行政处罚决定机关名称": "西吉县市场监督管理局",
            "行政处罚决定书文号": f"西市监罚〔2024〕{n}号",
            "作出行政处罚决定日期": "2024-03-01",
            "违法行为类型": "销售过期食品",
            "罚款金额（元）": "5000",
            "处罚种类": "罚款",
        }
    return {
        "subject_code": uscc,
        "subject_name": f"宁夏测试企业{n}有限公司",
        "penalising_authority": "西吉县市场监督管理局",
        "decision_number": f"西市监罚〔2024〕{n}号",
        "decided_on": "2024/03/01",
        "violation_type": "销售过期食品",
        "fine_amount": 5000,
        "penalty_kind": "罚款",
    }


def build_client(tmp_path, redis_client, bootstrap, prefix, **intake_options):
    intake = HttpIntake(
        departments=load_departments(departments_file(tmp_path / "departments.toml")),
        publisher=intake_options.pop("publisher", None) or KafkaPublisher(kafka_at(bootstrap)),
        ledger=PublishedLedger(redis_client),
        topic_prefix=prefix,
        **intake_options,
    )
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client), intake=intake))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path, redis_client, kafka_bootstrap, topic_prefix):
    create_topics(kafka_at(kafka_bootstrap), topic_specs(prefix=topic_prefix, partitions=1))
    limits = IntakeLimits(max_body_bytes=64 * 1024, max_records=5)
    with build_client(tmp_path, redis_client, kafka_bootstrap, topic_prefix, limits=limits) as c:
        yield c


def published(bootstrap: str, topic: str) -> list:
    """Every message in `topic`, read up to its end offset (known before reading)."""
    consumer = Consumer(
        client_config(
            kafka_at(bootstrap),
            group_id=f"test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        messages = []
        deadline = dt.datetime.now() + dt.timedelta(seconds=30)
        while len(messages) < high and dt.datetime.now() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                messages.append(message)
        assert len(messages) == high, f"read {len(messages)} of {high} messages of {topic}"
        return messages
    finally:
        consumer.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_records_in_chinese_and_english_are_published(client, kafka_bootstrap, topic_prefix):
    body = {"records": [penalty(1), penalty(2, chinese=False)]}
    response = client.post("/v1/intake/penalty", json=body, headers=auth(MARKET))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"], result["duplicates"]) == (2, 0, 0)
    ids = [r["event_id"] for r in result["results"]]
    assert [r["status"] for r in result["results"]] == ["accepted", "accepted"]
    messages = published(kafka_bootstrap, intake_topic("penalty", topic_prefix))
    events = [decode_intake(m.value()) for m in messages]
    assert [e["event_id"] for e in events] == ids
    assert events[0]["payload"]["decision_number"] == "西市监罚〔2024〕1号"
    assert str(events[1]["payload"]["fine_amount"]) == "5000.00"
    assert events[1]["adapter"] == "http/1"
    assert events[0]["department"]["code"] == "scjg-640000"
    assert messages[0].key() == make_codes(1)["uscc"].encode()


def test_each_rejected_record_names_its_field_and_reason(client, kafka_bootstrap, topic_prefix):
    bad_date = {**penalty(3), "作出行政处罚决定日期": "2024-13-45"}
    bad_code = {**penalty(4), "统一社会信用代码（企业注册号）": "91640422MA7612345X"}
    unknown = {**penalty(5), "颜色": "红"}
    body = {"records": [penalty(6), bad_date, bad_code, unknown, "not a record"]}
    response = client.post("/v1/intake/penalty", json=body, headers=auth(MARKET))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] + ["rejected"] * 4
    assert results[1]["field"] == "decided_on"
    assert results[1]["field_chinese"] == "作出行政处罚决定日期"
    assert "expected" in results[1]["reason"]
    assert results[2]["reason_code"] == "invalid_code"
    assert results[3]["reason_code"] == "unknown_field" and results[3]["field"] == "颜色"
    assert results[4]["reason_code"] == "malformed_row"
    assert len(published(kafka_bootstrap, intake_topic("penalty", topic_prefix))) == 1
    # Kept on credit.rejected with their reasons: nothing is lost.
    assert len(published(kafka_bootstrap, f"{topic_prefix}{REJECTED}")) == 4


def test_all_rejected_is_422(client):
    body = {"records": [{"企业名称": "只有名称"}]}
    response = client.post("/v1/intake/penalty", json=body, headers=auth(MARKET))
    assert response.status_code == 422
    assert response.json()["results"][0]["status"] == "rejected"


def test_repeated_submission_is_accepted_without_a_new_event(
    client, kafka_bootstrap, topic_prefix, redis_client
):
    body = {"records": [penalty(7), penalty(8), penalty(7)]}
    first = client.post("/v1/intake/penalty", json=body, headers=auth(MARKET)).json()
    assert [r["duplicate"] for r in first["results"]] == [False, False, True]
    again = client.post("/v1/intake/penalty", json=body, headers=auth(MARKET))
    assert again.status_code == 200
    second = again.json()
    assert [r["duplicate"] for r in second["results"]] == [True, True, True]
    assert [r["event_id"] for r in second["results"]] == [r["event_id"] for r in first["results"]]
    assert len(published(kafka_bootstrap, intake_topic("penalty", topic_prefix))) == 2
    ledger = redis_client.smembers("intake:published:scjg-640000")
    assert {m.decode() for m in ledger} == {r["event_id"] for r in first["results"]}


def test_token_and_category_rights(client):
    body = {"records": [penalty(9)]}
    missing = client.post("/v1/intake/penalty", json=body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.post("/v1/intake/penalty", json=body, headers=auth("not-a-token"))
    assert wrong.status_code == 401
    forbidden = client.post("/v1/intake/penalty", json=body, headers=auth(TAX))
    assert forbidden.status_code == 403
    assert "sw-640000" in forbidden.json()["message"]
    assert "restriction" in forbidden.json()["message"]
    unknown = client.post("/v1/intake/fines", json=body, headers=auth(MARKET))
    assert unknown.status_code == 404
    assert "penalty" in unknown.json()["message"]


def test_limits_on_body_size_and_record_count_are_413(client):
    too_many = {"records": [penalty(n) for n in range(10, 16)]}
    response = client.post("/v1/intake/penalty", json=too_many, headers=auth(MARKET))
    assert response.status_code == 413
    assert "limit of 5 records per request" in response.json()["message"]
    huge = {"records": [{**penalty(17), "备注": "长" * 70_000}]}
    response = client.post("/v1/intake/penalty", json=huge, headers=auth(MARKET))
    assert response.status_code == 413
    assert "limit of 65536 bytes" in response.json()["message"]


def test_rate_limit_is_429_with_retry_after(client):
    first = client.post(
        "/v1/intake/penalty", json={"records": [penalty(20), penalty(21)]}, headers=auth(SLOW)
    )
    assert first.status_code == 200
    over = client.post(
        "/v1/intake/penalty", json={"records": [penalty(22), penalty(23)]}, headers=auth(SLOW)
    )
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    assert "hb-640000" in over.json()["message"]
    batch = client.post(
        "/v1/intake/penalty",
        json={"records": [penalty(n) for n in range(24, 28)]},
        headers=auth(SLOW),
    )
    assert batch.status_code == 413
    assert "at most 3 at once" in batch.json()["message"]


def test_broken_requests_are_400(client):
    cases = [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'{"records": {}}', "invalid_request"),
        (b'{"records": [], "x": 1}', "invalid_request"),
        ('{"records": [{"罚款金额": NaN}]}'.encode(), "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
    ]
    for raw, error in cases:
        response = client.post("/v1/intake/penalty", content=raw, headers=auth(MARKET))
        assert response.status_code == 400, raw
        assert response.json()["error"] == error, raw


def test_kafka_unreachable_is_503_and_nothing_is_recorded(tmp_path, redis_client, topic_prefix):
    dead = f"127.0.0.1:{services.free_port()}"
    publisher = KafkaPublisher(kafka_at(dead), extra_config={"message.timeout.ms": 1500})
    with build_client(
        tmp_path, redis_client, dead, topic_prefix, publisher=publisher, publish_timeout=3.0
    ) as client:
        response = client.post(
            "/v1/intake/penalty", json={"records": [penalty(30)]}, headers=auth(MARKET)
        )
    assert response.status_code == 503
    assert response.json()["error"] == "kafka_unavailable"
    assert "send the same request again" in response.json()["message"]
    assert redis_client.smembers("intake:published:scjg-640000") == set()


def test_redis_ledger_unreachable_is_503(tmp_path, kafka_bootstrap, topic_prefix):
    gone = redis.Redis(
        port=services.free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    with build_client(tmp_path, gone, kafka_bootstrap, topic_prefix) as client:
        response = client.post(
            "/v1/intake/penalty", json={"records": [penalty(31)]}, headers=auth(MARKET)
        )
    assert response.status_code == 503
    assert response.json()["error"] == "ledger_unavailable"
