"""How every Kafka client reaches the brokers: the settings and the one librdkafka config.

`KafkaSettings` is read once by each composition root (the CLI commands, `creditsync run`,
tests) and passed down explicitly; `client_config(settings, …)` is the only place a
librdkafka configuration is assembled. The SASL password stays a `SecretStr` until that call,
so a traceback, a log line or a repr of the settings cannot carry it. With nothing configured
the clients speak PLAINTEXT, as to the local broker of `creditsync up`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# confluent-kafka's Python callbacks: their names keep their underscores (every librdkafka
# property is dotted, so `group_id=` in client_config() means "group.id").
CALLBACKS = frozenset(
    {"error_cb", "throttle_cb", "stats_cb", "oauth_cb", "on_commit", "on_delivery", "logger"}
)


class KafkaSettings(BaseSettings):
    """CREDITSYNC_KAFKA_* and the topic settings of `creditsync up` (argument > env > default)."""

    model_config = SettingsConfigDict(env_prefix="CREDITSYNC_", frozen=True, extra="ignore")
    kafka_bootstrap: str = "127.0.0.1:9092"
    # When set, payloads use the Confluent wire format with this registry (schemas/codec.py).
    schema_registry_url: str | None = None
    # Topic partitions and replication for `creditsync up` (one node: replication 1).
    topic_partitions: int = 4
    topic_replication: int = 1
    # Retention of the system-of-record topics; -1 keeps them forever (DESIGN.md).
    record_retention_ms: int = -1
    # TLS and SASL for a shared cluster; PLAINTEXT is the local broker of `creditsync up`.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None

    @model_validator(mode="after")
    def _protocol_is_complete(self) -> KafkaSettings:
        protocol = self.kafka_security_protocol.upper()
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"CREDITSYNC_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r}: expected "
                f"one of {', '.join(PROTOCOLS)}"
            )
        if protocol.startswith("SASL") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"{protocol} needs CREDITSYNC_KAFKA_SASL_MECHANISM, "
                "CREDITSYNC_KAFKA_SASL_USERNAME and CREDITSYNC_KAFKA_SASL_PASSWORD"
            )
        return self


def settings_error(exc: ValueError) -> str:
    """The reason of a refused KafkaSettings, without pydantic's framing (for the CLI)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors())
    return str(exc)


def security_config(settings: KafkaSettings) -> dict[str, str]:
    """The TLS and SASL properties alone (empty for PLAINTEXT); the password in clear."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return {}
    config = {"security.protocol": protocol}
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism or ""
        config["sasl.username"] = settings.kafka_sasl_username or ""
        config["sasl.password"] = password.get_secret_value() if password else ""
    if settings.kafka_ssl_ca_location and protocol.endswith("SSL"):
        config["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return config


def client_config(
    settings: KafkaSettings,
    extra_config: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    **explicit: Any,
) -> dict[str, Any]:
    """A confluent-kafka client configuration: `defaults`, overridden by `extra_config`,
    overridden by the connection (bootstrap, TLS, SASL), overridden by the explicit
    arguments, `group_id="g"` being "group.id" (callbacks such as `error_cb` keep their
    names). Explicit None values are left out."""
    named = {
        (key if key in CALLBACKS else key.replace("_", ".")): value
        for key, value in explicit.items()
        if value is not None
    }
    return {
        **(defaults or {}),
        **(extra_config or {}),
        "bootstrap.servers": settings.kafka_bootstrap,
        **security_config(settings),
        **named,
    }


def kafka_at(bootstrap: str, **settings: Any) -> KafkaSettings:
    """Settings for the brokers at `bootstrap` (tests, benchmarks, a probe of one broker)."""
    return KafkaSettings(kafka_bootstrap=bootstrap, **settings)
