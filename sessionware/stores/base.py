"""The store contract: what a session backend must do, and nothing more.

A store keeps one record per session, keyed by the session's *public id* (a hash
of the cookie token; a store never sees a token). A record is:

* ``data``: ``dict[str, bytes]``, one entry per session key, each value already
  encoded by the core (``sessionware.codec``). Stores never decode values.
* ``meta``: a :class:`Meta`, plain numbers and strings about the session.

Times are float seconds since the epoch (``time.time()``), passed in by the
caller as ``now`` so that every store agrees on one clock; durations carry their
unit in their name (``idle_seconds``).

Expiry. ``meta.expires_at`` is when the record stops being live (``None``: never,
a durable session). While ``meta.sliding`` is true, every :meth:`SyncStore.load`
moves it to ``now + idle_seconds``, never past ``meta.deadline`` (the absolute
cap); :func:`slid_expiry` is the rule. A record whose ``expires_at`` has passed
is not live: ``load`` returns ``None`` and ``save`` writes nothing.

No resurrection. ``save`` and ``rotate`` write only into a record that is still
live, atomically, so a save racing a logout, a rotation or a revocation never
brings the record back.

Errors. A store raises :class:`~sessionware.errors.StoreUnavailable` (with the
cause chained) when its backend cannot be reached or fails; ``save`` raises
:class:`~sessionware.errors.SessionTooLarge` (:func:`too_large`) for a change it
refuses as over the size cap. :class:`~sessionware.errors.CorruptRecord` is for
the core, not stores: stores return bytes as they were given.

Sizes. A record's ``size_bytes`` and ``attribute_count`` describe what it holds
(an entry counts its key's UTF-8 length plus its value's bytes), and a store
keeps them so itself, atomically with every write: concurrent requests on one
session each change their own keys, and each sees only its own view of the rest.

A store serves sync callers (WSGI, Flask) through :class:`SyncStore` and async
callers (ASGI) through :class:`AsyncStore`: the same operations, the async ones
prefixed with ``a``. A store may implement one or both; the middleware says which
it needs. Run ``tests/stores/test_contract.py`` against your own store.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol, runtime_checkable

from ..errors import SessionTooLarge

# The longest any duration may be (a timeout, a TTL, a "remember me"), so that no record's
# expiry passes what every store, cookie date and Redis PEXPIRE can hold: longer is a
# mistake (or means "never", which is None).
MAX_DURATION_SECONDS = 100 * 365.25 * 24 * 3600

ACTIVE = "active"
EXPIRED = "expired"
REVOKED = "revoked"


@dataclass(slots=True)
class Meta:
    """What a store keeps about a session besides its data.

    ``created_at`` survives id rotation. ``deadline`` is the absolute cap that
    sliding never passes (``None``: no cap). ``size_bytes`` is the encoded
    payload size, ``max_size_bytes`` the largest it has been. ``status`` is
    ``"active"``, ``"expired"`` or ``"revoked"``; ``ended_at`` and ``revoked_by``
    are set when it stops being active. ``device`` is an opaque string (where
    the session was created and last used, see ``sessionware.devices``).
    """

    created_at: float
    updated_at: float
    last_activity_at: float
    expires_at: float | None
    deadline: float | None = None
    sliding: bool = True
    app: str = "default"
    user: str | None = None
    email: str | None = None
    size_bytes: int = 0
    max_size_bytes: int = 0
    attribute_count: int = 0
    status: str = ACTIVE
    ended_at: float | None = None
    revoked_by: str | None = None
    device: str | None = None  # sessionware.devices' JSON text; stores keep it as given

    def copy(self) -> Meta:
        """A copy; several times faster than ``dataclasses.replace`` (a per-load cost)."""
        return Meta(*_meta_values(self))


_meta_values = attrgetter(*Meta.__dataclass_fields__)


@dataclass(slots=True)
class StoredSession:
    """A live record as :meth:`SyncStore.load` returns it (meta already slid)."""

    data: dict[str, bytes]
    meta: Meta


@dataclass(slots=True)
class Changes:
    """One request's changes to a live record.

    ``set`` holds the keys whose encoded value changed (or are new), ``removed``
    the keys deleted. The store works out the record's ``size_bytes`` and
    ``attribute_count`` itself, in the same atomic step as the write, from the
    entries it holds (:func:`resized`): concurrent requests each change their own
    keys of one record, and each sees only its own view of the rest.
    ``max_size_bytes`` is the cap (``None``: none) that the save refuses to take
    the record past (:func:`refused`): it raises :func:`too_large`'s error,
    writing nothing. ``uncounted_keys`` are the framework's own keys, which
    ``attribute_count`` leaves out. ``updated_at``, ``user``, ``email`` and
    ``device`` replace the record's metadata; ``max_size_bytes`` of the record
    becomes the largest size it has had. ``size_bytes`` is the size the request
    saw, for metrics only: a store never records it.
    """

    set: dict[str, bytes] = field(default_factory=dict)
    removed: Sequence[str] = ()
    updated_at: float = 0.0
    size_bytes: int = 0
    max_size_bytes: int | None = None
    uncounted_keys: frozenset[str] = frozenset()
    user: str | None = None
    email: str | None = None
    device: str | None = None  # a new Meta.device; None leaves it as it is


def checks_changes(store: object) -> bool:
    """Whether ``store``'s ``rotate`` takes ``unchanged_since`` (its class sets
    ``ROTATE_CHECKS_CHANGES = True``); one written before that argument is called
    without it, and so carries its data over whatever was written meanwhile."""
    return bool(getattr(store, "ROTATE_CHECKS_CHANGES", False))


def written_meanwhile(checked: Mapping[str, object], meta: Meta | None) -> bool:
    """Whether a rotation refused under ``checked`` (its keyword arguments) was refused
    because another request wrote the record since its load (``meta``, read after the
    refusal, is still live), not because the record went."""
    return "unchanged_since" in checked and meta is not None and meta.status == ACTIVE


def changed_since(meta: Meta, unchanged_since: float | None) -> bool:
    """Whether a live record ``meta`` was written after the request that is rotating it
    loaded it (``unchanged_since``: the ``updated_at`` it loaded; ``None``: no check)."""
    return unchanged_since is not None and meta.updated_at != unchanged_since


WRITTEN = "written"
GONE = "gone"
TOO_LARGE = "too-large"


@dataclass(slots=True)
class BlindWrite:
    """Keys a request set without ever reading the session: saved without a load.

    ``set`` holds the new encodings by key (never the framework's internal keys).
    Applied to a live record in one atomic step, the write replaces those keys,
    sets ``updated_at`` and ``last_activity_at`` to ``now``, slides the expiry as a
    load would (:func:`slid_expiry` with ``idle_seconds``), and recomputes
    ``size_bytes`` (the old size, less the replaced entries, plus the new ones; an
    entry is its key's UTF-8 length plus its value's), ``max_size_bytes`` and
    ``attribute_count`` (one more per key the record did not hold).
    """

    set: dict[str, bytes]
    now: float
    idle_seconds: float | None
    max_size_bytes: int
    # the app (``Meta.app``: an app_id, or a session type's tag) whose record this may
    # be: a live record of another app is not written (GONE), as one not live is not.
    # None: any app's (a caller written before this field)
    app: str | None = None


def same_app(meta: Meta, write: BlindWrite) -> bool:
    """Whether a blind write may go into the live record ``meta`` describes: it is of
    the writing middleware's app (or the write names none)."""
    return write.app is None or meta.app == write.app


def entry_size(key: str, value: bytes) -> int:
    """The bytes one entry counts for: its key's UTF-8 length plus its value's."""
    return len(key.encode()) + len(value)


# Keys frameworks keep for themselves (flash messages, Flask's permanent flag), which a
# record's attribute_count leaves out: the core's INTERNAL_KEYS, which it passes a save
UNCOUNTED_KEYS = frozenset({"_flashes", "_permanent"})


def attribute_count(data: Mapping[str, object]) -> int:
    """How many of ``data``'s keys a record counts: all but :data:`UNCOUNTED_KEYS`."""
    return sum(key not in UNCOUNTED_KEYS for key in data)


def measured(data: Mapping[str, bytes], meta: Meta) -> Meta:
    """``meta`` with the size and attribute count of ``data`` (:func:`entry_size` summed;
    :data:`UNCOUNTED_KEYS` not counted), and a largest size of at least that: what a
    store records at ``create`` and ``rotate``, whatever its caller's meta said (an
    import through the API), as ``save`` works them out from what the record holds.
    ``meta`` itself when it says so already (the middleware's always does)."""
    size = sum(entry_size(key, value) for key, value in data.items())
    count = attribute_count(data)
    if meta.size_bytes == size and meta.attribute_count == count and meta.max_size_bytes >= size:
        return meta
    return dataclasses.replace(
        meta,
        size_bytes=size,
        attribute_count=count,
        max_size_bytes=max(meta.max_size_bytes, size),
    )


def resized(
    size: int,
    count: int,
    old: Mapping[str, int],
    changes: Changes,
) -> tuple[int, int]:
    """A record's size and attribute count after ``changes``, from its size and count
    before and the stored lengths (``old``) of the values it replaces or removes
    (absent: a key the record does not hold). O(changed keys): the one rule every
    store follows for a save; Redis's script follows it in Lua."""
    uncounted, removed = changes.uncounted_keys, set(changes.removed)
    for key, value in changes.set.items():
        if key in removed:
            continue  # stores set, then remove: the key ends up gone
        length = len(key.encode())
        if key in old:
            size -= length + old[key]
        elif key not in uncounted:
            count += 1
        size += length + len(value)
    for key in removed:
        if key in old:
            size -= len(key.encode()) + old[key]
            count -= key not in uncounted
    return max(size, 0), max(count, 0)


def refused(before: int, after: int, cap: int | None) -> bool:
    """Over the cap: a record may stay as large as it was, never grow past it."""
    return cap is not None and after > cap and after > before


def too_large(limit: int, size: int | None = None) -> SessionTooLarge:
    """The error of a save or blind write that the store refused as over ``limit``."""
    return SessionTooLarge(
        "the keys set in this request would make the stored session larger than "
        "max_payload_bytes; it was not saved. Keep large data elsewhere (a database "
        "row, a cache) and store its id, or raise max_payload_bytes",
        key=None,
        size=size,
        limit=limit,
    )


def blind_size(meta: Meta, old: Mapping[str, int], write: BlindWrite) -> tuple[int, int]:
    """The record's size and attribute count after ``write`` (:func:`resized`'s rule)."""
    return resized(meta.size_bytes, meta.attribute_count, old, Changes(set=write.set))


def blind_refused(meta: Meta, size: int, write: BlindWrite) -> bool:
    """Over the cap: a record may stay as large as it was, never grow past it."""
    return refused(meta.size_bytes, size, write.max_size_bytes)


def slid_expiry(meta: Meta, now: float, idle_seconds: float | None) -> float | None:
    """The record's expiry after a load at ``now``: the one rule every store follows.

    A non-sliding record keeps its ``expires_at``. A sliding one moves to
    ``now + idle_seconds`` (or ``None`` without an idle timeout), capped by
    ``deadline``.
    """
    if not meta.sliding:
        return meta.expires_at
    candidate = None if idle_seconds is None else now + idle_seconds
    if meta.deadline is None:
        return candidate
    return meta.deadline if candidate is None else min(candidate, meta.deadline)


@runtime_checkable
class SyncStore(Protocol):
    """The operations the sync middleware (WSGI, Flask) needs."""

    def load(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        """Return the live record and mark activity, or ``None``.

        In the same operation: set ``last_activity_at = now`` and
        ``expires_at = slid_expiry(meta, now, idle_seconds)``. ``None`` when the
        record is missing, expired, revoked or was deleted.
        """
        ...

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        """Store a new live record (the id is fresh: nothing to overwrite), with the size
        and count of ``data`` (:func:`measured`), not those ``meta`` gives."""
        ...

    def save(self, session_id: str, changes: Changes) -> bool:
        """Apply ``changes`` to a live record; ``False``, writing nothing, if not live.

        In the same atomic step, work out the record's ``size_bytes`` and
        ``attribute_count`` from what it holds (:func:`resized`), never from the
        request's view, and raise :func:`too_large`'s SessionTooLarge, writing
        nothing, when they would take it past ``changes.max_size_bytes``
        (:func:`refused`).
        """
        ...

    def rotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        *,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> bool:
        """Delete ``old_id`` and create ``new_id`` with ``data`` and ``meta``.

        With ``require_live`` (a regenerated id carrying the old data), nothing
        is left written and ``False`` is returned when ``old_id`` is no longer
        live, so a revoked session cannot live on under a new id. Without it
        (data written after a logout), the new record is created regardless.
        Either way an ended ``old_id``'s tombstone stays for its retention.

        ``unchanged_since`` (the ``updated_at`` the request loaded; passed only to
        a store whose class sets ``ROTATE_CHECKS_CHANGES = True``): a live
        ``old_id`` written since (another request saved a key meanwhile) is left
        as it is and ``False`` is returned, as for one not live, so that the
        rotation does not carry an older view of the data over that write.
        """
        ...

    def delete(self, session_id: str) -> None:
        """Remove a live record entirely (logout). Missing records are fine; an
        ended record's tombstone (expired, revoked) stays for its retention."""
        ...


@runtime_checkable
class BlindWriteStore(Protocol):
    """A sync store that can save keys without loading first (optional)."""

    def write(self, session_id: str, write: BlindWrite) -> str:
        """Apply ``write`` (see :class:`BlindWrite`) to a live record, atomically.

        Returns :data:`WRITTEN`; :data:`GONE`, writing nothing, when the record is
        not live (missing, expired, revoked, logged out) or is another app's
        (:func:`same_app`); :data:`TOO_LARGE`, writing
        nothing, when the result would pass ``max_size_bytes`` (:func:`blind_refused`).
        """
        ...


@runtime_checkable
class AsyncBlindWriteStore(Protocol):
    """:class:`BlindWriteStore`'s operation, awaitable."""

    async def awrite(self, session_id: str, write: BlindWrite) -> str:
        """See :meth:`BlindWriteStore.write`."""
        ...


# What a store that leaves marks (:class:`MarkingStore`) says of an id whose live record
# it removed in the last MARK_SECONDS: a rotation gave it a new id (a login, "remember
# me"), or a logout deleted it.
MOVED = "moved"
LOGGED_OUT = "logged out"
# How long a mark stays: as long as a request sent beside a login or logout (with the
# old cookie) may take to save, and short, since a client that never received that
# response (its cookie still the old one) has its writes refused until the mark goes.
MARK_SECONDS = 15


@runtime_checkable
class MarkingStore(Protocol):
    """A sync store that remembers, for :data:`MARK_SECONDS`, why a live record left.

    Such a store's ``rotate`` leaves :data:`MOVED` on ``old_id`` when it moved a live
    record's data (``require_live``: a login), :data:`LOGGED_OUT` when it replaced it
    without (a logout that then set keys), and its ``delete`` leaves
    :data:`LOGGED_OUT` when it deleted one, in the same atomic step. The middleware
    asks only on a rare path: a request whose cookie named no live record (or whose
    blind write found none) is about to start a new session, or a login found its
    record gone. A mark then says a concurrent login or logout took it: the request
    answers 409 ("send it again") and sets no cookie, so that the one the login set
    stays, where a store without marks would start a new session whose cookie
    replaces the login's (signing the user out); a login whose record another login
    moved, or a logout ended, answers 409 too.
    """

    def moved_mark(self, session_id: str, *, now: float) -> str | None:
        """:data:`MOVED`, :data:`LOGGED_OUT`, or ``None`` (no mark, or an older one)."""
        ...


@runtime_checkable
class AsyncMarkingStore(Protocol):
    """:class:`MarkingStore`'s question, awaitable."""

    async def amoved_mark(self, session_id: str, *, now: float) -> str | None:
        """See :meth:`MarkingStore.moved_mark`."""
        ...


@runtime_checkable
class AsyncStore(Protocol):
    """The operations the ASGI middleware needs: :class:`SyncStore`'s, awaitable."""

    async def aload(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        """See :meth:`SyncStore.load`."""
        ...

    async def acreate(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        """See :meth:`SyncStore.create`."""
        ...

    async def asave(self, session_id: str, changes: Changes) -> bool:
        """See :meth:`SyncStore.save`."""
        ...

    async def arotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        *,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> bool:
        """See :meth:`SyncStore.rotate`."""
        ...

    async def adelete(self, session_id: str) -> None:
        """See :meth:`SyncStore.delete`."""
        ...


# --- Management: what SessionManager needs from a store (issue: management API) ---


@dataclass(slots=True)
class Query:
    """A page of the operator's session listing.

    ``search`` is a case-insensitive substring of id, user, email, app or status;
    ``status``, ``app`` and ``user`` filter exactly. ``sort`` is one of
    :data:`SORT_FIELDS`; ties are broken by id so pages are stable.
    """

    search: str | None = None
    status: str | None = None
    app: str | None = None
    user: str | None = None
    sort: str = "last_activity"
    descending: bool = True
    offset: int = 0
    limit: int = 100


SORT_FIELDS = ("id", "user", "email", "app", "created", "expires", "status", "last_activity")


@dataclass(slots=True)
class AuditRecord:
    """One operator action on a session's payload (reveal, export, revoke, ...)."""

    at: float
    actor: str
    action: str
    session_id: str | None
    reason: str | None = None


# the audit entries end users' own actions write, as (actor prefix, action): ending a
# session on "my sessions" (actor "user:<id>"), a reused refresh token
END_USER_ENTRIES = (("user:", "revoke"), ("sessionware:", "refresh-reuse"))
END_USER_ACTORS = tuple(prefix for prefix, _ in END_USER_ENTRIES)  # reserved for them


def by_end_user(record: AuditRecord) -> bool:
    """Whether an end user's (or an API client's) own action wrote ``record``
    (:data:`END_USER_ENTRIES`). Every store bounds these apart from the others,
    ``audit_limit`` each, so that no number of sign-ins and sign-outs pushes an
    operator's reveal, export or revoke out of the log. An operator's reveal, export,
    TTL or type change is never one, whatever its actor."""
    return any(
        record.actor.startswith(prefix) and record.action == action
        for prefix, action in END_USER_ENTRIES
    )


def newest_of(
    operators: Iterable[AuditRecord], users: Iterable[AuditRecord], limit: int
) -> list[AuditRecord]:
    """The newest ``limit`` entries of the two logs (each newest first), newest first;
    each is read only as far as that needs."""
    merged = heapq.merge(operators, users, key=lambda record: -record.at)
    return list(itertools.islice(merged, limit))


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")  # NUL, and lone surrogates (not UTF-8)


def unmatchable(*texts: str | None) -> bool:
    """Whether any of ``texts`` holds NUL or a lone surrogate: no stored id, user,
    email or app does (the session refuses them), so a management argument holding
    one matches nothing, and must never reach a backend that cannot encode it
    (PostgreSQL's text holds no NUL; SQLite, PostgreSQL and Redis take only UTF-8)."""
    return any(text is not None and _NOT_TEXT.search(text) is not None for text in texts)


def as_logged(text: str | None) -> str | None:
    """``text`` (an actor, id or reason) for the audit log: NUL and lone surrogates,
    which not every backend can hold, shown as U+FFFD."""
    return text if text is None else _NOT_TEXT.sub("\ufffd", text)


@runtime_checkable
class ManagedStore(Protocol):
    """Operator operations, sync. Records that ended (expired or revoked) stay
    visible as tombstones, meta only, for the store's ``retention_seconds``;
    a deleted (logged out) record is gone at once. An id, user, search or app
    argument that is :func:`unmatchable` finds nothing (never an error).
    """

    def get_meta(self, session_id: str, *, now: float) -> Meta | None:
        """The record's meta with its current status, tombstones included; no activity."""
        ...

    def read_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        """The live record's data without marking activity; ``None`` if not live."""
        ...

    def query(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        """One page of ``(id, meta)`` matching ``query``, and the total number matching."""
        ...

    def user_session_ids(self, user: str, *, now: float) -> list[str]:
        """The ids of ``user``'s live sessions."""
        ...

    def revoke(self, session_id: str, *, actor: str, now: float) -> bool:
        """Destroy the payload, keep a ``revoked`` tombstone; ``False`` if not live."""
        ...

    def set_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        """Fix the expiry (no more sliding); ``None`` makes it durable. ``False`` if not live."""
        ...

    def add_audit(self, record: AuditRecord) -> None:
        """Append to the bounded audit log."""
        ...

    def audit(self, *, limit: int) -> list[AuditRecord]:
        """The newest ``limit`` audit records, newest first."""
        ...


@runtime_checkable
class AsyncManagedStore(Protocol):
    """:class:`ManagedStore`'s operations, awaitable, ``a``-prefixed (``aget_meta``, ...)."""

    async def aget_meta(self, session_id: str, *, now: float) -> Meta | None: ...

    async def aread_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None: ...

    async def aquery(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]: ...

    async def auser_session_ids(self, user: str, *, now: float) -> list[str]: ...

    async def arevoke(self, session_id: str, *, actor: str, now: float) -> bool: ...

    async def aset_expiry(
        self, session_id: str, expires_at: float | None, *, now: float
    ) -> bool: ...

    async def aadd_audit(self, record: AuditRecord) -> None: ...

    async def aaudit(self, *, limit: int) -> list[AuditRecord]: ...


# --- Registry: small named documents every worker shares (session types) ---


@runtime_checkable
class RegistryStore(Protocol):
    """A few small named documents kept beside the sessions, sync.

    Documents are grouped by ``kind`` (``"session-type"``) and keyed by
    ``name``; both are short ASCII strings (``[a-z0-9_-]``, up to 64). A document
    is opaque bytes (JSON, a few KB); stores never parse it. Documents have no
    expiry and are not sessions: listings and sweeps leave them alone. Every
    worker on the store sees a write on its next read.

    Implemented by MemoryStore, RedisStore (one hash per kind, so a cluster
    keeps a kind in one slot) and the SQL stores (one ``P_registry`` table).
    """

    def registry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        """Store ``document`` under ``name``; with ``if_absent``, only when there
        is none yet; with ``replacing``, only when the document stored is exactly
        that one (not changed or deleted since it was read). ``True`` when written
        (atomically: the check and the write as one)."""
        ...

    def registry_get(self, kind: str, name: str) -> bytes | None:
        """The document under ``name``, or ``None``."""
        ...

    def registry_list(self, kind: str) -> dict[str, bytes]:
        """Every document of ``kind``, by name."""
        ...

    def registry_delete(self, kind: str, name: str) -> bool:
        """Remove the document; ``False`` if there was none."""
        ...


@runtime_checkable
class AsyncRegistryStore(Protocol):
    """:class:`RegistryStore`'s operations, awaitable, ``a``-prefixed."""

    async def aregistry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool: ...

    async def aregistry_get(self, kind: str, name: str) -> bytes | None: ...

    async def aregistry_list(self, kind: str) -> dict[str, bytes]: ...

    async def aregistry_delete(self, kind: str, name: str) -> bool: ...
