"""Session tokens: sessions started by server code, for clients without a cookie jar.

``SessionManager(store, secret_key=...).generate(tag, payload)`` starts a session
of a session type and hands back a :class:`SessionToken`:

* ``token`` is exactly what a session cookie carries: 256 random bits
  (``cookies.new_token``) signed with the middleware's keys. The store knows the
  session only by the token's public id (a SHA-256), as it knows a cookie's, so
  a middleware with ``bearer=True`` uses it as it would the cookie.
* ``refresh_token`` is the same secret signed again under another salt, with the
  session's creation time and user. It is stored nowhere: it is valid while its
  token's session is live, so the first refresh (which gives the session a new
  token, so a new id) makes both old ones worthless at once. Presenting it again
  finds that session's successor through the user index (same user, same
  creation time), revokes it and writes ``refresh-reuse`` to the audit log: a
  used refresh token in two hands means one of them stole it.

A session's type is kept in its record as ``Meta.app`` (the type's tag): its
lifetime is fixed from the type at generate and at each refresh (no sliding),
its user comes from the type's selector. Tokens are never logged, listed or
exported; their ``repr`` hides them.

The steps here are pure; ``sessionware.management`` runs them against a store.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple, Protocol

from itsdangerous import BadData, URLSafeSerializer

from . import codec
from .cookies import TOKEN_LENGTH, TokenSigner, new_token, public_id, signing_keys
from .encryption import USER_TAG, Keyring, indexed_user
from .errors import (
    ConfigurationError,
    CorruptRecord,
    InvalidToken,
    RefreshConflict,
    SessionTooLarge,
    TokenError,
    TokenExpired,
    TokenRevoked,
    UnknownSessionType,
    UnstorableValue,
)
from .stores.base import ACTIVE, EXPIRED, REVOKED, AuditRecord, Meta, Query, checks_changes

SecretKey = str | bytes | Sequence[str | bytes]  # the middleware's secret_key, newest first
REFRESH_SALT = b"sessionware.refresh"
REUSE_ACTOR = "sessionware:refresh-reuse"  # who revokes a session whose refresh token was reused
REUSE = "refresh-reuse"  # its audit action
# Loads a refresh makes of a session that other requests keep writing before it gives up
# (RefreshConflict): each rotation is refused when the record changed since its load.
REFRESH_ATTEMPTS = 5
USERS_BATCH = 1000  # sessions read per store query while counting a type's users
MAX_PAGE_SIZE = 1000
_NO_KEY = (
    "session tokens are signed with the middleware's keys: make the manager with "
    "SessionManager(store, secret_key=...) (the same value, or list newest first, "
    "that the middleware takes)"
)


class TokenType(Protocol):
    """What tokens need of a session type (``sessionware.session_types.SessionType``)."""

    @property
    def tag(self) -> str: ...

    def validate(self, payload: Mapping[str, Any]) -> None:
        """Raise SchemaViolation when ``payload`` does not fit the type's schema."""
        ...

    def expires_at(self, start: float) -> float:
        """When a lifetime starting at ``start`` ends (epoch seconds)."""
        ...

    def user_of(self, payload: Mapping[str, Any]) -> str | None:
        """The user the selector names in ``payload``, ``None`` when it names none."""
        ...


@dataclass(frozen=True, slots=True)
class SessionToken:
    """A token session's credentials, for its client. ``repr`` hides both secrets.

    ``token`` goes in ``Authorization: Bearer <token>``; ``refresh_token`` gets
    a new pair from ``SessionManager.refresh`` once, before ``expires_at`` (an
    aware UTC datetime). ``session_id`` is the store's (public) id.
    """

    token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    session_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UserSessions:
    """One user of a session type and how many live sessions they have."""

    user: str
    sessions: int


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of a type's users, most sessions first (ties by user); ``page`` is
    0-based, ``total_items`` the distinct users in all (as in ``SessionPage``)."""

    items: list[UserSessions]
    page: int
    page_size: int
    total_items: int
    total_pages: int


class RefreshClaims(NamedTuple):
    """What a refresh token carries: its session's token, creation time and user."""

    token: str
    created_at: float
    user: str | None

    @property
    def session_id(self) -> str:
        """The public id of the session the refresh token was issued with."""
        return public_id(self.token)


class Issued(NamedTuple):
    """A record to write (``create`` or ``rotate``) and the credentials that name it."""

    session_id: str
    data: dict[str, bytes]
    meta: Meta
    credentials: SessionToken


class TokenKeys:
    """Signs and verifies tokens (as cookies) and refresh tokens, newest key first."""

    def __init__(self, secret_key: SecretKey) -> None:
        keys = signing_keys(secret_key)  # ConfigurationError for a bad key
        self.signer = TokenSigner(keys)
        self._refresh = URLSafeSerializer(
            list(reversed(keys)),  # newest last
            salt=REFRESH_SALT,
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )

    def __repr__(self) -> str:
        return "TokenKeys(secret_key=<hidden>)"

    def secret(self, token: object) -> str:
        """The secret ``token`` carries (its session's id is its public id, and values
        sealed to it open with it); InvalidToken unless we signed it."""
        verified = self.signer.verify(token) if isinstance(token, str) else None
        if verified is None:
            raise InvalidToken("not a session token signed with this manager's secret_key")
        return verified.token

    def claims(self, refresh_token: object) -> RefreshClaims:
        """What ``refresh_token`` carries; InvalidToken unless we signed it."""
        try:
            if not isinstance(refresh_token, str) or len(refresh_token) > 2048:
                raise BadData("not a refresh token")
            token, created_at, user = self._refresh.loads(refresh_token)
            if not isinstance(token, str) or len(token) != TOKEN_LENGTH:
                raise BadData("not a refresh token")
            return RefreshClaims(token, float(created_at), None if user is None else str(user))
        except (BadData, ValueError, TypeError) as error:
            raise InvalidToken(
                "not a refresh token signed with this manager's secret_key"
            ) from error

    def credentials(self, token: str, meta: Meta, user: str | None) -> SessionToken:
        """The client's pair for a session with secret ``token`` and record ``meta``;
        ``user`` is the selector's value (the record may hold its keyed hash instead:
        ``hash_user_ids``), which the refresh token carries to find the session again."""
        refresh = self._refresh.dumps([token, meta.created_at, user])
        assert meta.expires_at is not None
        return SessionToken(
            token=self.signer.sign(token),
            refresh_token=refresh if isinstance(refresh, str) else refresh.decode(),
            session_id=public_id(token),
            expires_at=datetime.fromtimestamp(meta.expires_at, timezone.utc),
        )


def token_keys(secret_key: SecretKey | None) -> TokenKeys | None:
    """The manager's keys, ``None`` without ``secret_key`` (token calls then refuse)."""
    return None if secret_key is None else TokenKeys(secret_key)


def require_keys(keys: TokenKeys | None) -> TokenKeys:
    """``keys``, or the ConfigurationError that says how to give them."""
    if keys is None:
        raise ConfigurationError(_NO_KEY)
    return keys


def issue(
    keys: TokenKeys,
    kind: TokenType,
    payload: Mapping[str, Any],
    keyring: Keyring | None,
    now: float,
) -> Issued:
    """A new session of type ``kind`` holding ``payload``, its lifetime starting ``now``.

    Raises SchemaViolation (from the type), UnstorableValue or SessionTooLarge.
    """
    if not isinstance(payload, Mapping):
        raise ConfigurationError(f"payload must be a mapping, not {type(payload).__qualname__}")
    for key in payload:  # (before the schema, whose errors name fields by str keys)
        codec.check_key(key)
    kind.validate(payload)
    plain = {key: codec.encode(key, value) for key, value in payload.items()}
    size = sum(len(key.encode()) + len(raw) for key, raw in plain.items())
    if size > codec.MAX_RECORD_BYTES:
        raise SessionTooLarge(
            f"the payload is {size} bytes, over the {codec.MAX_RECORD_BYTES} any session may have",
            key=None,
            size=size,
            limit=codec.MAX_RECORD_BYTES,
        )
    expires_at = kind.expires_at(now)
    user = kind.user_of(payload)
    codec.check_indexable("user id", user, None)  # (the type's selector names it)
    meta = Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=expires_at,
        deadline=expires_at,
        sliding=False,
        app=kind.tag,
        user=indexed_user(keyring, user),
        size_bytes=size,
        max_size_bytes=size,
        attribute_count=len(plain),
    )
    return _issued(keys, plain, meta, keyring, user)


def renewed(
    keys: TokenKeys,
    kind: TokenType,
    plain: dict[str, bytes],
    old: Meta,
    keyring: Keyring | None,
    now: float,
    claimed: str | None,
) -> Issued:
    """The record that replaces ``old`` at a refresh: same data and creation time; a
    new lifetime from ``kind`` starting ``now``; a new token. Its user is what the
    type's selector names in the data now, filed as a bound middleware files it
    (under the ring's newest key with ``hash_user_ids``): a write or a new selector
    may have changed it since the refresh token was issued, and a key rotation
    the hash it is filed under. Where the selector names none now (a field the data
    lacks) or one no index can hold, the user stays ``claimed``, the one the refresh
    token names, so that neither reuse detection nor ``revoke_user`` loses the
    session. The new refresh token names that user. CorruptRecord when the data does
    not decode."""
    try:
        user = kind.user_of({key: codec.decode(raw) for key, raw in plain.items()})
        codec.check_indexable("user id", user, None)
    except UnstorableValue:
        user = None
    if user is None:
        user = claimed
    meta = old.copy()
    meta.updated_at = meta.last_activity_at = now
    meta.expires_at = meta.deadline = kind.expires_at(now)
    meta.sliding = False
    meta.user = indexed_user(keyring, user)
    return _issued(keys, plain, meta, keyring, user)


def _issued(
    keys: TokenKeys,
    plain: dict[str, bytes],
    meta: Meta,
    keyring: Keyring | None,
    user: str | None,
) -> Issued:
    secret = new_token()
    session_id = public_id(secret)
    data = (  # (a sealed ring seals to the new secret, as a login seals to its cookie's)
        plain
        if keyring is None
        else {k: keyring.seal(session_id, k, v, secret) for k, v in plain.items()}
    )
    return Issued(session_id, data, meta, keys.credentials(secret, meta, user))


def indexed_users(keyring: Keyring | None, user: str) -> list[str]:
    """Where the user index may hold ``user``'s sessions: under its keyed hash by
    every key of the ring, newest first (``hash_user_ids``), then the id itself
    (sessions recorded before ``hash_user_ids`` was turned on), unless the id has a
    hash's form (starts with ``uh:``): hashes and plain ids share the index, and a
    user whose id is another user's hash must never be handed that user's sessions."""
    if keyring is None or not keyring.hash_user_ids:
        return [user]
    tags = keyring.user_tags(user)
    return tags if user.startswith(USER_TAG) else [*tags, user]


def unreadable(session_id: str, error: CorruptRecord | UnknownSessionType) -> InvalidToken:
    """The error for a live token session that can no longer be used: its values do not
    open with the ring's keys (the key that sealed them was dropped), or its type was
    deleted (a refresh takes its new lifetime from the type)."""
    if isinstance(error, UnknownSessionType):
        why = f"its session type {error.tag!r} no longer exists"
    else:
        why = "its values do not open with this manager's encryption keys (was a key dropped?)"
    return InvalidToken(
        f"the token's session cannot be used: {why}; sign the client in again",
        session_id=session_id,
    )


def unchanged_since(store: object, loaded: Meta) -> dict[str, float]:
    """A refresh's rotation check, as the middleware's login makes it: the record must
    still be as ``loaded`` (its ``updated_at``), so that a write answered since is
    not undone by carrying the older data to the new id (a refused rotation is then
    ``stores.base.written_meanwhile``). Empty for a store whose ``rotate`` does not
    take it (``stores.base.checks_changes``)."""
    return {"unchanged_since": loaded.updated_at} if checks_changes(store) else {}


def refresh_conflict(session_id: str) -> RefreshConflict:
    """The error for a refresh whose session was written meanwhile at every attempt."""
    return RefreshConflict(
        f"the session was written by other requests during each of {REFRESH_ATTEMPTS} "
        "attempts to refresh it, so it was not refreshed; the refresh token still works: "
        "send the refresh again",
        session_id=session_id,
    )


def ended(session_id: str, meta: Meta | None) -> TokenError:
    """The error for a token whose session is not live, by what its record says."""
    if meta is not None and meta.status == EXPIRED:
        return TokenExpired("the token's session has expired", session_id=session_id)
    if meta is not None and meta.status == REVOKED:
        return TokenRevoked("the token's session was revoked", session_id=session_id)
    return InvalidToken(
        "the token names no live session (it was refreshed, logged out, or never existed)",
        session_id=session_id,
    )


def successor(claims: RefreshClaims, metas: Iterable[tuple[str, Meta | None]]) -> str | None:
    """Among the claimed user's sessions, the live one the refresh token's session
    became (the same creation time), if any."""
    for session_id, meta in metas:
        if meta is not None and meta.status == ACTIVE and meta.created_at == claims.created_at:
            return session_id
    return None


def reuse_record(session_id: str, now: float) -> AuditRecord:
    """The audit record of a session revoked because its refresh token came back."""
    reason = "a used refresh token was presented again; the session was revoked"
    return AuditRecord(now, REUSE_ACTOR, REUSE, session_id, reason)


def users_query(tag: str, page: int, page_size: int) -> Query:
    """The scan that counts ``tag``'s users (its first batch); checks the page arguments."""
    if not isinstance(tag, str) or not tag:
        raise ConfigurationError(f"tag must name a session type, not {tag!r}")
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise ConfigurationError(f"page is 0-based: an int >= 0, not {page!r}")
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise ConfigurationError(f"page_size must be an int from 1 to {MAX_PAGE_SIZE}")
    return Query(app=tag, status=ACTIVE, sort="id", descending=False, limit=USERS_BATCH)


def user_page(counts: Counter[str], page: int, page_size: int) -> UserPage:
    """One page of ``counts`` (user → live sessions), most sessions first."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    chosen = ranked[page * page_size : (page + 1) * page_size]
    pages = -(-len(ranked) // page_size)
    return UserPage([UserSessions(u, n) for u, n in chosen], page, page_size, len(ranked), pages)
