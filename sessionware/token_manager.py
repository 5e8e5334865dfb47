"""The managers' token calls: generate, decrypt, refresh and users, sync and async.

Mixed into :class:`~sessionware.management.SessionManager` and
:class:`~sessionware.management.AsyncSessionManager`; each method runs the pure
steps of ``sessionware.tokens`` against the store. The store must implement the
session contract (``create``, ``rotate``) beside the management one, as every
store sessionware ships does.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .cookies import public_id
from .encryption import Keyring, opened
from .errors import ConfigurationError, CorruptRecord, RefreshTokenReused, UnknownSessionType
from .export import decode_payload
from .stores.base import (
    ACTIVE,
    AsyncManagedStore,
    AsyncStore,
    ManagedStore,
    Meta,
    SyncStore,
    written_meanwhile,
)
from .tokens import (
    REFRESH_ATTEMPTS,
    Issued,
    RefreshClaims,
    SessionToken,
    TokenKeys,
    TokenType,
    UserPage,
    ended,
    indexed_users,
    issue,
    refresh_conflict,
    renewed,
    require_keys,
    reuse_record,
    successor,
    unchanged_since,
    unreadable,
    user_page,
    users_query,
)

__all__ = ["AsyncTokenManager", "TokenManager"]


class TokenManager:
    """Token calls over a sync store (see ``sessionware.tokens`` for the rules)."""

    store: ManagedStore
    encryption: Keyring | None
    _token_keys: TokenKeys | None
    types: Any  # the session type registry (sessionware.session_types.registry)

    def generate(self, tag: str, payload: Mapping[str, Any]) -> SessionToken:
        """Start a session of type ``tag`` holding ``payload``; its client's credentials.

        The payload is validated against the type's schema (SchemaViolation), the
        lifetime is the type's, the user is what its selector names. Raises
        ConfigurationError without ``secret_key``, UnknownSessionType for an unknown tag.
        """
        made = issue(self._keys(), self._type(tag), payload, self.encryption, time.time())
        self._sessions().create(made.session_id, made.data, made.meta)
        return made.credentials

    def decrypt(self, token: str) -> dict[str, Any]:
        """The payload of the live session ``token`` names (no activity is recorded).

        Raises InvalidToken (forged, malformed, refreshed, unknown), TokenExpired
        or TokenRevoked: never another session's payload, never an empty one.
        """
        secret, now = self._keys().secret(token), time.time()
        session_id = public_id(secret)
        raw = self.store.read_data(session_id, now=now)
        if raw is None:
            raise ended(session_id, self.store.get_meta(session_id, now=now))
        return decode_payload(_opened(self.encryption, session_id, raw, secret))

    def refresh(self, refresh_token: str) -> SessionToken:
        """A new token and refresh token for the session, with a new lifetime from its
        type; the old pair stops working at once. Works once per refresh token: a used
        one presented again revokes the session (RefreshTokenReused, audit-logged).

        The new record carries the data as it is when it replaces the old one: where
        the store checks it (``ROTATE_CHECKS_CHANGES``), a write another request made
        after the load refuses the rotation, and the refresh loads again, up to
        ``REFRESH_ATTEMPTS`` times (then RefreshConflict: nothing changed, send it again).

        Raises InvalidToken, TokenExpired or TokenRevoked when the session is not live.
        """
        claims = self._keys().claims(refresh_token)
        old_id = claims.session_id
        for _ in range(REFRESH_ATTEMPTS):
            now = time.time()
            meta = self.store.get_meta(old_id, now=now)
            raw = self.store.read_data(old_id, now=now)
            if meta is None or raw is None or meta.status != ACTIVE:
                raise self._ended(claims, meta, now)
            made = self._renewed(claims, meta, raw, now)
            store = self._sessions()
            check = unchanged_since(store, meta)
            if store.rotate(
                old_id, made.session_id, made.data, made.meta, require_live=True, **check
            ):
                return made.credentials
            after = self.store.get_meta(old_id, now=now)
            if not written_meanwhile(check, after):  # a refresh raced, or the session ended
                raise self._ended(claims, after, now)
        raise refresh_conflict(old_id)

    def users(self, tag: str, *, page: int = 0, page_size: int = 100) -> UserPage:
        """The distinct users (selector values) with live sessions of type ``tag``, and
        how many each has; most sessions first. Reads every live session of the type."""
        query, counts = users_query(tag, page, page_size), Counter[str]()
        self._type(tag)  # an unknown tag is an error, not an empty page
        while True:
            rows, _ = self.store.query(query, now=time.time())
            counts.update(meta.user for _, meta in rows if meta.user is not None)
            if len(rows) < query.limit:
                return user_page(counts, page, page_size)
            query.offset += query.limit

    def _ended(self, claims: RefreshClaims, meta: Meta | None, now: float) -> Exception:
        """The error for a refresh token whose session is not live; revokes its
        successor first when there is one (the token was used already)."""
        if claims.user is not None:
            ids = [
                session_id
                for user in indexed_users(self.encryption, claims.user)
                for session_id in self.store.user_session_ids(user, now=now)
            ]
            found = successor(claims, [(i, self.store.get_meta(i, now=now)) for i in ids])
            if found is not None:
                record = reuse_record(found, now)
                if self.store.revoke(found, actor=record.actor, now=now):
                    self.store.add_audit(record)
                return _reused(found)
        return ended(claims.session_id, meta)

    def _renewed(
        self, claims: RefreshClaims, meta: Meta, raw: dict[str, bytes], now: float
    ) -> Issued:
        """The record to replace the loaded one (``meta``, ``raw``) with; InvalidToken
        when its values no longer open or its type was deleted."""
        plain = _opened(self.encryption, claims.session_id, raw, claims.token)
        try:
            kind = self._type(meta.app)
        except UnknownSessionType as error:  # deleted while its sessions live
            raise unreadable(claims.session_id, error) from error
        try:
            return renewed(self._keys(), kind, plain, meta, self.encryption, now, claims.user)
        except CorruptRecord as error:  # (bytes that open but do not decode)
            raise unreadable(claims.session_id, error) from error

    def _keys(self) -> TokenKeys:
        return require_keys(self._token_keys)

    def _type(self, tag: str) -> TokenType:
        kind: TokenType = self.types.fetch(tag)  # UnknownSessionType for an unknown tag
        return kind

    def _sessions(self) -> SyncStore:
        store: SyncStore = _checked_sessions(self.store, SyncStore, "create, rotate")
        return store


class AsyncTokenManager:
    """:class:`TokenManager`'s calls, awaitable, over an async store."""

    store: AsyncManagedStore
    encryption: Keyring | None
    _token_keys: TokenKeys | None
    types: Any

    async def generate(self, tag: str, payload: Mapping[str, Any]) -> SessionToken:
        """See :meth:`TokenManager.generate`."""
        keys = self._keys()  # (first, as the sync twin: no keys is the app's mistake)
        kind = await self._type(tag)
        made = issue(keys, kind, payload, self.encryption, time.time())
        await self._sessions().acreate(made.session_id, made.data, made.meta)
        return made.credentials

    async def decrypt(self, token: str) -> dict[str, Any]:
        """See :meth:`TokenManager.decrypt`."""
        secret, now = self._keys().secret(token), time.time()
        session_id = public_id(secret)
        raw = await self.store.aread_data(session_id, now=now)
        if raw is None:
            raise ended(session_id, await self.store.aget_meta(session_id, now=now))
        return decode_payload(_opened(self.encryption, session_id, raw, secret))

    async def refresh(self, refresh_token: str) -> SessionToken:
        """See :meth:`TokenManager.refresh`."""
        claims = self._keys().claims(refresh_token)
        old_id = claims.session_id
        for _ in range(REFRESH_ATTEMPTS):
            now = time.time()
            meta = await self.store.aget_meta(old_id, now=now)
            raw = await self.store.aread_data(old_id, now=now)
            if meta is None or raw is None or meta.status != ACTIVE:
                raise await self._ended(claims, meta, now)
            made = await self._renewed(claims, meta, raw, now)
            store = self._sessions()
            check = unchanged_since(store, meta)
            if await store.arotate(
                old_id, made.session_id, made.data, made.meta, require_live=True, **check
            ):
                return made.credentials
            after = await self.store.aget_meta(old_id, now=now)
            if not written_meanwhile(check, after):  # a refresh raced, or the session ended
                raise await self._ended(claims, after, now)
        raise refresh_conflict(old_id)

    async def users(self, tag: str, *, page: int = 0, page_size: int = 100) -> UserPage:
        """See :meth:`TokenManager.users`."""
        query, counts = users_query(tag, page, page_size), Counter[str]()
        await self._type(tag)
        while True:
            rows, _ = await self.store.aquery(query, now=time.time())
            counts.update(meta.user for _, meta in rows if meta.user is not None)
            if len(rows) < query.limit:
                return user_page(counts, page, page_size)
            query.offset += query.limit

    async def _ended(self, claims: RefreshClaims, meta: Meta | None, now: float) -> Exception:
        """See :meth:`TokenManager._ended`."""
        if claims.user is not None:
            ids = [
                session_id
                for user in indexed_users(self.encryption, claims.user)
                for session_id in await self.store.auser_session_ids(user, now=now)
            ]
            metas = [(i, await self.store.aget_meta(i, now=now)) for i in ids]
            found = successor(claims, metas)
            if found is not None:
                record = reuse_record(found, now)
                if await self.store.arevoke(found, actor=record.actor, now=now):
                    await self.store.aadd_audit(record)
                return _reused(found)
        return ended(claims.session_id, meta)

    async def _renewed(
        self, claims: RefreshClaims, meta: Meta, raw: dict[str, bytes], now: float
    ) -> Issued:
        """See :meth:`TokenManager._renewed`."""
        plain = _opened(self.encryption, claims.session_id, raw, claims.token)
        try:
            kind = await self._type(meta.app)
        except UnknownSessionType as error:
            raise unreadable(claims.session_id, error) from error
        try:
            return renewed(self._keys(), kind, plain, meta, self.encryption, now, claims.user)
        except CorruptRecord as error:  # (bytes that open but do not decode)
            raise unreadable(claims.session_id, error) from error

    def _keys(self) -> TokenKeys:
        return require_keys(self._token_keys)

    async def _type(self, tag: str) -> TokenType:
        kind: TokenType = await self.types.fetch(tag)
        return kind

    def _sessions(self) -> AsyncStore:
        store: AsyncStore = _checked_sessions(self.store, AsyncStore, "acreate, arotate")
        return store


def _reused(session_id: str) -> RefreshTokenReused:
    return RefreshTokenReused(
        "this refresh token was used already: reuse means it was stolen, so its session "
        "is revoked; the client must sign in again",
        session_id=session_id,
    )


def _checked_sessions(store: object, protocol: type, methods: str) -> Any:
    if not isinstance(store, protocol):
        raise ConfigurationError(
            f"session tokens need a store that also implements {protocol.__name__} "
            f"({methods}), as every store sessionware ships does"
        )
    return store


def _opened(
    keyring: Keyring | None, session_id: str, raw: dict[str, bytes], secret: str
) -> dict[str, bytes]:
    """A token session's values, opened; InvalidToken when the ring cannot open them
    (sealed under a key it no longer holds)."""
    try:
        return opened(keyring, session_id, raw, secret) or {}
    except CorruptRecord as error:
        raise unreadable(session_id, error) from error
