"""SessionManager and AsyncSessionManager: the operator's view of a session store.

Both work over the same store object the middleware uses (it must implement
``ManagedStore`` or ``AsyncManagedStore``, see ``stores/base.py``) and have the
same methods; the async one's are awaitable. The logic lives once, in pure
functions (here and in ``sessionware.export``): a manager method only calls the
store (``store.x(...)`` or ``await store.ax(...)``) between them.

Contract shared by both:

* Ids are the store's public ids (what ``request.session.id`` shows), never
  cookie tokens. Times are aware UTC datetimes.
* ``reveal`` and ``export`` read payloads. Each read is written to the audit log
  *before* it happens, so no read goes unlogged: one entry per reveal, one per
  export (naming how many sessions it covered). ``revoke`` and, when given an
  actor, ``set_ttl`` are logged too. A session that is not live
  (expired, revoked, logged out, unknown) has no payload: reading it gives
  ``{}``, and ``get`` tells which it is.
* Invalid arguments raise :class:`~sessionware.errors.ConfigurationError` (a
  ValueError); a failing store raises :class:`~sessionware.errors.StoreUnavailable`.
"""

from __future__ import annotations

import builtins
import contextlib
import time
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from .analytics import DEFAULT_MAX_PAYLOAD_BYTES, Analytics, Tally
from .core import Duration, seconds
from .encryption import USER_TAG, Keyring, opened, readable_values
from .errors import ConfigurationError, RevocationIncomplete, StoreUnavailable
from .export import (
    JSON,
    AuditEntry,
    SessionInfo,
    SessionPage,
    audit_entry,
    decode_payload,
    export_document,
    export_item,
    exported_rows,
    session_info,
    session_page,
)
from .identity import user_text
from .session_types.period import describe
from .stores.base import (
    ACTIVE,
    END_USER_ACTORS,
    EXPIRED,
    REVOKED,
    SORT_FIELDS,
    AsyncManagedStore,
    AuditRecord,
    ManagedStore,
    Meta,
    Query,
    as_logged,
)
from .stores.listing import ActivityScan, matches
from .stores.memory import AUDIT_LIMIT
from .token_manager import AsyncTokenManager, TokenManager
from .tokens import REUSE, SecretKey, indexed_users, token_keys

if TYPE_CHECKING:
    from .session_types.registry import AsyncTypeRegistry, TypeRegistry

__all__ = ["AsyncSessionManager", "AuditEntry", "SessionInfo", "SessionManager", "SessionPage"]

STATUSES = (ACTIVE, EXPIRED, REVOKED)
MAX_PAGE_SIZE = 1000
# The highest 0-based page: its offset (at most 10**12) stays an exact integer in every
# store (a Lua double in Redis, a 64-bit int in SQL); a larger page would make them fail.
MAX_PAGE = 10**9
REVEAL, EXPORT, REVOKE, TTL = "reveal", "export", "revoke", "ttl"  # audit actions
TYPE = "type"  # a session type created, changed or deleted (session_types.registry)
# every action the audit log holds (REUSE: a refresh token used twice, see tokens.py)
AUDIT_ACTIONS = (REVEAL, EXPORT, REVOKE, TTL, REUSE, TYPE)
# Listings of a user's sessions revoke_user revokes before it gives up on sessions that keep
# moving to new ids under it (RevocationIncomplete); one more listing checks the last. A
# client refreshing its token in a tight loop escapes a round about half the time.
REVOKE_ROUNDS = 50
# entries read when the audit log is filtered: both of a store's logs at their default
# bound (operators' and end users', base.by_end_user), so that a flood of one kind never
# hides the other from a filter
AUDIT_SCAN = 2 * AUDIT_LIMIT
UNSPECIFIED_ACTOR = "unspecified"
_LIST_FILTERS = ("search", "status", "app", "user", "sort", "descending", "page", "page_size")
_STREAM_FILTERS = ("search", "status", "app", "user")
EXPORT_BATCH = 500  # sessions read per store query while streaming an export
Progress = Callable[[int, int], None]  # (sessions scanned so far, sessions in the store)


# -- argument checks and pure steps, shared by both managers --------------------------


UserId = str | int | float | Decimal | UUID
"""A user as the calls take it: what a session's user key or a type's selector holds."""
USER_TYPES = (str, int, float, Decimal, UUID)  # UserId's, for isinstance


def user_id(user: UserId) -> str:
    """A user as the stores keep it: a str, as the middleware records it
    (``identity.user_text``).

    Numbers and UUIDs are accepted and converted, so ``revoke_user(42)`` finds what
    ``session["user_id"] = 42`` recorded, and ``revoke_user(uuid)`` what a type's uuid
    selector named; anything else raises ConfigurationError.
    """
    if isinstance(user, bool) or not isinstance(user, USER_TYPES):
        raise ConfigurationError(
            f"user must be a str, a number or a UUID, not {type(user).__qualname__}"
        )
    return user_text(user)


def user_keys(keyring: Keyring | None, user: UserId) -> builtins.list[str]:
    """What the user index may hold for ``user``: the id, or (``hash_user_ids``) its
    keyed hash under every key of the ring, newest first, and then the id itself:
    sessions recorded before ``hash_user_ids`` was turned on are indexed under it
    until their next save, and a "log out everywhere" must find them. An id with a
    hash's form (``uh:...``) is not looked for as itself: it could be another user's
    hash (``tokens.indexed_users``). A number is also looked for as ``str()`` wrote
    it before numbers had one form (``"2.0"``)."""
    texts = [user_id(user)]
    if not isinstance(user, str) and str(user) != texts[0]:
        texts.append(str(user))
    return [key for text in texts for key in indexed_users(keyring, text)]


def _hashed_filters(keyring: Keyring | None, filters: dict[str, Any]) -> dict[str, Any]:
    """An export's filters with ``user`` as the index holds it, as :meth:`list` does."""
    if filters.get("user") is None:
        return filters
    return {**filters, "user": hashed_user(keyring, filters["user"])}


def hashed_user(keyring: Keyring | None, user: UserId | None) -> str | None:
    """``list``'s user filter as the index holds it (the newest key's hash, if any)."""
    return None if user is None else user_keys(keyring, user)[0]


def recorded_user_keys(keyring: Keyring | None, meta: Meta | None) -> builtins.list[str]:
    """Where the user index holds the sessions of the user a record names, as the
    record names it: a hash (``hash_user_ids``) only as itself, the hash being all the
    store knows; a plain id as :func:`user_keys` looks for it. Empty when the record
    is gone or names no user."""
    if meta is None or not meta.user:
        return []
    if keyring is not None and keyring.hash_user_ids and meta.user.startswith(USER_TAG):
        return [meta.user]
    return user_keys(keyring, meta.user)


def build_query(
    search: str | None = None,
    status: str | None = None,
    app: str | None = None,
    user: UserId | None = None,
    sort: str = "last_activity",
    descending: bool = True,
    page: int = 0,
    page_size: int = 100,
) -> Query:
    """Validate ``list``'s arguments into a store :class:`Query`."""
    if search is not None and not isinstance(search, str):
        raise ConfigurationError(f"search must be a str or None, not {type(search).__qualname__}")
    if app is not None and not isinstance(app, str):
        raise ConfigurationError(f"app must be a str or None, not {type(app).__qualname__}")
    if status is not None and status not in STATUSES:
        raise ConfigurationError(f"status must be one of {STATUSES} or None, not {status!r}")
    if sort not in SORT_FIELDS:
        raise ConfigurationError(f"sort must be one of {SORT_FIELDS}, not {sort!r}")
    if not _is_int(page) or not 0 <= page <= MAX_PAGE:
        raise ConfigurationError(
            f"page is 0-based: an int from 0 to {MAX_PAGE}, not {page!r}; "
            "list page 0 to see how many pages there are"
        )
    if not _is_int(page_size) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigurationError(
            f"page_size must be an int from 1 to {MAX_PAGE_SIZE}, not {page_size!r}; "
            "page through larger listings"
        )
    offset = page * page_size
    user = None if user is None else user_id(user)
    return Query(search or None, status, app, user, sort, bool(descending), offset, page_size)


def export_query(
    include_metadata: bool, filters: Mapping[str, Any], *, as_listed: bool = False
) -> Query:
    """The listing an export covers: ``list``'s filters; data-only means active only,
    unless ``as_listed`` (the page exactly as ``list`` shows it)."""
    unknown = sorted(set(filters) - set(_LIST_FILTERS))
    if unknown:
        raise ConfigurationError(f"export got unknown filters {unknown}; use {_LIST_FILTERS}")
    if not include_metadata and not as_listed:
        if filters.get("status", ACTIVE) != ACTIVE:
            raise ConfigurationError(
                f"a data-only export covers active sessions, not {filters['status']!r} ones "
                "(their payload is gone); pass include_metadata=True (the command's "
                "--include-metadata) to export those"
            )
        filters = {**filters, "status": ACTIVE}
    return build_query(**filters)


def stream_query(include_metadata: bool, filters: Mapping[str, Any]) -> Query:
    """The filter a streamed export applies: ``list``'s search, status, app and user."""
    unknown = sorted(set(filters) - set(_STREAM_FILTERS))
    if unknown:
        raise ConfigurationError(
            f"a streamed export takes the filters {_STREAM_FILTERS}, not {unknown}: it covers "
            "every matching session, in order of last activity, so it has no page or sort"
        )
    return export_query(include_metadata, filters)


def scan_step(rows_read: int, total: int, scanned: int, progress: Progress | None) -> int:
    """The count scanned after a batch of ``rows_read`` rows, told to ``progress``."""
    scanned += rows_read
    if progress is not None:
        progress(scanned, max(total, scanned))
    return scanned


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def not_of(meta: Meta | None, app: str | None) -> bool:
    """Whether a session ``revoke_user(..., app=app)`` listed is another app's, to be
    left alone (``meta``: its record, read just before; ``None``: gone meanwhile)."""
    return app is not None and meta is not None and meta.app != app


def revocation_incomplete(revoked: int, remaining: int) -> RevocationIncomplete:
    """The error for a ``revoke_user`` whose every listing still found live sessions."""
    return RevocationIncomplete(
        f"revoked {revoked} sessions of the user, but after {REVOKE_ROUNDS} rounds "
        f"{remaining} more were still listed (sessions given new ids, or new sign-ins, "
        "as fast as they are revoked): call it again",
        revoked=revoked,
        remaining=remaining,
    )


def checked_actor(actor: str) -> str:
    """``actor``, if it names someone; ConfigurationError otherwise."""
    if not isinstance(actor, str) or not actor.strip():
        raise ConfigurationError(f"actor must name who acts (a non-empty str), not {actor!r}")
    return actor


def operator_name(name: str, what: str = "an operator's name") -> str:
    """``name`` for an operator (the console's ``Operator``, the command's ``--actor``),
    unless it starts as the audit log's end users' entries do (``user:``,
    ``sessionware:``), which it bounds apart (``stores.base.by_end_user``):
    ConfigurationError then. The check reads the name as a person would: any case,
    compatibility forms folded (a fullwidth colon), and spaces and invisible
    characters before or inside the prefix ignored. (Readers of the log also mark
    which entries are end users' own: ``AuditEntry.by_end_user``.)"""
    if _skeleton(name).startswith(END_USER_ACTORS):
        raise ConfigurationError(
            f"{what} {name!r} starts with one of {', '.join(END_USER_ACTORS)}, which the "
            "audit log keeps for end users' own actions: name the operator otherwise"
        )
    return name


def _skeleton(name: str) -> str:
    """``name`` as it reads: NFKC-folded, casefolded, without spaces, controls, format
    characters (zero-width ones, bidi marks), combining marks or blank fillers, and
    with the colon's look-alikes as a colon. (Look-alike letters, a Cyrillic s, are
    left to the readers of the log, which mark each entry's kind apart from its name.)"""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_COLONS)
    return "".join(
        c
        for c in folded
        if not c.isspace() and unicodedata.category(c)[0] not in "CMZ" and c not in _BLANKS
    )


_COLONS = str.maketrans(dict.fromkeys("\u2236\ua789\ufe13\ufe55\u0589\u05c3\u02d0\u02f8", ":"))
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # letters and a symbol that show nothing


MAX_ID_LENGTH = 128  # a public id is 32 hex digits; no store makes a longer one


def could_be_id(session_id: object) -> bool:
    """Whether ``session_id`` could name a record. Reading under one that cannot (empty,
    or longer than any id: a form's junk) reads nothing, so it is not audited: the
    audit log keeps accesses, not whatever text a request sent. (Other odd characters
    are audited as asked; every reader of the log writes them out visibly.)"""
    return 0 < len(checked_id(session_id)) <= MAX_ID_LENGTH


def checked_id(session_id: object) -> str:
    """``session_id`` if it is a str; else ConfigurationError (every store alike: one
    answered None to a number, another raised TypeError)."""
    if not isinstance(session_id, str):
        raise ConfigurationError(f"a session id is a str, not {type(session_id).__qualname__}")
    return session_id


def checked_keep_and_app(keep: object, app: object) -> tuple[str | None, str | None]:
    """``revoke_user``'s ``keep`` and ``app``, each a str or None; else ConfigurationError
    (bytes or a UUID for ``keep`` matched no id, so the session to keep was revoked)."""
    if keep is not None:
        checked_id(keep)
    if app is not None and not isinstance(app, str):
        raise ConfigurationError(f"app must be a str or None, not {type(app).__qualname__}")
    if app == "":  # (no app is named "": it would have ended the user's sessions in all)
        raise ConfigurationError("app must name an app, or be None for every app; got ''")
    return keep, app  # type: ignore[return-value]


def audit_record(
    actor: str, action: str, session_id: str | None, reason: str | None
) -> AuditRecord:
    """An audit record stamped now."""
    session_id = None if session_id is None else checked_id(session_id)
    return AuditRecord(time.time(), checked_actor(actor), action, session_id, reason)


def bulk_reason(reason: str | None) -> str:
    """What each audit entry of a ``revoke_user`` says: one of the user's sessions ended
    together, then the operator's ``reason``."""
    return "every live session of its user" + (f": {reason}" if reason else "")


def revoked_by(meta: Meta | None, record: AuditRecord) -> bool:
    """Whether ``meta`` is the tombstone of the revocation ``record`` describes: a
    store call whose reply was lost (a dropped connection) and that was sent again
    reports the session not live; its tombstone says the first one did revoke it."""
    return (
        meta is not None
        and meta.status == REVOKED
        and meta.ended_at == record.at
        and meta.revoked_by == as_logged(record.actor)
    )


def export_record(
    actor: str, query: Query, filters: Mapping[str, Any], count: int, reason: str | None
) -> AuditRecord:
    """The one audit record of an export: what it covered (the page, the filters the
    operator gave), then the operator's reason."""
    page = query.offset // query.limit + 1
    what = f"{count} session{'' if count == 1 else 's'} (page {page}, {query.limit} per page"
    what += _filters_noted({k: v for k, v in filters.items() if k in _NOTED_FILTERS}) + ")"
    return audit_record(actor, EXPORT, None, what if not reason else f"{what}: {reason}")


def stream_record(actor: str, filters: Mapping[str, Any], reason: str | None) -> AuditRecord:
    """The one audit record of a streamed export (``iter_export``), written before it reads."""
    what = f"every matching session (streamed{_filters_noted(filters)})"
    return audit_record(actor, EXPORT, None, what if not reason else f"{what}: {reason}")


_NOTED_FILTERS = ("search", "status", "app", "user")


def _filters_noted(filters: Mapping[str, Any]) -> str:
    """``, status=revoked, user=bob``: the filters given, for an export's audit record
    (a search as a quoted string: its text is free, commas and all)."""
    return "".join(
        f", {name}={value!r}" if name == "search" else f", {name}={value}"
        for name, value in filters.items()
        if value is not None
    )


def streamed_record(
    actor: str,
    filters: Mapping[str, Any],
    count: int | None,
    reason: str | None,
    *,
    finished: bool = False,
) -> AuditRecord:
    """An audit record of :meth:`SessionManager.export_to`: before it reads a payload
    (``count`` is ``None``: ``started``), and after it, with how many sessions it wrote
    and whether it stopped early; the filters and the operator's reason in both."""
    what = "started" if count is None else f"{count} session{'' if count == 1 else 's'}"
    what += " (streamed" + _filters_noted(filters)
    what += ("" if finished or count is None else "; interrupted") + ")"
    return audit_record(actor, EXPORT, None, what if not reason else f"{what}: {reason}")


def ttl_record(actor: str, session_id: str, ttl: Duration | None, now: float) -> AuditRecord:
    """The audit record of a TTL change (``actor`` already checked), in plain seconds:
    ``expires in 15552000 s``, ``expires in 1.25 s`` (to the millisecond), ``unlimited``."""
    ttl_seconds = seconds(ttl, "ttl")
    if ttl_seconds is None:
        return AuditRecord(now, actor, TTL, session_id, "unlimited")
    text = f"{ttl_seconds:.3f}".rstrip("0").rstrip(".")  # never an exponent
    return AuditRecord(now, actor, TTL, session_id, f"expires in {text} s{_readable(ttl_seconds)}")


_SPANS = ((365 * 86400, "years"), (86400, "days"), (3600, "hours"), (60, "minutes"))


def _readable(ttl_seconds: float) -> str:
    """`` (about 100 years)``, `` (15 minutes)``, `` (90 minutes)``: a TTL of a minute
    or more in the largest unit it fills whole or ten times over (so that rounding
    never moves it by more than 5%: 90 minutes, not "about 2 hours"), for people
    reading the log; ``""`` when none does (90 seconds: the seconds say it)."""
    for size, unit in _SPANS:
        count = ttl_seconds / size
        if count >= 10 or (count >= 1 and ttl_seconds % size == 0):
            about = "" if ttl_seconds % size == 0 else "about "
            return f" ({about}{describe(round(count), unit)})"
    return ""


def audit_filter(
    records: builtins.list[AuditRecord], limit: int, actor: str | None, action: str | None
) -> builtins.list[AuditEntry]:
    """The newest ``limit`` of ``records`` by ``actor`` and of ``action`` (``None``: any)."""
    chosen = [
        r
        for r in records
        if (actor is None or r.actor == actor) and (action is None or r.action == action)
    ]
    return [audit_entry(record) for record in chosen[:limit]]


def audit_scan(store: object, limit: int) -> int:
    """How many entries a filtered audit query reads: all a store keeps (both of its
    logs, ``audit_limit`` each, where it says so), :data:`AUDIT_SCAN` at least."""
    kept = getattr(store, "audit_limit", 0)
    return max(limit, AUDIT_SCAN, 2 * kept if isinstance(kept, int) else 0)


def checked_limit(limit: int) -> int:
    """``limit``, if it is an int >= 1; ConfigurationError otherwise."""
    if not _is_int(limit) or limit < 1:
        raise ConfigurationError(f"limit must be an int >= 1, not {limit!r}")
    return limit


def fixed_expiry(ttl: Duration | None, now: float) -> float | None:
    """``set_ttl``'s expiry: ``now + ttl`` seconds, or ``None`` (durable) for ``None``."""
    ttl_seconds = seconds(ttl, "ttl")
    return None if ttl_seconds is None else now + ttl_seconds


def maybe_info(session_id: str, meta: Meta | None) -> SessionInfo | None:
    return None if meta is None else session_info(session_id, meta)


def active_by_recent_use(
    rows: builtins.list[tuple[str, Meta | None]],
) -> builtins.list[SessionInfo]:
    """The active sessions among ``rows``, most recently used first (ties: id, descending)."""
    live = [(i, meta) for i, meta in rows if meta is not None and meta.status == ACTIVE]
    live.sort(key=lambda row: (row[1].last_activity_at, row[0]), reverse=True)
    return [session_info(i, meta) for i, meta in live]


def _checked_store(store: Any, protocol: type, methods: str) -> Any:
    if not isinstance(store, protocol):
        raise ConfigurationError(
            f"store {type(store).__qualname__} does not implement {protocol.__name__} "
            f"({methods}): see sessionware/stores/base.py"
        )
    return store


# -- the two shells ------------------------------------------------------------------


class SessionManager(TokenManager):
    """Operator and self-service operations on ``store``'s sessions (sync).

    ``store`` implements ``ManagedStore``; ConfigurationError if it does not.
    ``secret_key`` (the middleware's: a key, or a list newest first) enables the
    token calls (``generate``, ``decrypt``, ``refresh``, ``users``; see ``sessionware.tokens``).
    """

    def __init__(
        self,
        store: ManagedStore,
        *,
        encryption: Keyring | None = None,
        secret_key: SecretKey | None = None,
    ) -> None:
        methods = "get_meta, read_data, query, user_session_ids, revoke, set_expiry, audit, ..."
        self.store: ManagedStore = _checked_store(store, ManagedStore, methods)
        self.encryption = encryption  # opens sealed values for reveal and export
        self._token_keys = token_keys(secret_key)

    @property
    def types(self) -> TypeRegistry:
        """The session types kept in this store: ``create``, ``update``, ``fetch``,
        ``fetch_all``, ``delete`` (see ``sessionware.session_types.registry``).
        ConfigurationError if the store has no registry."""
        from .session_types.registry import TypeRegistry

        return TypeRegistry(self.store)  # type: ignore[arg-type]

    def list(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        app: str | None = None,
        user: UserId | None = None,
        sort: str = "last_activity",
        descending: bool = True,
        page: int = 0,
        page_size: int = 100,
    ) -> SessionPage:
        """One page of sessions, tombstones included unless ``status`` says otherwise.

        ``search``: case-insensitive substring of id, user, email, app or status;
        ``status``: ``"active"``, ``"expired"`` or ``"revoked"``; ``app``, ``user``:
        exact. ``sort``: one of id, user, email, app, created, expires, status,
        last_activity; ties are broken by id in the same direction, so pages are
        stable. A missing value (no user, no expiry) ranks above every other, so
        it comes last ascending and first descending. ``page`` is 0-based;
        ``page_size`` 1 to 1000; ``page`` at most :data:`MAX_PAGE` (a page past
        the last one is empty).
        """
        user = hashed_user(self.encryption, user)
        query = build_query(search, status, app, user, sort, descending, page, page_size)
        return session_page(query, *self.store.query(query, now=time.time()))

    def get(self, session_id: str) -> SessionInfo | None:
        """The session's metadata (tombstones included); ``None`` if there is no record."""
        session_id = checked_id(session_id)
        return maybe_info(session_id, self.store.get_meta(session_id, now=time.time()))

    def reveal(self, session_id: str, *, actor: str, reason: str | None = None) -> dict[str, Any]:
        """The session's decoded payload, ``{}`` if it is not live; audit-logged before
        it reads, whether or not the session is live (only an id no record can have,
        empty or over :data:`MAX_ID_LENGTH` characters, reads nothing and is not).

        Raises CorruptRecord when a stored value cannot be decoded.
        """
        return decode_payload(self._read(session_id, actor, REVEAL, reason))

    def revoke(self, session_id: str, *, actor: str, reason: str | None = None) -> bool:
        """End a live session now: its payload is destroyed, a ``revoked`` tombstone
        stays for the store's retention. ``False`` (nothing logged) if it was not live.
        ``reason``, if given, goes into the audit entry."""
        record = audit_record(actor, REVOKE, checked_id(session_id), reason)
        revoked = self.store.revoke(session_id, actor=actor, now=record.at)
        if revoked or revoked_by(self.store.get_meta(session_id, now=record.at), record):
            self.store.add_audit(record)
            return True
        return False

    def revoke_user(
        self,
        user: UserId,
        *,
        actor: str,
        keep: str | None = None,
        app: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Revoke every live session of ``user`` except ``keep`` (``app``'s only, when
        given); how many were revoked. Each one's audit entry says it was one of a
        user's sessions ended together, with ``reason`` if given.

        A session given a new id while this runs (a token refresh, a login) is not
        missed: after revoking what it listed it lists the user's sessions again, until
        a listing finds none live it has not tried (``keep`` aside). After
        :data:`REVOKE_ROUNDS` rounds that still find some, RevocationIncomplete (what
        it revoked stays revoked).
        """
        checked_actor(actor)
        keep, app = checked_keep_and_app(keep, app)
        keys = user_keys(self.encryption, user)
        return self._revoke_indexed(keys, keep, app, actor, bulk_reason(reason))

    def revoke_user_of(self, session_id: str, *, actor: str, reason: str | None = None) -> int:
        """Revoke every live session of the user that session ``session_id`` names, that
        one included if live; how many were revoked (0: the session is gone or names no
        user). The user is taken as the store recorded it, so this works where the
        caller holds no user id: with ``hash_user_ids`` the console shows only the hash.
        A hash finds the sessions indexed under it, not those still under an older
        key's hash or the plain id (those found by :meth:`revoke_user` with the id).
        Audit entries and repeated listings as :meth:`revoke_user`."""
        checked_actor(actor)
        session_id = checked_id(session_id)
        keys = recorded_user_keys(self.encryption, self.store.get_meta(session_id, now=time.time()))
        return self._revoke_indexed(keys, None, None, actor, bulk_reason(reason))

    def _revoke_indexed(
        self, keys: builtins.list[str], keep: str | None, app: str | None, actor: str, why: str
    ) -> int:
        """:meth:`revoke_user`'s rounds over the user index entries ``keys``."""
        revoked, tried, rounds = 0, {keep}, 0
        while ids := self._untried(keys, tried):
            if rounds == REVOKE_ROUNDS:
                raise revocation_incomplete(revoked, len(ids))
            rounds += 1
            tried.update(ids)
            revoked += sum([self._revoke_of(i, app, actor, why) for i in ids])
        return revoked

    def _untried(self, keys: builtins.list[str], tried: set[str | None]) -> builtins.list[str]:
        """The live sessions indexed under ``keys`` not in ``tried``."""
        now = time.time()
        return [i for u in keys for i in self.store.user_session_ids(u, now=now) if i not in tried]

    def _revoke_of(self, session_id: str, app: str | None, actor: str, reason: str) -> bool:
        """:meth:`revoke` a session unless it is another app's than ``app``."""
        meta = self.store.get_meta(session_id, now=time.time()) if app else None
        if not_of(meta, app):
            return False
        return self.revoke(session_id, actor=actor, reason=reason)

    def set_ttl(self, session_id: str, ttl: Duration | None, *, actor: str | None = None) -> bool:
        """Expire the session at now + ``ttl`` (timedelta or seconds), whatever its use;
        ``None`` makes it durable (no expiry). ``False`` if it was not live. With an
        ``actor``, a change is audit-logged (action ``"ttl"``)."""
        now, actor = time.time(), None if actor is None else checked_actor(actor)
        session_id = checked_id(session_id)
        changed = self.store.set_expiry(session_id, fixed_expiry(ttl, now), now=now)
        if changed and actor is not None:
            self.store.add_audit(ttl_record(actor, session_id, ttl, now))
        return changed

    def user_sessions(self, user: UserId) -> builtins.list[SessionInfo]:
        """``user``'s active sessions, most recently used first ("my devices")."""
        now = time.time()
        ids = [
            i
            for u in user_keys(self.encryption, user)
            for i in self.store.user_session_ids(u, now=now)
        ]
        return active_by_recent_use([(i, self.store.get_meta(i, now=now)) for i in ids])

    def export(
        self,
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        as_listed: bool = False,
        **list_filters: Any,
    ) -> dict[str, JSON]:
        """One listing page as JSON-ready data (see ``sessionware.export`` for value forms).

        ``list_filters`` are :meth:`list`'s. Without metadata only active
        sessions are listed and exported; with ``as_listed``, the page is
        exactly :meth:`list`'s and data-only keeps its active rows. The export
        is audit-logged once (action ``"export"``, no session id, the count in
        the reason) under ``actor``, before any payload is read.
        """
        list_filters = _hashed_filters(self.encryption, list_filters)
        query = export_query(include_metadata, list_filters, as_listed=as_listed)
        rows, total = self.store.query(query, now=time.time())
        rows = exported_rows(rows, include_metadata=include_metadata)
        self.store.add_audit(export_record(actor, query, list_filters, len(rows), reason))
        payloads = [
            readable_values(self.encryption, i, self.store.read_data(i, now=time.time()))
            for i, _ in rows
        ]
        return export_document(query, rows, total, payloads, include_metadata=include_metadata)

    def iter_export(
        self,
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> Iterator[dict[str, JSON]]:
        """Every session matching ``filters`` (not one page), as :meth:`export`'s items.

        Reads the store :data:`EXPORT_BATCH` sessions at a time, most recently
        active first, so memory stays bounded whatever the store holds.
        ``filters``: ``search``, ``status``, ``app``, ``user``. The export is
        audit-logged once, before any payload is read, as :meth:`export` is.
        ``progress(scanned, total)`` is called after each batch. A session used
        while the export runs moves to the front of the order, so it may be seen
        twice; none is skipped for it.
        """
        filters = _hashed_filters(self.encryption, filters)
        query = stream_query(include_metadata, filters)
        self.store.add_audit(stream_record(checked_actor(actor), filters, reason))
        yield from self._stream(query, include_metadata, progress)

    def export_to(
        self,
        sink: Callable[[Iterator[dict[str, JSON]]], None],
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> int:
        """:meth:`iter_export`'s items handed to ``sink``, which writes them (a file, a
        download); returns how many it took. Audit-logged twice, with the filters: when
        ``sink`` first asks for an item, before any payload is read (``started``), so
        that no payload leaves without a trace, whatever happens to the process or the
        store later; and after ``sink`` returns, with that count, or, when it raised
        having taken some, how many and that the export was interrupted. A ``sink`` that
        raises before asking (a file it cannot open) leaves no entry: nothing was read.
        """
        actor = checked_actor(actor)
        filters = _hashed_filters(self.encryption, filters)
        query, count = stream_query(include_metadata, filters), 0

        def counted() -> Iterator[dict[str, JSON]]:
            nonlocal count
            self.store.add_audit(streamed_record(actor, filters, None, reason))
            for item in self._stream(query, include_metadata, progress):
                count += 1
                yield item

        try:
            sink(counted())
        except BaseException:
            if count:
                with contextlib.suppress(StoreUnavailable):  # the failure may be the store's
                    record = streamed_record(actor, filters, count, reason, finished=False)
                    self.store.add_audit(record)
            raise
        self.store.add_audit(streamed_record(actor, filters, count, reason, finished=True))
        return count

    def _stream(
        self, query: Query, include_metadata: bool, progress: Progress | None
    ) -> Iterator[dict[str, JSON]]:
        scan, scanned = ActivityScan(time.time(), EXPORT_BATCH), 0
        while (page := scan.next_query()) is not None:
            rows, total = self.store.query(page, now=time.time())
            for session_id, meta in scan.fresh(rows):
                if matches(query, session_id, meta):
                    data = readable_values(
                        self.encryption,
                        session_id,
                        self.store.read_data(session_id, now=time.time()),
                    )
                    yield export_item(session_id, meta, data, include_metadata=include_metadata)
            if scan.advanced or not rows:  # (a look further back: no progress)
                scanned = scan_step(scan.advanced, total, scanned, progress)

    def audit_log(
        self, *, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> builtins.list[AuditEntry]:
        """The newest ``limit`` audit entries, newest first (the store keeps a bounded log),
        only ``actor``'s and only of ``action`` when given."""
        limit = checked_limit(limit)
        if actor is None and action is None:
            return audit_filter(self.store.audit(limit=limit), limit, None, None)
        return audit_filter(
            self.store.audit(limit=audit_scan(self.store, limit)), limit, actor, action
        )

    def analytics(
        self, *, hours: int = 24, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    ) -> Analytics:
        """Counts and series over every session the store lists (see ``sessionware.analytics``).

        Reads the listing a page at a time: memory stays bounded, time grows
        with the number of sessions.
        """
        tally = Tally(time.time(), hours, max_payload_bytes)
        while query := tally.next_query():
            tally.add(self.store.query(query, now=tally.now)[0])
        return tally.result()

    def _read(
        self, session_id: str, actor: str, action: str, reason: str | None
    ) -> dict[str, bytes] | None:
        if not could_be_id(session_id):
            checked_actor(actor)
            return None
        record = audit_record(actor, action, session_id, reason)
        self.store.add_audit(record)
        return opened(self.encryption, session_id, self.store.read_data(session_id, now=record.at))


class AsyncSessionManager(AsyncTokenManager):
    """:class:`SessionManager`'s operations, awaitable, over an ``AsyncManagedStore``."""

    def __init__(
        self,
        store: AsyncManagedStore,
        *,
        encryption: Keyring | None = None,
        secret_key: SecretKey | None = None,
    ) -> None:
        methods = "aget_meta, aread_data, aquery, auser_session_ids, arevoke, aset_expiry, ..."
        self.store: AsyncManagedStore = _checked_store(store, AsyncManagedStore, methods)
        self.encryption = encryption  # opens sealed values for reveal and export
        self._token_keys = token_keys(secret_key)

    @property
    def types(self) -> AsyncTypeRegistry:
        """See :attr:`SessionManager.types`; awaitable methods."""
        from .session_types.registry import AsyncTypeRegistry

        return AsyncTypeRegistry(self.store)  # type: ignore[arg-type]

    async def list(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        app: str | None = None,
        user: UserId | None = None,
        sort: str = "last_activity",
        descending: bool = True,
        page: int = 0,
        page_size: int = 100,
    ) -> SessionPage:
        """See :meth:`SessionManager.list`."""
        user = hashed_user(self.encryption, user)
        query = build_query(search, status, app, user, sort, descending, page, page_size)
        return session_page(query, *await self.store.aquery(query, now=time.time()))

    async def get(self, session_id: str) -> SessionInfo | None:
        """See :meth:`SessionManager.get`."""
        session_id = checked_id(session_id)
        return maybe_info(session_id, await self.store.aget_meta(session_id, now=time.time()))

    async def reveal(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> dict[str, Any]:
        """See :meth:`SessionManager.reveal`."""
        return decode_payload(await self._read(session_id, actor, REVEAL, reason))

    async def revoke(self, session_id: str, *, actor: str, reason: str | None = None) -> bool:
        """See :meth:`SessionManager.revoke`."""
        record = audit_record(actor, REVOKE, checked_id(session_id), reason)
        revoked = await self.store.arevoke(session_id, actor=actor, now=record.at)
        if revoked or revoked_by(await self.store.aget_meta(session_id, now=record.at), record):
            await self.store.aadd_audit(record)
            return True
        return False

    async def revoke_user(
        self,
        user: UserId,
        *,
        actor: str,
        keep: str | None = None,
        app: str | None = None,
        reason: str | None = None,
    ) -> int:
        """See :meth:`SessionManager.revoke_user`."""
        checked_actor(actor)
        keep, app = checked_keep_and_app(keep, app)
        keys = user_keys(self.encryption, user)
        return await self._revoke_indexed(keys, keep, app, actor, bulk_reason(reason))

    async def revoke_user_of(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> int:
        """See :meth:`SessionManager.revoke_user_of`."""
        checked_actor(actor)
        session_id = checked_id(session_id)
        meta = await self.store.aget_meta(session_id, now=time.time())
        keys = recorded_user_keys(self.encryption, meta)
        return await self._revoke_indexed(keys, None, None, actor, bulk_reason(reason))

    async def _revoke_indexed(
        self, keys: builtins.list[str], keep: str | None, app: str | None, actor: str, why: str
    ) -> int:
        """See :meth:`SessionManager._revoke_indexed`."""
        revoked, tried, rounds = 0, {keep}, 0
        while ids := await self._untried(keys, tried):
            if rounds == REVOKE_ROUNDS:
                raise revocation_incomplete(revoked, len(ids))
            rounds += 1
            tried.update(ids)
            revoked += sum([await self._revoke_of(i, app, actor, why) for i in ids])
        return revoked

    async def _untried(
        self, keys: builtins.list[str], tried: set[str | None]
    ) -> builtins.list[str]:
        """See :meth:`SessionManager._untried`."""
        now = time.time()
        return [
            i
            for u in keys
            for i in await self.store.auser_session_ids(u, now=now)
            if i not in tried
        ]

    async def _revoke_of(self, session_id: str, app: str | None, actor: str, reason: str) -> bool:
        """See :meth:`SessionManager._revoke_of`."""
        meta = await self.store.aget_meta(session_id, now=time.time()) if app else None
        if not_of(meta, app):
            return False
        return await self.revoke(session_id, actor=actor, reason=reason)

    async def set_ttl(
        self, session_id: str, ttl: Duration | None, *, actor: str | None = None
    ) -> bool:
        """See :meth:`SessionManager.set_ttl`."""
        now, actor = time.time(), None if actor is None else checked_actor(actor)
        session_id = checked_id(session_id)
        changed = await self.store.aset_expiry(session_id, fixed_expiry(ttl, now), now=now)
        if changed and actor is not None:
            await self.store.aadd_audit(ttl_record(actor, session_id, ttl, now))
        return changed

    async def user_sessions(self, user: UserId) -> builtins.list[SessionInfo]:
        """See :meth:`SessionManager.user_sessions`."""
        now = time.time()
        ids = [
            i
            for u in user_keys(self.encryption, user)
            for i in await self.store.auser_session_ids(u, now=now)
        ]
        return active_by_recent_use([(i, await self.store.aget_meta(i, now=now)) for i in ids])

    async def export(
        self,
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        as_listed: bool = False,
        **list_filters: Any,
    ) -> dict[str, JSON]:
        """See :meth:`SessionManager.export`."""
        list_filters = _hashed_filters(self.encryption, list_filters)
        query = export_query(include_metadata, list_filters, as_listed=as_listed)
        rows, total = await self.store.aquery(query, now=time.time())
        rows = exported_rows(rows, include_metadata=include_metadata)
        await self.store.aadd_audit(export_record(actor, query, list_filters, len(rows), reason))
        payloads = [
            readable_values(self.encryption, i, await self.store.aread_data(i, now=time.time()))
            for i, _ in rows
        ]
        return export_document(query, rows, total, payloads, include_metadata=include_metadata)

    async def iter_export(
        self,
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> AsyncIterator[dict[str, JSON]]:
        """See :meth:`SessionManager.iter_export`."""
        filters = _hashed_filters(self.encryption, filters)
        query = stream_query(include_metadata, filters)
        await self.store.aadd_audit(stream_record(checked_actor(actor), filters, reason))
        async for item in self._stream(query, include_metadata, progress):
            yield item

    async def export_to(
        self,
        sink: Callable[[AsyncIterator[dict[str, JSON]]], Awaitable[None]],
        *,
        include_metadata: bool = False,
        actor: str = UNSPECIFIED_ACTOR,
        reason: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> int:
        """See :meth:`SessionManager.export_to`; ``sink`` is a coroutine function that
        reads the items with ``async for``."""
        actor = checked_actor(actor)
        filters = _hashed_filters(self.encryption, filters)
        query, count = stream_query(include_metadata, filters), 0

        async def counted() -> AsyncGenerator[dict[str, JSON], None]:
            nonlocal count
            await self.store.aadd_audit(streamed_record(actor, filters, None, reason))
            async for item in self._stream(query, include_metadata, progress):
                count += 1
                yield item

        items = counted()
        try:
            await sink(items)
        except BaseException:
            if count:
                with contextlib.suppress(StoreUnavailable):  # the failure may be the store's
                    record = streamed_record(actor, filters, count, reason, finished=False)
                    await self.store.aadd_audit(record)
            raise
        finally:  # (a sink that stopped early leaves the stream open: close it now)
            await items.aclose()
        await self.store.aadd_audit(streamed_record(actor, filters, count, reason, finished=True))
        return count

    async def _stream(
        self, query: Query, include_metadata: bool, progress: Progress | None
    ) -> AsyncIterator[dict[str, JSON]]:
        scan, scanned = ActivityScan(time.time(), EXPORT_BATCH), 0
        while (page := scan.next_query()) is not None:
            rows, total = await self.store.aquery(page, now=time.time())
            for session_id, meta in scan.fresh(rows):
                if matches(query, session_id, meta):
                    raw = await self.store.aread_data(session_id, now=time.time())
                    data = readable_values(self.encryption, session_id, raw)
                    yield export_item(session_id, meta, data, include_metadata=include_metadata)
            if scan.advanced or not rows:  # (a look further back: no progress)
                scanned = scan_step(scan.advanced, total, scanned, progress)

    async def audit_log(
        self, *, limit: int = 100, actor: str | None = None, action: str | None = None
    ) -> builtins.list[AuditEntry]:
        """See :meth:`SessionManager.audit_log`."""
        limit = checked_limit(limit)
        if actor is None and action is None:
            return audit_filter(await self.store.aaudit(limit=limit), limit, None, None)
        scan = audit_scan(self.store, limit)
        return audit_filter(await self.store.aaudit(limit=scan), limit, actor, action)

    async def analytics(
        self, *, hours: int = 24, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    ) -> Analytics:
        """See :meth:`SessionManager.analytics`."""
        tally = Tally(time.time(), hours, max_payload_bytes)
        while query := tally.next_query():
            tally.add((await self.store.aquery(query, now=tally.now))[0])
        return tally.result()

    async def _read(
        self, session_id: str, actor: str, action: str, reason: str | None
    ) -> dict[str, bytes] | None:
        if not could_be_id(session_id):
            checked_actor(actor)
            return None
        record = audit_record(actor, action, session_id, reason)
        await self.store.aadd_audit(record)
        raw = await self.store.aread_data(session_id, now=record.at)
        return opened(self.encryption, session_id, raw)
