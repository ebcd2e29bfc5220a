"""The local stack behind `creditsync up / down / status`: Kafka and Redis under the data dir.

Ports come from the settings (CREDITSYNC_KAFKA_BOOTSTRAP, CREDITSYNC_REDIS_URL), so the
services `up` starts are the ones every other command talks to by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from confluent_kafka.admin import AdminClient, NewTopic

from creditsync import services
from creditsync.errors import ServiceUnavailable
from creditsync.settings import DataSettings, KafkaSettings, RedisSettings
from schemas.kafka.config import client_config
from schemas.message_size import TOPIC_MAX_MESSAGE_BYTES
from schemas.topics import FOREVER, TopicSpec, topic_specs


@dataclass(frozen=True)
class LocalStack:
    data_dir: Path
    kafka: KafkaSettings
    redis: RedisSettings

    @classmethod
    def from_settings(cls) -> LocalStack:
        return cls(DataSettings().data_dir.resolve(), KafkaSettings(), RedisSettings())

    @property
    def kafka_port(self) -> int:
        return int(self.kafka.kafka_bootstrap.rsplit(":", 1)[1])

    @property
    def redis_port(self) -> int:
        return urlparse(self.redis.redis_url).port or 6379

    def kafka_process(self) -> services.ManagedProcess:
        d = self.data_dir / "kafka"
        return services.ManagedProcess("kafka", d / "kafka.pid", d / "kafka.log")

    def redis_process(self) -> services.ManagedProcess:
        d = self.data_dir / "redis"
        return services.ManagedProcess("redis", d / "redis.pid", d / "redis.log")

    def up(self) -> list[str]:
        """Start what is not running, create missing topics; return what was done."""
        done = []
        if self.kafka_process().pid() is None:
            if services.port_open("127.0.0.1", self.kafka_port):
                raise ServiceUnavailable(
                    f"port {self.kafka_port} is taken by another program; set "
                    "CREDITSYNC_KAFKA_BOOTSTRAP to a free port"
                )
            services.start_kafka(self.data_dir / "kafka", self.kafka_port, self.kafka_port + 1)
            done.append(f"kafka started on {self.kafka.kafka_bootstrap}")
        if self.redis_process().pid() is None:
            services.start_redis(self.data_dir / "redis", self.redis_port)
            done.append(f"redis started on port {self.redis_port}")
        created = create_topics(
            self.kafka,
            topic_specs(
                partitions=self.kafka.topic_partitions,
                record_retention_ms=self.kafka.record_retention_ms,
            ),
            replication=self.kafka.topic_replication,
        )
        done.append(f"{len(created)} topic(s) created")
        return done

    def down(self) -> list[str]:
        stopped = []
        for proc in (self.kafka_process(), self.redis_process()):
            if proc.stop():
                stopped.append(f"{proc.name} stopped")
        return stopped


def create_topics(kafka: KafkaSettings, specs: list[TopicSpec], replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AdminClient(client_config(kafka))
    existing = set(admin.list_topics(timeout=10).topics)
    new = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=replication,
            config=_topic_config(spec),
        )
        for spec in specs
        if spec.name not in existing
    ]
    if not new:
        return []
    for name, future in admin.create_topics(new, operation_timeout=30).items():
        try:
            future.result()
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise ServiceUnavailable(f"cannot create topic {name}: {exc}") from exc
    return [t.topic for t in new]


def _topic_config(spec: TopicSpec) -> dict[str, str]:
    config = {
        "retention.ms": str(spec.retention_ms if spec.retention_ms else FOREVER),
        # What every produce is checked against allows for (schemas/message_size.py).
        "max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES),
    }
    if spec.compact:
        config["cleanup.policy"] = "compact"
    return config
