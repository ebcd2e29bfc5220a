"""The operator token: what the analytics SQL endpoint and the operator commands ask for.

A deployment sets CREDITSYNC_OPERATOR_TOKEN_SHA256 (the SHA-256 of the token, as for the
departments' intake tokens: `python -m producers.departments new-token`) and gives operators
CREDITSYNC_OPERATOR_TOKEN. On one machine with neither set, the first process that needs the
token creates one in the data directory (`operator.token`, readable by its owner only), like a
notebook server's login token: whoever can read the data directory is the operator anyway.
Tokens are compared as hashes, in constant time.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from pathlib import Path

from creditsync.errors import CreditSyncError
from creditsync.settings import OperatorSettings
from producers.departments import hash_token, new_token

TOKEN_FILE = "operator.token"


class OperatorTokenRefused(CreditSyncError):
    """No operator token was presented, or not the configured one."""


def token_matches(token: str | None, token_sha256: str) -> bool:
    """Whether `token` hashes to `token_sha256`, compared in constant time."""
    if not token:
        return False
    return hmac.compare_digest(hash_token(token), token_sha256.lower())


def local_token(data_dir: Path) -> str:
    """The data directory's operator token, created (mode 0600) when there is none yet."""
    return local_secret(data_dir, TOKEN_FILE, new_token)


def local_secret(data_dir: Path, name: str, make: Callable[[], str]) -> str:
    """A secret kept in the data directory (mode 0600), made by `make` the first time; the
    operator token and the local PII keys (creditsync/pii_keys.py) are kept this way."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting together must not each write a different secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(make() + "\n")
    return path.read_text(encoding="ascii").strip()


def expected_token_sha256(data_dir: Path, settings: OperatorSettings | None = None) -> str:
    """The hash a presented token must match: the configured one, else the local token's."""
    settings = settings or OperatorSettings()
    if settings.operator_token_sha256:
        return settings.operator_token_sha256.lower()
    return hash_token(local_token(data_dir))


def presented_token(data_dir: Path, settings: OperatorSettings | None = None) -> str | None:
    """The token this operator presents: CREDITSYNC_OPERATOR_TOKEN, else the local token when
    no hash is configured (with a configured hash, the token must come from the operator)."""
    settings = settings or OperatorSettings()
    if settings.operator_token is not None:
        return settings.operator_token.get_secret_value()
    if settings.operator_token_sha256:
        return None
    return local_token(data_dir)


def authorize_operator(data_dir: Path, settings: OperatorSettings | None = None) -> None:
    """Raise OperatorTokenRefused unless this operator presents the expected token."""
    settings = settings or OperatorSettings()
    token = presented_token(data_dir, settings)
    if token is None:
        raise OperatorTokenRefused(
            "this command needs the operator token: set CREDITSYNC_OPERATOR_TOKEN "
            "(the deployment configures its hash in CREDITSYNC_OPERATOR_TOKEN_SHA256)"
        )
    if not token_matches(token, expected_token_sha256(data_dir, settings)):
        raise OperatorTokenRefused(
            "CREDITSYNC_OPERATOR_TOKEN is not the operator token this deployment configured"
        )
