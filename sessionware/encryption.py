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

Sealed mode (``Keyring([...], sealed=True)``) binds each value to the session's
cookie token as well: the AES key is HKDF-SHA256 of the token, salted with the
ring's key, so opening needs both the server's key and the cookie. A store dump
with the server's keys reveals nothing; the management API shows :data:`SEALED`
instead of the payload. Such a value is ``0xC1 | 2 | key name | nonce | ...``;
a ring that is not sealed re-seals it with version 1 at the next save (given the
cookie), and a sealed ring re-seals version-1 values in the same way.

``hash_user_ids=True`` makes the middleware record an HMAC of the user id in the
store's user index instead of the id itself (:meth:`Keyring.user_tag`); the
management API hashes the id it is given with every key of the ring.

Everything here is pure: no I/O, no framework. ``cryptography`` is imported
only when a Keyring is made (``pip install "sessionware[encryption]"``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any

from .cookies import warn_if_weak
from .errors import ConfigurationError, CorruptRecord, missing_extra

MARKER = 0xC1  # never a msgpack first byte
VERSION = 1
BOUND = 2  # the version of a value sealed to its session's token (sealed mode)
SEALED = "[sealed: only the session's own cookie can open it]"
"""What the management API shows for a value sealed to its session's token."""
USER_TAG = "uh:"  # starts a hashed user id (hash_user_ids=True)
_HEADER = 2 + 4 + 12  # marker, version, key name, nonce
SEAL_OVERHEAD = _HEADER + 16  # the bytes sealing adds to a value: the header and GCM's tag
_SALT = b"sessionware keyring v1"


class Keyring:
    """AES-256-GCM keys, newest first; see the module docstring.

    Raises ConfigurationError for an empty list, a bytes key that is not 32
    bytes, an empty passphrase, or two entries that are the same key.
    """

    __slots__ = (
        "_aead",
        "_bound",
        "_keys",
        "_names",
        "allow_plaintext",
        "hash_user_ids",
        "newest",
        "sealed",
    )

    def __init__(
        self,
        keys: Iterable[bytes | str],
        *,
        sealed: bool = False,
        hash_user_ids: bool = False,
        allow_plaintext: bool = True,
    ) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as error:  # pragma: no cover - exercised without the extra
            raise missing_extra("sessionware.Keyring", "encryption") from error
        given = list(keys) if not isinstance(keys, (str, bytes)) else [keys]
        raw = [_key_bytes(key) for key in given]
        if not raw:
            raise ConfigurationError("Keyring needs at least one key, newest first")
        warn_if_weak(
            [key.encode() if isinstance(key, str) else key for key in given],
            lambda position: (
                "the Keyring's newest key"
                if position == 0
                else f"the Keyring's key number {position + 1}"
            ),
            "whoever guesses it reads every stored session value",
        )
        self._names = [hashlib.sha256(key).digest()[:4] for key in raw]
        if len(set(self._names)) != len(self._names):
            raise ConfigurationError("Keyring was given the same key twice")
        self._aead: dict[bytes, Any] = {
            name: AESGCM(key) for name, key in zip(self._names, raw, strict=True)
        }
        self._keys = dict(zip(self._names, raw, strict=True))
        self._bound: tuple[bytes, str, Any] | None = None  # the last token's cipher
        self.newest = self._names[0]
        self.sealed = _flag(sealed, "sealed")
        self.hash_user_ids = _flag(hash_user_ids, "hash_user_ids")
        self.allow_plaintext = _flag(allow_plaintext, "allow_plaintext")

    def __repr__(self) -> str:  # never the keys
        names = [name.hex() for name in self._names]
        return (
            f"Keyring(names={names}, sealed={self.sealed}, hash_user_ids={self.hash_user_ids}, "
            f"allow_plaintext={self.allow_plaintext})"
        )

    def seal(self, session_id: str, key: str, plaintext: bytes, token: str | None = None) -> bytes:
        """``plaintext`` (a value's encoding) sealed with the newest key for this place;
        in sealed mode also to ``token``, the session's cookie token (required then)."""
        nonce = os.urandom(12)
        if self.sealed:
            if token is None:
                raise ConfigurationError("a sealed Keyring seals only with the session's token")
            aead, version = self._token_aead(self.newest, token), BOUND
        else:
            aead, version = self._aead[self.newest], VERSION
        sealed: bytes = aead.encrypt(nonce, plaintext, _aad(session_id, key))
        return bytes((MARKER, version)) + self.newest + nonce + sealed

    def open(
        self, session_id: str, key: str, stored: bytes, token: str | None = None
    ) -> tuple[bytes, bool]:
        """``(plaintext, fresh)`` for a stored value; ``fresh`` is False when it should
        be sealed again (plaintext, an older key, or the other mode). ``token``: the
        session's cookie token, which a value sealed to it needs.

        Raises CorruptRecord when it is tampered, truncated, made with a key this
        ring does not hold, copied from another session or key, or sealed to a
        token that is not given (:class:`SealedToToken`, for the management API).
        """
        if not is_sealed(stored):
            if not self.allow_plaintext:
                raise CorruptRecord("a plain value where every value is sealed")
            return stored, False  # written before encryption was turned on
        if len(stored) < _HEADER + 16:  # (before reading the header: 0xC1 alone is too)
            raise CorruptRecord("a sealed session value shorter than its header and tag")
        version, name, nonce = stored[1], stored[2:6], stored[6:_HEADER]
        aead = self._aead.get(name)
        if version not in (VERSION, BOUND) or aead is None:
            raise CorruptRecord("a sealed session value names an unknown key or format")
        if version == BOUND:
            if token is None:
                raise SealedToToken("the value is sealed to its session's cookie")
            aead = self._token_aead(name, token)
        try:
            plaintext: bytes = aead.decrypt(nonce, stored[_HEADER:], _aad(session_id, key))
        except Exception as error:  # cryptography's InvalidTag: tampered, copied, truncated
            raise CorruptRecord("a sealed session value does not open") from error
        return plaintext, name == self.newest and (version == BOUND) == self.sealed

    def user_tag(self, user: str) -> str:
        """What the user index holds for ``user`` when ``hash_user_ids`` is on: an
        HMAC-SHA256 under the newest key (see :meth:`user_tags`)."""
        return self.user_tags(user)[0]

    def user_tags(self, user: str) -> list[str]:
        """``user``'s hash under every key, newest first: sessions recorded before a
        key rotation are found under an older key's hash."""
        return [
            USER_TAG
            + hmac.new(
                self._keys[name], b"sessionware user\x00" + user.encode(), "sha256"
            ).hexdigest()[:32]
            for name in self._names
        ]

    def _token_aead(self, name: bytes, token: str) -> Any:
        """The cipher for values sealed to ``token`` under key ``name`` (HKDF-SHA256 of
        the token, salted with that key); the last one is kept, as a request seals
        and opens several values with the same token."""
        last = self._bound
        if last is not None and last[0] == name and hmac.compare_digest(last[1], token):
            return last[2]
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        derived = HKDF(hashes.SHA256(), 32, self._keys[name], b"sessionware sealed v1")
        aead = AESGCM(derived.derive(token.encode()))
        self._bound = (name, token, aead)
        return aead


class SealedToToken(CorruptRecord):
    """A value sealed to its session's cookie token was opened without the token."""


def indexed_user(keyring: Keyring | None, user: str | None) -> str | None:
    """What the user index holds for ``user``: its keyed hash under the newest key when
    the ring has ``hash_user_ids`` (:meth:`Keyring.user_tag`), else the id itself."""
    if user is None or keyring is None or not keyring.hash_user_ids:
        return user
    return keyring.user_tag(user)


def opened(
    keyring: Keyring | None,
    session_id: str,
    data: dict[str, bytes] | None,
    token: str | None = None,
) -> dict[str, bytes] | None:
    """A record's data with every value opened (for the management API's reveal and
    its token calls). Raises CorruptRecord for a value that does not open, or a sealed
    value and no keyring (say so: pass ``encryption=`` to the manager).

    Values sealed to the session's token open with ``token`` (the token calls hold
    it); without it each reads as :data:`SEALED`, which is for showing only."""
    if data is None:
        return None
    if token is None and _any_sealed_to_token(data):
        from .codec import encode

        return {key: encode(key, SEALED) for key in data}  # only the cookie opens these
    if keyring is None:
        if any(is_sealed(raw) for raw in data.values()):
            raise CorruptRecord(
                f"session {session_id} is encrypted, and this reader holds no keys: read it "
                "through a manager made with encryption=Keyring([...]) (or a console given "
                "them); the sessionware command holds none"
            )
        return data
    return {key: keyring.open(session_id, key, raw, token)[0] for key, raw in data.items()}


UNREADABLE = "[unreadable: the value does not open with this ring's keys, or is damaged]"
"""What an export shows for a value that cannot be read (the rest of it still shows)."""
ENCRYPTED = "[encrypted: exported without the encryption keys]"
"""What an export made without a Keyring shows for an encrypted value."""


def readable_values(
    keyring: Keyring | None, session_id: str, data: dict[str, bytes] | None
) -> dict[str, Any] | None:
    """A record's values opened and decoded, for an export (``None``: not live).

    A value that does not open (a key the ring no longer holds, damage,
    encryption and no ring) or does not decode reads as :data:`UNREADABLE` (or
    :data:`ENCRYPTED`), so one bad value never hides the rest of a session, nor one
    session the rest of an export. Each value is decoded once."""
    if data is None:
        return None
    from .codec import decode

    if _any_sealed_to_token(data):
        return dict.fromkeys(data, SEALED)  # only the cookie opens these
    readable: dict[str, Any] = {}
    for key, raw in data.items():
        if keyring is None and is_sealed(raw):
            readable[key] = ENCRYPTED
            continue
        try:
            readable[key] = decode(
                raw if keyring is None else keyring.open(session_id, key, raw)[0]
            )
        except CorruptRecord:
            readable[key] = UNREADABLE
    return readable


def is_sealed(stored: bytes) -> bool:
    """Whether a stored value is sealed (rather than a plaintext encoding)."""
    return bool(stored) and stored[0] == MARKER


def _any_sealed_to_token(data: dict[str, bytes]) -> bool:
    """Whether a value of ``data`` is sealed to its session's token (sealed mode)."""
    return any(is_sealed(raw) and raw[1:2] == bytes((BOUND,)) for raw in data.values())


def _aad(session_id: str, key: str) -> bytes:
    return b"sessionware/v1\x00" + session_id.encode() + b"\x00" + key.encode("utf-8", "replace")


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"Keyring's {name} must be True or False, not {value!r}")
    return value


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
    raise ConfigurationError(  # its type only: the value may be (or hold) the keys themselves
        f"a Keyring key is 32 bytes or a passphrase str, not a {type(key).__qualname__}; "
        "pass the keys as a flat list, newest first"
    )
