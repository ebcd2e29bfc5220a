"""Whatever a client sends to the intake ends accepted or rejected with a reason — never a 500."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditsync.http import HttpDeps, create_http_app
from creditsync.local import create_topics
from producers.departments import load_departments
from producers.http_intake import HttpIntake, IntakeLimits
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from schemas.categories import SUBJECT_CODE_HEADER, category_spec
from schemas.kafka.config import kafka_at
from schemas.topics import topic_specs
from sinks.publicity import PublicityReader
from tests.factories import make_codes
from tests.integration.test_http_intake import MARKET, departments_file, penalty

pytestmark = pytest.mark.integration

SPEC = category_spec("penalty")
FIELD_NAMES = [f.name for f in SPEC.fields] + [f.chinese for f in SPEC.fields]
KEYS = st.sampled_from([*FIELD_NAMES, SUBJECT_CODE_HEADER, "企业名称", "subject_code"]) | st.text(
    max_size=12
)
HUGE = st.sampled_from(["长" * 5000, "9" * 5000, "x" * 60_000, "\u0000\ud800", "1e309"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from([make_codes(1)["uscc"], "2024-03-01", "2024/02/30", "-5", "5,000.00"])
    | HUGE
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
RECORD = st.dictionaries(KEYS, VALUES, max_size=10) | st.builds(
    lambda base, extra: {**base, **extra},
    st.just(penalty(1)) | st.just(penalty(2, chinese=False)),
    st.dictionaries(KEYS, VALUES, max_size=3),
)
BODIES = (
    st.binary(max_size=200)
    | VALUES.map(lambda v: json.dumps(v).encode())
    | st.lists(RECORD | VALUES, max_size=6).map(lambda rs: json.dumps({"records": rs}).encode())
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@pytest.fixture(scope="module")
def client(tmp_path_factory, kafka_bootstrap, redis_url):
    prefix = "fuzz."
    create_topics(kafka_at(kafka_bootstrap), topic_specs(prefix=prefix, partitions=1))
    redis_client = redis.Redis.from_url(redis_url)
    path = departments_file(tmp_path_factory.mktemp("fuzz") / "departments.toml")
    intake = HttpIntake(
        departments=load_departments(path),
        publisher=KafkaPublisher(kafka_at(kafka_bootstrap)),
        ledger=PublishedLedger(redis_client, prefix=prefix),
        topic_prefix=prefix,
        limits=IntakeLimits(max_body_bytes=32 * 1024, max_records=20),
    )
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client), intake=intake))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
    redis_client.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_every_input_is_accepted_or_rejected_with_a_reason(client, body):
    response = client.post(
        "/v1/intake/penalty",
        content=body,
        headers={"Authorization": f"Bearer {MARKET}", "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400, 413, 422), response.text
    answer = response.json()
    if response.status_code in (400, 413):
        assert answer["error"] and answer["message"]
        return
    assert answer["received"] == len(answer["results"])
    for result in answer["results"]:
        if result["status"] == "accepted":
            assert result["event_id"] and isinstance(result["duplicate"], bool)
        else:
            assert result["status"] == "rejected"
            assert result["field"] and result["reason"] and result["problems"]
