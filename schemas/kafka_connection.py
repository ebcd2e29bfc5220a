"""How every Kafka client of this process reaches the brokers: TLS and SASL credentials.

The settings (creditsync/settings.py, KafkaSettings) are read once by the CLI (`configure`);
every Kafka client is a confluent-kafka one, built from `client_config(bootstrap, ...)`.
With nothing configured the clients speak PLAINTEXT, as to the local broker of `creditsync
up`. The password stays in this module's memory; nothing here logs or prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class KafkaConnection:
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    # Never shown: __repr__ masks it, so a traceback or a log line cannot carry it.
    sasl_password: str | None = None
    ssl_ca_location: str | None = None

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise ValueError(
                f"CREDITSYNC_KAFKA_SECURITY_PROTOCOL={self.security_protocol!r}: expected one "
                f"of {', '.join(PROTOCOLS)}"
            )
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"{self.security_protocol} needs CREDITSYNC_KAFKA_SASL_MECHANISM, "
                "CREDITSYNC_KAFKA_SASL_USERNAME and CREDITSYNC_KAFKA_SASL_PASSWORD"
            )

    def __repr__(self) -> str:
        return (
            f"KafkaConnection(security_protocol={self.security_protocol!r}, "
            f"sasl_mechanism={self.sasl_mechanism!r}, sasl_username={self.sasl_username!r}, "
            f"sasl_password={'***' if self.sasl_password else None}, "
            f"ssl_ca_location={self.ssl_ca_location!r})"
        )

    def librdkafka(self) -> dict[str, str]:
        """The librdkafka properties (confluent-kafka clients)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        config = {"security.protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            config["sasl.mechanism"] = self.sasl_mechanism or ""
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = self.sasl_password or ""
        if self.ssl_ca_location and self.security_protocol.endswith("SSL"):
            config["ssl.ca.location"] = self.ssl_ca_location
        return config


_connection = KafkaConnection()


def configure(connection: KafkaConnection) -> None:
    """Set how this process's Kafka clients connect (the CLI does, from the settings)."""
    global _connection
    _connection = connection


def current() -> KafkaConnection:
    return _connection


def client_config(bootstrap: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A confluent-kafka client configuration for `bootstrap` with this process's TLS and
    SASL settings, then `extra` (group id, acks, …)."""
    return {"bootstrap.servers": bootstrap, **_connection.librdkafka(), **(extra or {})}
