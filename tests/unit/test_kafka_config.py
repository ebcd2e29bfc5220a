"""Kafka TLS and SASL settings reach every client through one function; the password is never
shown, and explicit arguments override extra_config, which overrides defaults."""

from __future__ import annotations

import pytest

from schemas.kafka.config import KafkaSettings, client_config, kafka_at, settings_error


def test_plaintext_is_the_bootstrap_alone():
    assert client_config(kafka_at("b:9092"), group_id="g") == {
        "bootstrap.servers": "b:9092",
        "group.id": "g",
    }


def test_explicit_arguments_override_extra_config_which_overrides_defaults():
    config = client_config(
        kafka_at("b:9092"),
        {"linger.ms": 5, "acks": "1", "bootstrap.servers": "elsewhere:1"},
        defaults={"linger.ms": 20, "acks": "all", "compression.type": "lz4"},
        acks="0",
        client_id="c",
        error_cb=print,
        group_id=None,
    )
    assert config == {
        "linger.ms": 5,  # extra_config over the default
        "acks": "0",  # the explicit argument over both
        "compression.type": "lz4",
        "bootstrap.servers": "b:9092",  # the settings' brokers, whatever extra_config says
        "client.id": "c",
        "error_cb": print,  # a callback keeps its name; None is left out
    }


def test_sasl_ssl_from_the_settings_reaches_the_clients(monkeypatch):
    monkeypatch.setenv("CREDITSYNC_KAFKA_BOOTSTRAP", "b:9093")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_USERNAME", "creditsync")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SSL_CA_LOCATION", "/etc/ca.pem")
    settings = KafkaSettings()
    assert "s3cret-pw" not in repr(settings) and "s3cret-pw" not in str(settings)
    config = client_config(settings)
    assert config == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "creditsync",
        "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/etc/ca.pem",
    }


def test_sasl_without_its_credentials_says_which_settings():
    with pytest.raises(ValueError, match="CREDITSYNC_KAFKA_SASL_USERNAME") as refused:
        KafkaSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN")
    assert settings_error(refused.value).startswith("SASL_PLAINTEXT needs CREDITSYNC_KAFKA_SASL")
    with pytest.raises(ValueError, match="expected one of PLAINTEXT"):
        KafkaSettings(kafka_security_protocol="TLS")


def test_the_cli_refuses_incomplete_sasl_settings_in_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from creditsync import cli

    monkeypatch.setenv("CREDITSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDITSYNC_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CREDITSYNC_KAFKA_SASL_PASSWORD", "s3cret-pw")
    printed: list[str] = []
    monkeypatch.setattr(cli.console, "print", lambda text, *a, **k: printed.append(str(text)))
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 1
    assert printed == [
        "[red]error:[/red] SASL_SSL needs CREDITSYNC_KAFKA_SASL_MECHANISM, "
        "CREDITSYNC_KAFKA_SASL_USERNAME and CREDITSYNC_KAFKA_SASL_PASSWORD"
    ]
    assert "s3cret-pw" not in result.output
