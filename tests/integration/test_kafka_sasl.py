"""A broker that requires SASL: a worker configured with credentials runs the whole pipeline
through it (every loop is a confluent-kafka client), and a wrong password is refused."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from creditsync import services
from creditsync.local import create_topics
from schemas.kafka.config import client_config, kafka_at
from schemas.topics import topic_specs
from sinks.publicity import Keys
from tests.intake_factory import enterprise_codes, license_, publish, registration
from tests.integration.helpers import WorkerProcess
from tests.integration.test_worker_processes import wait_for

pytestmark = pytest.mark.integration

USER, PASSWORD = "creditsync-worker", "s3cret-for-tests"


def sasl_listener(port: int, sasl_port: int, controller_port: int) -> str:
    """A SASL_PLAINTEXT (PLAIN) listener for clients beside the PLAINTEXT one the broker
    itself and the readiness check use."""
    login = "org.apache.kafka.common.security.plain.PlainLoginModule required"
    lines = [
        f"listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map="
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=PLAIN",
        f'listener.name.sasl_plaintext.plain.sasl.jaas.config={login} user_{USER}="{PASSWORD}";',
    ]
    return "\n" + "\n".join(lines) + "\n"


@pytest.fixture
def sasl_broker(tmp_path):
    port, sasl_port, controller = (services.free_port() for _ in range(3))
    managed = services.start_kafka(
        tmp_path / "kafka-sasl",
        port,
        controller,
        extra_properties=sasl_listener(port, sasl_port, controller),
    )
    try:
        yield f"127.0.0.1:{port}", f"127.0.0.1:{sasl_port}"
    finally:
        managed.stop()


def test_a_worker_with_sasl_credentials_runs_the_pipeline(sasl_broker, redis_url, redis_client,
                                                          tmp_path):  # fmt: skip
    plain, sasl = sasl_broker
    prefix = "sasl."
    create_topics(kafka_at(plain), topic_specs(prefix, partitions=4))
    codes = enterprise_codes(4000)
    events = [registration(4000, "宁夏认证商贸有限公司")]
    events += [license_(codes["uscc"], f"JY{4000:06d}{i:04d}") for i in range(3)]
    publish(plain, events, prefix)
    env = {
        "CREDITSYNC_KAFKA_BOOTSTRAP": sasl,
        "CREDITSYNC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CREDITSYNC_KAFKA_SASL_MECHANISM": "PLAIN",
        "CREDITSYNC_KAFKA_SASL_USERNAME": USER,
        "CREDITSYNC_KAFKA_SASL_PASSWORD": PASSWORD,
        "CREDITSYNC_TOPIC_PREFIX": prefix,
        "CREDITSYNC_REDIS_URL": redis_url,
        # ClickHouse on: the operations loop reads the operational topics through SASL too.
        "CREDITSYNC_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'clickhouse'}",
        "CREDITSYNC_DATA_DIR": str(tmp_path / "data"),
        "CREDITSYNC_SINK_FLUSH_SECONDS": "0.3",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log")
    keys = Keys()
    try:
        assert wait_for(lambda: redis_client.hlen(keys.items(codes["uscc"], "license")) == 3,
                        120, worker), (tmp_path / "worker.log").read_text()[-3000:]  # fmt: skip
    finally:
        code = worker.stop()
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]

    errors: list[KafkaError] = []
    wrong = kafka_at(
        sasl,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username=USER,
        kafka_sasl_password="not-the-password",
    )
    admin = AdminClient(client_config(wrong, error_cb=errors.append))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(1)  # serves the error callback
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
