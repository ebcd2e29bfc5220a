"""Kafka TLS and SASL settings reach every client, and the password is never shown."""

from __future__ import annotations

import pytest

from creditsync.settings import KafkaSettings
from schemas import kafka_connection
from schemas.kafka_connection import KafkaConnection, client_config


@pytest.fixture
def configured():
    yield kafka_connection.configure
    kafka_connection.configure(KafkaConnection())


def test_plaintext_is_the_bootstrap_alone():
    assert client_config("b:9092", {"group.id": "g"}) == {
        "bootstrap.servers": "b:9092",
        "group.id": "g",
    }


def test_sasl_ssl_from_the_settings_reaches_the_clients(configured, monkeypatch):
    monkeypatch.setenv("CREDITSYNC_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_USERNAME", "creditsync")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_PASSWORD", "s3cret-pw")
    settings = KafkaSettings()
    assert "s3cret-pw" not in repr(settings)
    connection = settings.connection()
    assert "s3cret-pw" not in repr(connection)
    configured(connection)
    config = client_config("b:9093")
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512",
        "creditsync",
        "s3cret-pw",
    )


def test_sasl_without_its_credentials_says_which_settings():
    with pytest.raises(ValueError, match="CREDITSYNC_KAFKA_SASL_USERNAME"):
        KafkaConnection(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    with pytest.raises(ValueError, match="expected one of PLAINTEXT"):
        KafkaConnection(security_protocol="TLS")
