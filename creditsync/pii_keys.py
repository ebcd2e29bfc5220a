"""The keys that protect ID numbers: the HMAC key of analytics and the AES-GCM keyring at rest.

There is no public default. A deployment sets CREDITSYNC_PII_HASH_KEY and
CREDITSYNC_PII_ENCRYPTION_KEYS; on one machine with either unset, a random key is made once
in the data directory (readable by its owner only, as creditsync/operator_token.py does for
the operator token) and a warning names the setting. A deployment on shared services (a
Kafka or ClickHouse server not on this machine) must configure both, or it refuses to start:
keys in one machine's data directory would differ between its processes and be lost with it.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from creditsync.errors import CreditSyncError
from creditsync.operator_token import local_secret
from creditsync.settings import ClickHouseSettings, DataSettings, KafkaSettings, PrivacySettings
from schemas.pii_crypto import PiiKeyError, PiiKeyring, set_keyring_loader

log = logging.getLogger("creditsync")

HASH_KEY_FILE = "pii-hash.key"
ENCRYPTION_KEYS_FILE = "pii-encryption.keys"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", ""})
HASH_SETTING = "CREDITSYNC_PII_HASH_KEY"
KEYS_SETTING = "CREDITSYNC_PII_ENCRYPTION_KEYS"
HOW_TO = (
    f"set {HASH_SETTING} and {KEYS_SETTING}, the same in every process of the deployment "
    "(`python -m creditsync.pii_keys` prints new ones)"
)


class PiiKeysRefused(CreditSyncError):
    """Shared services without configured PII keys, or a malformed key setting."""


@dataclass(frozen=True)
class PiiKeys:
    hash_key: bytes
    keyring: PiiKeyring
    # The settings whose keys came from the data directory (empty when both are configured).
    local: tuple[str, ...] = ()


def shared_services(
    kafka: KafkaSettings | None = None, clickhouse: ClickHouseSettings | None = None
) -> list[str]:
    """The configured services not on this machine (Kafka brokers, a ClickHouse server)."""
    kafka = kafka or KafkaSettings()
    clickhouse = clickhouse or ClickHouseSettings()
    shared = []
    for server in kafka.kafka_bootstrap.split(","):
        host = server.strip().rsplit(":", 1)[0] if ":" in server else server.strip()
        if host.strip("[]").lower() not in LOCAL_HOSTS:
            shared.append(f"Kafka {server.strip()}")
    dsn = clickhouse.clickhouse_dsn.strip()
    if dsn and dsn.lower() != "off" and not dsn.lower().startswith("chdb:"):
        host = (urlsplit(dsn).hostname or "").lower()
        if host not in LOCAL_HOSTS:
            shared.append(f"ClickHouse {host}")
    return shared


def check_configured(
    privacy: PrivacySettings | None = None,
    kafka: KafkaSettings | None = None,
    clickhouse: ClickHouseSettings | None = None,
) -> None:
    """Raise PiiKeysRefused when services are shared and a key setting is missing."""
    privacy = privacy or PrivacySettings()
    missing = [
        name
        for name, value in (
            (HASH_SETTING, privacy.pii_hash_key),
            (KEYS_SETTING, privacy.pii_encryption_keys),
        )
        if value is None or not value.get_secret_value().strip()
    ]
    shared = shared_services(kafka, clickhouse)
    if missing and shared:
        raise PiiKeysRefused(
            f"this deployment uses shared services ({', '.join(shared)}) but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; keys "
            f"made on one machine cannot protect ID numbers everywhere: {HOW_TO}"
        )


def load_pii_keys(data_dir: Path | None = None, privacy: PrivacySettings | None = None) -> PiiKeys:
    """The configured keys, or the data directory's (made once, mode 0600, with a warning)."""
    privacy = privacy or PrivacySettings()
    data_dir = data_dir or DataSettings().data_dir
    local: list[str] = []
    hash_key = privacy.pii_hash_key.get_secret_value() if privacy.pii_hash_key else ""
    if not hash_key.strip():
        hash_key = local_secret(data_dir, HASH_KEY_FILE, lambda: secrets.token_urlsafe(32))
        local.append(HASH_SETTING)
    spec = privacy.pii_encryption_keys.get_secret_value() if privacy.pii_encryption_keys else ""
    if not spec.strip():
        kid = "local-" + secrets.token_hex(4)
        spec = local_secret(data_dir, ENCRYPTION_KEYS_FILE, lambda: PiiKeyring.new_entry(kid))
        local.append(KEYS_SETTING)
    try:
        keyring = PiiKeyring.parse(spec)
    except PiiKeyError as exc:
        raise PiiKeysRefused(f"{KEYS_SETTING}: {exc}") from exc
    for name in local:
        log.warning(
            "%s is not set: using a random key kept in %s (this machine only); set it for "
            "any deployment beyond one machine",
            name,
            data_dir / (HASH_KEY_FILE if name == HASH_SETTING else ENCRYPTION_KEYS_FILE),
        )
    return PiiKeys(hash_key.encode("utf-8"), keyring, tuple(local))


def prepare_pii_keys(data_dir: Path | None = None) -> None:
    """At the start of every command: refuse shared services without keys, and let the
    process load its keyring when it first seals or opens an ID number."""
    check_configured()
    set_keyring_loader(lambda: load_pii_keys(data_dir).keyring)


def new_keyring_entry(kid: str | None = None) -> str:
    """A fresh "kid:base64" entry to append to CREDITSYNC_PII_ENCRYPTION_KEYS (rotation)."""
    return PiiKeyring.new_entry(kid or "k" + base64.b32encode(os.urandom(5)).decode().lower())


def new_settings() -> str:
    """Environment lines with fresh keys for a new deployment."""
    return f"{HASH_SETTING}={secrets.token_urlsafe(32)}\n{KEYS_SETTING}={new_keyring_entry('k1')}"


if __name__ == "__main__":  # pragma: no cover - a one-off for operators
    print(new_settings())
