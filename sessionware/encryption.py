"""Encryption at rest: each stored session value sealed with AES-256-GCM.

``Keyring([newest, older, ...])`` takes keys newest first, as ``secret_key``
does: the newest seals, every key opens, so an old key can be retired once every
live session has been saved since the new one came first (one idle timeout).

A key is 32 random bytes, or a passphrase (``str``) that HKDF-SHA256 turns into
one. Its name is the first 4 bytes of the SHA-256 of the key, stored with each
value so that opening needs no trial decryption. The key itself is never stored.

A sealed value is ``0xC1 | version | key name (4) | nonce (12) | ciphertext+tag``.
0xC1 is the one byte msgpack never writes, so plaintext values written before
encryption was turned on are told apart and still read (and sealed at the next
save). The nonce is 96 random bits from ``os.urandom`` per value. The
authenticated data is the session's public id and the value's key name, so a
ciphertext copied to another session or another key does not open.

Everything here is pure: no I/O, no framework. ``cryptography`` is imported
only when a Keyring is made (``pip install "sessionware[encryption]"``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any

from .errors import ConfigurationError, CorruptRecord, missing_extra

MARKER = 0xC1  # never a msgpack first byte
VERSION = 1
_HEADER = 2 + 4 + 12  # marker, version, key name, nonce
_SALT = b"sessionware keyring v1"


class Keyring:
    """AES-256-GCM keys, newest first; see the module docstring.

    Raises ConfigurationError for an empty list, a bytes key that is not 32
    bytes, an empty passphrase, or two entries that are the same key.
    """

    __slots__ = ("_aead", "_names", "newest")

    def __init__(self, keys: Iterable[bytes | str]) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as error:  # pragma: no cover - exercised without the extra
            raise missing_extra("sessionware.Keyring", "encryption") from error
        raw = [_key_bytes(key) for key in (keys if not isinstance(keys, (str, bytes)) else [keys])]
        if not raw:
            raise ConfigurationError("Keyring needs at least one key, newest first")
        self._names = [hashlib.sha256(key).digest()[:4] for key in raw]
        if len(set(self._names)) != len(self._names):
            raise ConfigurationError("Keyring was given the same key twice")
        self._aead: dict[bytes, Any] = {
            name: AESGCM(key) for name, key in zip(self._names, raw, strict=True)
        }
        self.newest = self._names[0]

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(names={[name.hex() for name in self._names]})"

    def seal(self, session_id: str, key: str, plaintext: bytes) -> bytes:
        """``plaintext`` (a value's encoding) sealed with the newest key for this place."""
        nonce = os.urandom(12)
        sealed: bytes = self._aead[self.newest].encrypt(nonce, plaintext, _aad(session_id, key))
        return bytes((MARKER, VERSION)) + self.newest + nonce + sealed

    def open(self, session_id: str, key: str, stored: bytes) -> tuple[bytes, bool]:
        """``(plaintext, fresh)`` for a stored value; ``fresh`` is False when it should
        be sealed again (plaintext, or sealed with an older key).

        Raises CorruptRecord when it is tampered, truncated, made with a key this
        ring does not hold, or copied from another session or key.
        """
        if not is_sealed(stored):
            return stored, False  # written before encryption was turned on
        name, nonce = stored[2:6], stored[6:_HEADER]
        aead = self._aead.get(name)
        if stored[1] != VERSION or aead is None or len(stored) < _HEADER + 16:
            raise CorruptRecord("a sealed session value names an unknown key or format")
        try:
            plaintext: bytes = aead.decrypt(nonce, stored[_HEADER:], _aad(session_id, key))
        except Exception as error:  # cryptography's InvalidTag: tampered, copied, truncated
            raise CorruptRecord("a sealed session value does not open") from error
        return plaintext, name == self.newest


def opened(
    keyring: Keyring | None, session_id: str, data: dict[str, bytes] | None
) -> dict[str, bytes] | None:
    """A record's data with every value opened (for the management API's reveal and
    export). Raises CorruptRecord for a value that does not open, or a sealed value
    and no keyring (say so: pass ``encryption=`` to the manager)."""
    if data is None:
        return None
    if keyring is None:
        if any(is_sealed(raw) for raw in data.values()):
            raise CorruptRecord(
                f"session {session_id} is encrypted: make the manager with "
                "encryption=Keyring([...]) to read it"
            )
        return data
    return {key: keyring.open(session_id, key, raw)[0] for key, raw in data.items()}


def is_sealed(stored: bytes) -> bool:
    """Whether a stored value is sealed (rather than a plaintext encoding)."""
    return bool(stored) and stored[0] == MARKER


def _aad(session_id: str, key: str) -> bytes:
    return b"sessionware/v1\x00" + session_id.encode() + b"\x00" + key.encode("utf-8", "replace")


def _key_bytes(key: object) -> bytes:
    if isinstance(key, bytes):
        if len(key) != 32:
            raise ConfigurationError(
                f"a Keyring bytes key must be 32 bytes (AES-256), not {len(key)}; make one "
                "with os.urandom(32), or pass a passphrase str"
            )
        return key
    if isinstance(key, str):
        if not key:
            raise ConfigurationError("a Keyring passphrase must not be empty")
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        derived: bytes = HKDF(hashes.SHA256(), 32, _SALT, b"aes-256-gcm").derive(key.encode())
        return derived
    raise ConfigurationError(f"a Keyring key is 32 bytes or a passphrase str, not {key!r}")
