"""MemoryStore: sessions in this process's memory (the default; one process only).

Implements the sync and async store contract (``stores/base.py``), session and
management operations, in one class.
Safe under threads and asyncio: every operation holds one lock briefly and
never awaits while holding it. Expiry is exact (checked on every access), and
memory stays bounded without an O(n) sweep: a heap orders records by when they
next need attention, and each write reclaims what has come due.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from .base import (
    ACTIVE,
    EXPIRED,
    GONE,
    LOGGED_OUT,
    MARK_SECONDS,
    MOVED,
    REVOKED,
    TOO_LARGE,
    WRITTEN,
    AuditRecord,
    BlindWrite,
    Changes,
    Meta,
    Query,
    StoredSession,
    blind_refused,
    blind_size,
    by_end_user,
    changed_since,
    measured,
    newest_of,
    refused,
    resized,
    same_app,
    slid_expiry,
    too_large,
)
from .listing import matches, sort_key

DEFAULT_RETENTION = timedelta(days=7)
AUDIT_LIMIT = 10_000  # audit records kept; the oldest are dropped first
_REAP_BATCH = 256  # at most this many due records are reclaimed per write


@dataclass(slots=True)
class _Record:
    data: dict[str, bytes] | None  # None once ended: a tombstone keeps only meta
    meta: Meta
    due: float | None = None  # the time of this record's live heap entry


class MemoryStore:
    """Sessions in a dict, for one process: development, tests, single-worker apps.

    A middleware on it logs one warning at start-up (``per_process``): a second
    worker or a restart does not see its sessions.

    ``retention_seconds``: how long an ended (expired or revoked) session stays
    visible to the management API as a tombstone; a logout does not cut it short.
    ``audit_limit``: how many audit records are kept, newest first: that many of
    operators' and as many of end users' (``base.by_end_user``).
    """

    per_process: ClassVar[bool] = True  # see sessionware.responses.checked_store

    ROTATE_CHECKS_CHANGES = True  # rotate() takes unchanged_since (see base)

    def __init__(
        self,
        *,
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
    ) -> None:
        self.retention_seconds = retention_seconds
        self._records: dict[str, _Record] = {}
        self._marks: dict[str, tuple[float, str]] = {}  # id -> (until, MOVED or LOGGED_OUT)
        self._by_user: dict[str, set[str]] = {}  # user -> ids of records naming them
        self._heap: list[tuple[float, str]] = []
        self._stale = 0  # heap entries of records removed before they came due
        self._lock = threading.Lock()
        self.audit_limit = audit_limit  # of each log: operators' and end users'
        self._audit: deque[AuditRecord] = deque(maxlen=audit_limit)  # operators'
        self._users_audit: deque[AuditRecord] = deque(maxlen=audit_limit)  # see by_end_user
        self._documents: dict[tuple[str, str], bytes] = {}  # the registry

    def __len__(self) -> int:
        """How many records (live sessions and tombstones) are held now."""
        return len(self._records)

    # -- the session contract ------------------------------------------------------

    def load(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        with self._lock:
            record = self._live(session_id, now)
            if record is None or record.data is None:
                return None
            record.meta.expires_at = slid_expiry(record.meta, now, idle_seconds)
            record.meta.last_activity_at = now
            return StoredSession(dict(record.data), record.meta.copy())

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        meta = measured(data, meta)
        with self._lock:
            self._insert(session_id, data, meta)
            self._reap(time.time())

    def save(self, session_id: str, changes: Changes) -> bool:
        """See ``SyncStore.save``: the size and count move by the changed entries'."""
        with self._lock:
            record = self._live(session_id, changes.updated_at)
            if record is None or record.data is None:
                return False
            data, meta = record.data, record.meta
            old = {key: len(data[key]) for key in (*changes.set, *changes.removed) if key in data}
            size, count = resized(meta.size_bytes, meta.attribute_count, old, changes)
            if refused(meta.size_bytes, size, changes.max_size_bytes):
                raise too_large(changes.max_size_bytes or 0, size)
            data.update(changes.set)
            for key in changes.removed:
                data.pop(key, None)
            meta.updated_at = changes.updated_at
            meta.size_bytes, meta.attribute_count = size, count
            meta.max_size_bytes = max(meta.max_size_bytes, size)
            if meta.user != changes.user:
                self._unindex(session_id, meta.user)
                self._index(session_id, changes.user)
            meta.user, meta.email = changes.user, changes.email
            if changes.device is not None:
                meta.device = changes.device
            self._reap(changes.updated_at)
            return True

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
        meta = measured(data, meta)
        with self._lock:
            old = self._live(old_id, meta.updated_at)
            old_live = old is not None and old.data is not None
            if require_live and not old_live:
                return False
            if old is not None and old_live and changed_since(old.meta, unchanged_since):
                return False  # written since the request loaded it: see base.changed_since
            if old_live:  # a tombstone stays for its retention
                self._remove(old_id)
                # carried (a login): moved; not (clear(), then data: a logout): logged out
                self._mark(old_id, MOVED if require_live else LOGGED_OUT, meta.updated_at)
            self._insert(new_id, data, meta)
            self._reap(meta.updated_at)
            return True

    def write(self, session_id: str, write: BlindWrite) -> str:
        with self._lock:
            record = self._live(session_id, write.now)
            if record is None or record.data is None or not same_app(record.meta, write):
                return GONE
            data, meta = record.data, record.meta
            old = {key: len(data[key]) for key in write.set if key in data}
            size, count = blind_size(meta, old, write)
            if blind_refused(meta, size, write):
                return TOO_LARGE
            data.update(write.set)
            meta.size_bytes, meta.attribute_count = size, count
            meta.max_size_bytes = max(meta.max_size_bytes, size)
            meta.updated_at = meta.last_activity_at = write.now
            meta.expires_at = slid_expiry(meta, write.now, write.idle_seconds)
            self._reap(write.now)
            return WRITTEN

    def delete(self, session_id: str) -> None:
        with self._lock:
            now = time.time()
            record = self._live(session_id, now)
            if record is not None and record.data is not None:  # a tombstone stays
                self._remove(session_id)
                self._mark(session_id, LOGGED_OUT, now)
            self._reap(now)

    def moved_mark(self, session_id: str, *, now: float) -> str | None:
        with self._lock:
            mark = self._marks.get(session_id)
            return mark[1] if mark is not None and mark[0] > now else None

    async def amoved_mark(self, session_id: str, *, now: float) -> str | None:
        return self.moved_mark(session_id, now=now)

    def _mark(self, session_id: str, why: str, now: float) -> None:
        """Remember why ``session_id``'s live record left (see base.MarkingStore). Every
        mark lasts MARK_SECONDS, so the dict's order is about their expiry's (a rotation
        stamps its meta's time, a logout the clock's): the ones due go from its front,
        and a read checks the time itself."""
        marks = self._marks
        marks.pop(session_id, None)
        marks[session_id] = (now + MARK_SECONDS, why)
        for key, (until, _) in list(itertools.islice(marks.items(), _REAP_BATCH)):
            if until > now:
                break
            del marks[key]

    async def aload(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        return self.load(session_id, now=now, idle_seconds=idle_seconds)

    async def acreate(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        self.create(session_id, data, meta)

    async def asave(self, session_id: str, changes: Changes) -> bool:
        return self.save(session_id, changes)

    async def awrite(self, session_id: str, write: BlindWrite) -> str:
        return self.write(session_id, write)

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
        return self.rotate(
            old_id, new_id, data, meta, require_live=require_live, unchanged_since=unchanged_since
        )

    async def adelete(self, session_id: str) -> None:
        self.delete(session_id)

    # -- the management contract ---------------------------------------------------
    # Listing scans every record under the lock (a user's sessions come from an
    # index): fine for one process's sessions; RedisStore keeps sorted indexes.

    def get_meta(self, session_id: str, *, now: float) -> Meta | None:
        with self._lock:
            record = self._visible(session_id, now)
            return None if record is None else record.meta.copy()

    def read_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        with self._lock:
            record = self._live(session_id, now)
            return None if record is None or record.data is None else dict(record.data)

    def query(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        """See ``Query``. Sorting: a missing value (no user, a durable session's expiry)
        ranks above every value, so it comes last ascending, first descending."""
        with self._lock:
            rows = [
                (session_id, record.meta)
                for session_id in list(self._records)
                if (record := self._visible(session_id, now))
                and matches(query, session_id, record.meta)
            ]
            pick = heapq.nlargest if query.descending else heapq.nsmallest
            page = pick(query.offset + query.limit, rows, key=sort_key(query.sort))
            page = page[query.offset :]
            return [(session_id, meta.copy()) for session_id, meta in page], len(rows)

    def user_session_ids(self, user: str, *, now: float) -> list[str]:
        with self._lock:
            return [
                session_id
                for session_id in list(self._by_user.get(user, ()))
                if (record := self._live(session_id, now)) and record.data is not None
            ]

    def revoke(self, session_id: str, *, actor: str, now: float) -> bool:
        with self._lock:
            record = self._live(session_id, now)
            if record is None or record.data is None:
                return False
            self._end(record, REVOKED, now)
            record.meta.revoked_by = actor
            self._schedule(session_id, record)
            self._reap(now)
            return True

    def set_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        with self._lock:
            record = self._live(session_id, now)
            if record is None or record.data is None:
                return False
            record.meta.sliding = False
            record.meta.expires_at = record.meta.deadline = expires_at
            self._schedule(session_id, record)
            return True

    def add_audit(self, record: AuditRecord) -> None:
        with self._lock:
            (self._users_audit if by_end_user(record) else self._audit).append(record)

    def audit(self, *, limit: int) -> list[AuditRecord]:
        with self._lock:
            return newest_of(reversed(self._audit), reversed(self._users_audit), limit)

    async def aget_meta(self, session_id: str, *, now: float) -> Meta | None:
        return self.get_meta(session_id, now=now)

    async def aread_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        return self.read_data(session_id, now=now)

    async def aquery(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        return self.query(query, now=now)

    async def auser_session_ids(self, user: str, *, now: float) -> list[str]:
        return self.user_session_ids(user, now=now)

    async def arevoke(self, session_id: str, *, actor: str, now: float) -> bool:
        return self.revoke(session_id, actor=actor, now=now)

    async def aset_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        return self.set_expiry(session_id, expires_at, now=now)

    async def aadd_audit(self, record: AuditRecord) -> None:
        self.add_audit(record)

    async def aaudit(self, *, limit: int) -> list[AuditRecord]:
        return self.audit(limit=limit)

    # -- the registry contract -------------------------------------------------------

    def registry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        with self._lock:
            if if_absent and (kind, name) in self._documents:
                return False
            if replacing is not None and self._documents.get((kind, name)) != replacing:
                return False
            self._documents[kind, name] = bytes(document)
            return True

    def registry_get(self, kind: str, name: str) -> bytes | None:
        with self._lock:
            return self._documents.get((kind, name))

    def registry_list(self, kind: str) -> dict[str, bytes]:
        with self._lock:
            return {name: doc for (k, name), doc in self._documents.items() if k == kind}

    def registry_delete(self, kind: str, name: str) -> bool:
        with self._lock:
            return self._documents.pop((kind, name), None) is not None

    async def aregistry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        return self.registry_put(kind, name, document, if_absent=if_absent, replacing=replacing)

    async def aregistry_get(self, kind: str, name: str) -> bytes | None:
        return self.registry_get(kind, name)

    async def aregistry_list(self, kind: str) -> dict[str, bytes]:
        return self.registry_list(kind)

    async def aregistry_delete(self, kind: str, name: str) -> bool:
        return self.registry_delete(kind, name)

    # -- internals (call with the lock held) ----------------------------------------

    def _insert(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        record = _Record(dict(data), meta.copy())
        self._records[session_id] = record
        self._index(session_id, meta.user)
        self._schedule(session_id, record)

    def _remove(self, session_id: str) -> None:
        record = self._records.pop(session_id)
        self._unindex(session_id, record.meta.user)
        if record.due is not None:
            self._stale += 1
            if self._stale > len(self._records) + _REAP_BATCH:  # amortised O(1) per removal
                self._heap = [(r.due, i) for i, r in self._records.items() if r.due is not None]
                heapq.heapify(self._heap)
                self._stale = 0

    def _index(self, session_id: str, user: str | None) -> None:
        if user is not None:
            self._by_user.setdefault(user, set()).add(session_id)

    def _unindex(self, session_id: str, user: str | None) -> None:
        ids = self._by_user.get(user) if user is not None else None
        if ids is not None:
            ids.discard(session_id)
            if not ids:
                del self._by_user[user]  # type: ignore[arg-type]

    def _live(self, session_id: str, now: float) -> _Record | None:
        """The record, with its status brought up to ``now`` (it may end here)."""
        record = self._records.get(session_id)
        if record is None:
            return None
        meta = record.meta
        if meta.status == ACTIVE and meta.expires_at is not None and meta.expires_at <= now:
            self._end(record, EXPIRED, meta.expires_at)
        return record

    def _visible(self, session_id: str, now: float) -> _Record | None:
        """Like :meth:`_live`, but a tombstone whose retention is over is gone."""
        record = self._live(session_id, now)
        if (
            record is not None
            and record.meta.status != ACTIVE
            and (record.meta.ended_at or 0.0) + self.retention_seconds <= now
        ):
            self._remove(session_id)
            return None
        return record

    def _end(self, record: _Record, status: str, at: float) -> None:
        record.data = None
        record.meta.status, record.meta.ended_at = status, at

    def _due(self, record: _Record) -> float | None:
        """When the record next needs attention: its expiry, or its tombstone's end."""
        if record.meta.status == ACTIVE:
            return record.meta.expires_at
        return (record.meta.ended_at or 0.0) + self.retention_seconds

    def _schedule(self, session_id: str, record: _Record) -> None:
        due = self._due(record)
        if due is not None and (record.due is None or due < record.due):
            record.due = due
            heapq.heappush(self._heap, (due, session_id))

    def _reap(self, now: float) -> None:
        """Reclaim records that have come due; amortised O(log n) per write."""
        heap = self._heap
        for _ in range(_REAP_BATCH):
            if not heap or heap[0][0] > now:
                return
            due, session_id = heapq.heappop(heap)
            record = self._records.get(session_id)
            if record is None or record.due != due:
                continue  # a stale entry: the record is gone or was rescheduled
            record.due = None
            self._live(session_id, now)
            next_due = self._due(record)
            if record.meta.status != ACTIVE and next_due is not None and next_due <= now:
                self._remove(session_id)
            else:
                self._schedule(session_id, record)
