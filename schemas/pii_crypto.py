"""Field-level encryption of ID numbers at rest: AES-256-GCM envelopes with a key id.

The producers encrypt a restriction's `id_document_number` before it enters Kafka, into
`enc:v1:<key id>:<base64(nonce | ciphertext+tag)>`; only streams.rules.privacy (to mask and hash
it) and the receiving departments of joint-punishment notices (decrypt_personal_id) read the
clear number. A keyring holds several keys so they can rotate: it encrypts with the newest
(the last configured) and decrypts with whichever key id an envelope names.

The process's keyring is installed once at start (creditsync/pii_keys.py from the settings or
the data directory); functions take an explicit keyring for tests and tools.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.errors import SchemaError

ENVELOPE_PREFIX = "enc:v1:"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Bound to the envelope version and key id, so a ciphertext cannot be moved under another id.
_AAD = b"creditsync:pii:v1:"


class PiiKeyError(SchemaError):
    """No keyring, a malformed key or envelope, or an envelope no key of the keyring opens."""


class PiiKeyring:
    """AES-256-GCM keys by key id; encrypts with `current` (the newest), decrypts any."""

    def __init__(self, keys: Mapping[str, bytes], current: str | None = None) -> None:
        if not keys:
            raise PiiKeyError("a PII keyring needs at least one key")
        for kid, key in keys.items():
            if not _KEY_ID.match(kid):
                raise PiiKeyError(f"key id {kid!r}: expected 1-64 of A-Z a-z 0-9 _ . -")
            if len(key) != 32:
                raise PiiKeyError(f"key {kid!r}: expected 32 bytes (AES-256), got {len(key)}")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current or list(keys)[-1]
        if self.current not in self._keys:
            raise PiiKeyError(f"current key id {self.current!r} is not in the keyring")

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @classmethod
    def parse(cls, spec: str) -> PiiKeyring:
        """From "kid1:<base64 32 bytes>,kid2:<…>" (CREDITSYNC_PII_ENCRYPTION_KEYS); the last
        entry is the newest, used to encrypt."""
        keys: dict[str, bytes] = {}
        for n, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
            kid, sep, b64 = entry.partition(":")
            if not sep:
                raise PiiKeyError(f"key entry {n + 1}: expected <key id>:<base64 key>")
            try:
                keys[kid.strip()] = base64.b64decode(b64.strip(), validate=True)
            except binascii.Error:
                raise PiiKeyError(f"key {kid.strip()!r}: not valid base64") from None
        return cls(keys)

    @staticmethod
    def new_entry(kid: str) -> str:
        """A fresh random key as one "kid:base64" entry of the keyring setting."""
        return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"

    def encrypt(self, clear: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current].encrypt(
            nonce, clear.encode("utf-8"), _AAD + self.current.encode()
        )
        return f"{ENVELOPE_PREFIX}{self.current}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, envelope: str) -> str:
        if not is_envelope(envelope):
            raise PiiKeyError("not an encrypted ID number (expected enc:v1:<key id>:<data>)")
        kid, sep, b64 = envelope[len(ENVELOPE_PREFIX) :].partition(":")
        if not sep:
            raise PiiKeyError("encrypted ID number without a key id")
        aead = self._keys.get(kid)
        if aead is None:
            raise PiiKeyError(
                f"encrypted ID number under key id {kid!r}, which this keyring does not hold "
                f"(it holds {', '.join(self._keys)}); keep retired keys in "
                "CREDITSYNC_PII_ENCRYPTION_KEYS until no record needs them"
            )
        try:
            raw = base64.b64decode(b64, validate=True)
            clear = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _AAD + kid.encode())
        except (binascii.Error, InvalidTag, ValueError):
            raise PiiKeyError(f"encrypted ID number under key id {kid!r} does not open") from None
        return clear.decode("utf-8")


def is_envelope(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENVELOPE_PREFIX)


_ACTIVE: PiiKeyring | None = None
_LOADER: Callable[[], PiiKeyring] | None = None
_LOCK = threading.Lock()


def install_keyring(keyring: PiiKeyring | None) -> None:
    """The keyring this process encrypts and decrypts with (None: uninstall)."""
    global _ACTIVE
    _ACTIVE = keyring


def set_keyring_loader(loader: Callable[[], PiiKeyring] | None) -> None:
    """How to get the keyring when none is installed, on first use (the CLI sets it, so a
    command that never touches an ID number reads no key)."""
    global _LOADER
    _LOADER = loader


def active_keyring() -> PiiKeyring:
    global _ACTIVE
    if _ACTIVE is None and _LOADER is not None:
        with _LOCK:
            if _ACTIVE is None:
                _ACTIVE = _LOADER()
    if _ACTIVE is None:
        raise PiiKeyError(
            "no PII encryption keyring installed: set CREDITSYNC_PII_ENCRYPTION_KEYS "
            "(creditsync/pii_keys.py installs it at start)"
        )
    return _ACTIVE


def encrypt_personal_id(value: str, keyring: PiiKeyring | None = None) -> str:
    """The envelope of an ID number; an envelope already (a re-driven record) stays as it is."""
    if is_envelope(value):
        return value
    return (keyring or active_keyring()).encrypt(value)


def decrypt_personal_id(value: str, keyring: PiiKeyring | None = None) -> str:
    """The clear ID number of an envelope, for the places entitled to it (masking and hashing
    in streams.rules.privacy, a receiving department's notice). A clear value (a record written
    before encryption) is returned as it is."""
    if not is_envelope(value):
        return value
    return (keyring or active_keyring()).decrypt(value)
