"""The operator token: a local one made once, a configured hash honoured, compared as hashes."""

from __future__ import annotations

import stat

import pytest

from creditsync.operator_token import (
    TOKEN_FILE,
    OperatorTokenRefused,
    authorize_operator,
    expected_token_sha256,
    local_token,
    presented_token,
    token_matches,
)
from creditsync.settings import OperatorSettings
from producers.departments import hash_token


def test_local_token_is_made_once_and_readable_by_its_owner_only(tmp_path):
    token = local_token(tmp_path)
    assert len(token) >= 32 and local_token(tmp_path) == token
    mode = stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode)
    assert mode == 0o600
    assert expected_token_sha256(tmp_path, OperatorSettings()) == hash_token(token)
    authorize_operator(tmp_path, OperatorSettings())  # the local operator presents it


def test_a_configured_hash_wants_the_operators_own_token(tmp_path):
    configured = OperatorSettings(operator_token_sha256=hash_token("the-operators-token").upper())
    assert presented_token(tmp_path, configured) is None
    with pytest.raises(OperatorTokenRefused, match="set CREDITSYNC_OPERATOR_TOKEN"):
        authorize_operator(tmp_path, configured)
    wrong = OperatorSettings(
        operator_token_sha256=configured.operator_token_sha256, operator_token="guess"
    )
    with pytest.raises(OperatorTokenRefused, match="is not the operator token"):
        authorize_operator(tmp_path, wrong)
    right = OperatorSettings(
        operator_token_sha256=configured.operator_token_sha256,
        operator_token="the-operators-token",
    )
    authorize_operator(tmp_path, right)
    assert not (tmp_path / TOKEN_FILE).exists()  # no local token where a hash is configured


def test_token_matches_only_the_token_itself():
    digest = hash_token("secret")
    assert token_matches("secret", digest)
    assert not token_matches("secret ", digest)
    assert not token_matches(None, digest) and not token_matches("", digest)


def test_the_token_is_never_in_the_settings_repr():
    settings = OperatorSettings(operator_token="the-operators-token")
    assert "the-operators-token" not in repr(settings)
