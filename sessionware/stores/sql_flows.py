"""Every SQL store operation, written once, with no I/O (SQLiteStore, PostgresStore).

An operation is a generator (a *flow*) that yields :class:`Statement` objects and
is sent back each one's rows (``[]`` for a statement that returns none); its
return value is the operation's result. A store runs one flow in one short
transaction, on SQLite or on PostgreSQL: the decisions live here alone, as in
``redis_flows``. SQL uses ``?`` placeholders; the PostgreSQL driver turns them
into ``%s``. Only :class:`Dialect` differs between the two databases.

Schema (``P`` is the table prefix; see :func:`schema_statements`):

* ``P_sessions``: one row per session, one column per :class:`Meta` field
  (``user`` is ``user_name``), plus ``due``: when the row next needs the sweep
  (an active row's ``expires_at``; an ended row's ``ended_at + retention``).
  Indexed on ``due``, ``(last_activity_at, id)`` (the default listing) and
  ``user_name``.
* ``P_data``: one row per session key, ``(session_id, name) -> value`` bytes,
  so that concurrent requests changing different keys never overwrite each other.
* ``P_audit``: the bounded audit log, newest by ``seq``.
* ``P_registry``: small named documents (session types), see ``registry_flows``.

Guarantees. Every write first locks the session's row (``FOR UPDATE`` on
PostgreSQL; SQLite's write transactions are serial) and checks it is live, so a
save racing a logout, a rotation or a revocation writes nothing. A row whose
``expires_at`` has passed is expired when read (status and ``ended_at`` are
worked out from the clock), and the sweep (:meth:`SQLFlows.sweep`) reclaims
due rows a bounded batch at a time, through the ``due`` index: no request pays
for an O(n) pass.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ConfigurationError
from .base import (
    ACTIVE,
    END_USER_ENTRIES,
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
    as_logged,
    blind_refused,
    blind_size,
    by_end_user,
    changed_since,
    measured,
    refused,
    resized,
    same_app,
    slid_expiry,
    too_large,
    unmatchable,
)

logger = logging.getLogger("sessionware")

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: tuple[Any, ...] = ()


Flow = Generator[Statement, list[Row], T]


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the databases: column types and row locking."""

    real: str
    blob: str
    serial: str
    table_options: str
    lock: str  # appended to a SELECT that locks the row it reads
    skip_locked: str  # appended to the sweep's SELECT
    # a SELECT of 1 or 0: whether the table its parameter names exists (and, where the
    # database has privileges, this role may read and write it)
    table_usable: str
    # a column's text lowercased as Python's str.lower does, for a search: SQLite's
    # lower() knows ASCII alone, so its store registers sw_lower (see sqlite.py)
    lower: str = "lower({})"


SQLITE = Dialect(
    "REAL",
    "BLOB",
    "INTEGER PRIMARY KEY AUTOINCREMENT",
    " WITHOUT ROWID",
    "",
    "",
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    "sw_lower({})",
)
POSTGRES = Dialect(
    "DOUBLE PRECISION",
    "BYTEA",
    "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    "",
    " FOR UPDATE",
    " FOR UPDATE SKIP LOCKED",
    "SELECT CASE WHEN t IS NULL THEN 0 WHEN has_table_privilege(t, 'SELECT') AND "
    "has_table_privilege(t, 'INSERT') AND has_table_privilege(t, 'UPDATE') AND "
    "has_table_privilege(t, 'DELETE') THEN 1 ELSE 0 END FROM (SELECT to_regclass(?) AS t) AS q",
)

# Meta's fields, in order, as columns.
COLUMNS = (
    "created_at, updated_at, last_activity_at, expires_at, deadline, sliding, app, "
    "user_name, email, size_bytes, max_size_bytes, attribute_count, status, ended_at, revoked_by, "
    "device"
)
_PREFIX = re.compile(r"([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]{0,39}")
SWEEP_BATCH = 500  # rows reclaimed by one sweep transaction, at most
MARKS_RECHECK_SECONDS = 60.0  # how often a store without a usable marks table looks again

# A row's status now: an active row whose expiry passed is expired.
_STATUS = f"(CASE WHEN status = '{ACTIVE}' AND expires_at <= ? THEN '{EXPIRED}' ELSE status END)"
_SORT = {
    "id": "id",
    "user": "user_name",
    "email": "email",
    "app": "app",
    "created": "created_at",
    "expires": "expires_at",
    "status": _STATUS,
    "last_activity": "last_activity_at",
}


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a safe table-name prefix (``[schema.]name_``); else
    ConfigurationError (it is spliced into SQL, so nothing else passes)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            "prefix must be lowercase letters, digits and underscores, optionally after "
            f"a schema and a dot (e.g. 'sessionware_' or 'app.sessionware_'), got {prefix!r}"
        )
    return prefix


def schema_statements(prefix: str, dialect: Dialect) -> list[str]:
    """The DDL creating the store's tables and indexes (idempotent: IF NOT EXISTS)."""
    name = prefix.rpartition(".")[2]  # an index lives in its table's schema
    real = dialect.real
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}sessions (id TEXT PRIMARY KEY, "
        f"created_at {real} NOT NULL, updated_at {real} NOT NULL, "
        f"last_activity_at {real} NOT NULL, expires_at {real}, deadline {real}, "
        f"sliding INTEGER NOT NULL, app TEXT NOT NULL, user_name TEXT, email TEXT, "
        f"size_bytes BIGINT NOT NULL, max_size_bytes BIGINT NOT NULL, "
        f"attribute_count INTEGER NOT NULL, status TEXT NOT NULL, ended_at {real}, "
        f"revoked_by TEXT, device TEXT, due {real})",
        f"CREATE INDEX IF NOT EXISTS {name}sessions_due ON {prefix}sessions (due)",
        f"CREATE INDEX IF NOT EXISTS {name}sessions_activity "
        f"ON {prefix}sessions (last_activity_at, id)",
        f"CREATE INDEX IF NOT EXISTS {name}sessions_user ON {prefix}sessions (user_name)",
        f"CREATE TABLE IF NOT EXISTS {prefix}data (session_id TEXT NOT NULL, "
        f"name TEXT NOT NULL, value {dialect.blob} NOT NULL, PRIMARY KEY (session_id, name))"
        + dialect.table_options,
        f"CREATE TABLE IF NOT EXISTS {prefix}audit (seq {dialect.serial}, "
        f"at {real} NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
        f"session_id TEXT, reason TEXT)",
        f"CREATE TABLE IF NOT EXISTS {prefix}registry (kind TEXT NOT NULL, name TEXT NOT NULL, "
        f"document {dialect.blob} NOT NULL, PRIMARY KEY (kind, name))" + dialect.table_options,
        # why a live session left moments ago (base.MarkingStore); the newest table
        f"CREATE TABLE IF NOT EXISTS {prefix}marks (id TEXT PRIMARY KEY, why TEXT NOT NULL, "
        f"until {real} NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {name}marks_until ON {prefix}marks (until)",
    ]


AUDIT_TRIM_EVERY = 64  # audit entries between two trims of the log (each a table scan)
# base.by_end_user as SQL (constants only: no caller's text goes into it)
_END_USER_SQL = " OR ".join(
    f"(substr(actor, 1, {len(prefix)}) = '{prefix}' AND action = '{action}')"
    for prefix, action in END_USER_ENTRIES
)


class SQLFlows:
    """The flows of one store: its tables, retention and audit bound."""

    def __init__(
        self, prefix: str, dialect: Dialect, retention_seconds: float, audit_limit: int
    ) -> None:
        self.dialect = dialect
        self.retention_seconds = retention_seconds
        self.audit_limit = audit_limit
        self.sessions, self.data, self.audit_table = (
            prefix + "sessions",
            prefix + "data",
            prefix + "audit",
        )
        self.marks = prefix + "marks"
        # whether the marks table can be used (None: not looked yet), and when it was
        # last looked at: a database whose tables an earlier release made, or whose role
        # may not use the table, serves on without marks, looking again now and then
        self.marking: bool | None = None
        self._marks_looked_at = 0.0
        self._marks_warned = False

    # -- the session contract ----------------------------------------------------------

    def load(
        self, session_id: str, now: float, idle_seconds: float | None
    ) -> Flow[StoredSession | None]:
        meta = yield from self._lock_live(session_id, now)
        if meta is None:
            return None
        meta.expires_at = slid_expiry(meta, now, idle_seconds)
        meta.last_activity_at = now
        yield Statement(
            f"UPDATE {self.sessions} SET expires_at = ?, due = ?, last_activity_at = ? "
            "WHERE id = ?",
            (meta.expires_at, meta.expires_at, now, session_id),
        )
        data = yield from self._data(session_id)
        return None if data is None else StoredSession(data, meta)

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> Flow[None]:
        meta = measured(data, meta)
        values = _meta_values(meta)
        due = meta.expires_at if meta.status == ACTIVE else self._ended_due(meta)
        yield Statement(
            f"INSERT INTO {self.sessions} (id, {COLUMNS}, due) VALUES ({_marks(18)})",
            (session_id, *values, due),
        )
        yield from self._put(session_id, data)

    def save(self, session_id: str, changes: Changes) -> Flow[bool]:
        """Lock, measure what the record holds, check the cap, write. The size and count
        come from the stored rows (so a record that a request's stale view left wrong,
        before this was so, is put right), not from the request."""
        meta = yield from self._lock_live(session_id, changes.updated_at)
        if meta is None:
            return False
        rows = yield Statement(
            f"SELECT name, LENGTH(value) FROM {self.data} WHERE session_id = ?", (session_id,)
        )
        try:
            old = {_text(name): _count(length) for name, length in rows}
        except (TypeError, ValueError) as error:
            _corrupt(session_id, error)
            return False
        before = sum(len(name.encode()) + length for name, length in old.items())
        counted = sum(name not in changes.uncounted_keys for name in old)
        size, count = resized(before, counted, old, changes)
        if refused(before, size, changes.max_size_bytes):
            raise too_large(changes.max_size_bytes or 0, size)
        yield from self._put(session_id, changes.set)
        for names in _batches(list(changes.removed)):
            yield Statement(
                f"DELETE FROM {self.data} WHERE session_id = ? AND name IN ({_marks(len(names))})",
                (session_id, *names),
            )
        yield Statement(
            f"UPDATE {self.sessions} SET updated_at = ?, size_bytes = ?, max_size_bytes = ?, "
            "attribute_count = ?, user_name = ?, email = ?, device = COALESCE(?, device) "
            "WHERE id = ?",
            (
                changes.updated_at,
                size,
                max(meta.max_size_bytes, size),
                count,
                changes.user,
                changes.email,
                changes.device,
                session_id,
            ),
        )
        return True

    def write(self, session_id: str, write: BlindWrite) -> Flow[str]:
        """A blind write: lock, check, measure the replaced values, write, slide."""
        now = write.now
        meta = yield from self._lock_live(session_id, now)
        if meta is None or not same_app(meta, write):
            return GONE
        old: dict[str, int] = {}
        for names in _batches(list(write.set)):
            rows = yield Statement(
                f"SELECT name, LENGTH(value) FROM {self.data} WHERE session_id = ? "
                f"AND name IN ({_marks(len(names))})",
                (session_id, *names),
            )
            old.update((_text(name), _count(length)) for name, length in rows)
        size, count = blind_size(meta, old, write)
        if blind_refused(meta, size, write):
            return TOO_LARGE
        yield from self._put(session_id, write.set)
        expires = slid_expiry(meta, now, write.idle_seconds)
        yield Statement(
            f"UPDATE {self.sessions} SET updated_at = ?, last_activity_at = ?, expires_at = ?, "
            "due = ?, size_bytes = ?, max_size_bytes = ?, attribute_count = ? WHERE id = ?",
            (now, now, expires, expires, size, max(meta.max_size_bytes, size), count, session_id),
        )
        return WRITTEN

    def rotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> Flow[bool]:
        meta = measured(data, meta)
        old = yield from self._lock_live(old_id, meta.updated_at)
        if require_live and old is None:
            return False
        if old is not None and changed_since(old, unchanged_since):
            return False  # written since the rotating request loaded it (see base)
        if old is not None:  # an ended old_id's tombstone stays for its retention
            yield from self._remove(old_id)
            # carried (a login): moved; not (clear(), then data: a logout): logged out
            yield from self._mark(old_id, MOVED if require_live else LOGGED_OUT, meta.updated_at)
        yield from self.create(new_id, data, meta)
        return True

    def delete(self, session_id: str, now: float) -> Flow[None]:
        if (yield from self._lock_live(session_id, now)) is not None:
            yield from self._remove(session_id)
            yield from self._mark(session_id, LOGGED_OUT, now)

    def moved_mark(self, session_id: str, now: float) -> Flow[str | None]:
        """Why ``session_id``'s live record left in the last MARK_SECONDS, if it did."""
        if unmatchable(session_id) or not (yield from self._can_mark()):
            return None
        rows = yield Statement(
            f"SELECT why FROM {self.marks} WHERE id = ? AND until > ?", (session_id, now)
        )
        return str(rows[0][0]) if rows and rows[0][0] in (MOVED, LOGGED_OUT) else None

    def _mark(self, session_id: str, why: str, now: float) -> Flow[None]:
        """Mark why ``session_id``'s live record left, in the same transaction."""
        if (yield from self._can_mark()):
            yield Statement(
                f"INSERT INTO {self.marks} (id, why, until) VALUES (?, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET why = excluded.why, until = excluded.until",
                (session_id, why, now + MARK_SECONDS),
            )

    def sweep_marks(self, now: float) -> Flow[None]:
        """Delete the marks that ran out (see :meth:`sweep`: in a transaction of its own)."""
        if (yield from self._can_mark()):
            yield Statement(f"DELETE FROM {self.marks} WHERE until <= ?", (now,))

    def _can_mark(self) -> Flow[bool]:
        """Whether the marks table can be used: looked up once per store object, and
        again every MARKS_RECHECK_SECONDS while it cannot (an operator may add it, or
        grant this role its use, while the workers run)."""
        due = time.monotonic() - self._marks_looked_at >= MARKS_RECHECK_SECONDS
        if self.marking is None or (not self.marking and due):
            ((usable,),) = yield Statement(self.dialect.table_usable, (self.marks,))
            if usable:
                self.marking, self._marks_looked_at = True, time.monotonic()
            else:
                self.cannot_mark()
        return bool(self.marking)

    def cannot_mark(self) -> None:
        """The marks table is missing, or this role may not use (or make) it: serve
        without marks, say so once, and look again after MARKS_RECHECK_SECONDS."""
        self.marking, self._marks_looked_at = False, time.monotonic()
        if not self._marks_warned:
            self._marks_warned = True
            logger.warning(
                "sessionware: the table %s is missing, or this database role may not use "
                "it (the tables were made by an earlier release): run create_schema() or "
                "the shipped schema file as a role that may create tables, and grant this "
                "one SELECT, INSERT, UPDATE, DELETE on it. Until then (looked at again every "
                "minute), a write sent beside a login with the old cookie starts a new "
                "session whose cookie replaces the login's",
                self.marks,
            )

    # -- the management contract -------------------------------------------------------

    def get_meta(self, session_id: str, now: float) -> Flow[Meta | None]:
        if unmatchable(session_id):
            return None
        rows = yield Statement(f"SELECT {COLUMNS} FROM {self.sessions} WHERE id = ?", (session_id,))
        meta = self._parse(session_id, rows)
        return meta if meta is not None and self._visible(meta, now) else None

    def read_data(self, session_id: str, now: float) -> Flow[dict[str, bytes] | None]:
        meta = yield from self.get_meta(session_id, now)
        if meta is None or meta.status != ACTIVE:
            return None
        return (yield from self._data(session_id))

    def query(self, query: Query, now: float) -> Flow[tuple[list[tuple[str, Meta]], int]]:
        if unmatchable(query.search, query.app, query.user):
            return [], 0
        where, params = self._where(query, now)
        ((total,),) = yield Statement(f"SELECT count(*) FROM {self.sessions} {where}", params)
        order = "DESC NULLS FIRST" if query.descending else "ASC NULLS LAST"
        sort_params = (now,) if query.sort == "status" else ()
        rows = yield Statement(
            f"SELECT id, {COLUMNS} FROM {self.sessions} {where} "
            f"ORDER BY {_SORT[query.sort]} {order}, id {order[:4]} LIMIT ? OFFSET ?",
            (*params, *sort_params, query.limit, query.offset),
        )
        page = []
        for row in rows:
            meta = self._parse(row[0], [row[1:]])
            if meta is not None and self._visible(meta, now):  # brings its status up to now
                page.append((str(row[0]), meta))
        return page, int(total)

    def user_session_ids(self, user: str, now: float) -> Flow[list[str]]:
        if unmatchable(user):
            return []
        rows = yield Statement(
            f"SELECT id FROM {self.sessions} WHERE user_name = ? AND status = ? "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY id",
            (user, ACTIVE, now),
        )
        return [str(row[0]) for row in rows]

    def revoke(self, session_id: str, actor: str, now: float) -> Flow[bool]:
        if (yield from self._lock_live(session_id, now)) is None:
            return False
        yield from self._end(session_id, REVOKED, now, actor)
        return True

    def set_expiry(self, session_id: str, expires_at: float | None, now: float) -> Flow[bool]:
        if (yield from self._lock_live(session_id, now)) is None:
            return False
        yield Statement(
            f"UPDATE {self.sessions} SET sliding = 0, expires_at = ?, deadline = ?, due = ? "
            "WHERE id = ?",
            (expires_at, expires_at, expires_at, session_id),
        )
        return True

    def add_audit(self, record: AuditRecord) -> Flow[None]:
        ((seq,),) = yield Statement(
            f"INSERT INTO {self.audit_table} (at, actor, action, session_id, reason) "
            "VALUES (?, ?, ?, ?, ?) RETURNING seq",
            (
                record.at,
                as_logged(record.actor),
                record.action,
                as_logged(record.session_id),
                as_logged(record.reason),
            ),
        )
        if int(seq) % AUDIT_TRIM_EVERY == 0:  # each kind: its newest audit_limit stay
            for which in (_END_USER_SQL, f"NOT ({_END_USER_SQL})"):  # end users', operators'
                yield Statement(
                    f"DELETE FROM {self.audit_table} WHERE ({which}) AND seq <= ("
                    f"SELECT seq FROM {self.audit_table} WHERE ({which}) AND seq <= ? "
                    "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (int(seq), self.audit_limit),
                )

    def audit(self, limit: int) -> Flow[list[AuditRecord]]:
        """The newest ``limit`` entries, each kind's beyond its newest ``audit_limit`` left
        out: the table holds up to :data:`AUDIT_TRIM_EVERY` more of each between trims."""
        rows = yield Statement(
            f"SELECT at, actor, action, session_id, reason FROM {self.audit_table} "
            "ORDER BY seq DESC LIMIT ?",
            (limit + 2 * AUDIT_TRIM_EVERY,),
        )
        kept: list[AuditRecord] = []
        counts = {True: 0, False: 0}
        for at, actor, action, sid, why in rows:
            record = AuditRecord(float(at), actor, action, sid, why)
            kind = by_end_user(record)
            counts[kind] += 1
            if counts[kind] <= self.audit_limit:
                kept.append(record)
        return kept[:limit]

    # -- reclaiming ------------------------------------------------------------------------

    def sweep(self, now: float, batch: int = SWEEP_BATCH) -> Flow[int]:
        """Reclaim up to ``batch`` due rows: an expired session drops its data and
        becomes a tombstone; a tombstone past its retention is deleted. Returns how
        many rows it handled (``batch``: call again for more)."""
        rows = yield Statement(
            f"SELECT id FROM {self.sessions} WHERE due <= ? ORDER BY due LIMIT ?"
            + self.dialect.skip_locked,
            (now, batch),
        )
        ids = tuple(str(row[0]) for row in rows)
        if not ids:
            return 0
        marks = _marks(len(ids))
        yield Statement(f"DELETE FROM {self.data} WHERE session_id IN ({marks})", ids)
        yield Statement(
            f"DELETE FROM {self.sessions} WHERE id IN ({marks}) AND status <> ?", (*ids, ACTIVE)
        )
        yield Statement(
            f"UPDATE {self.sessions} SET status = ?, ended_at = expires_at, due = expires_at + ? "
            f"WHERE id IN ({marks}) AND status = ?",
            (EXPIRED, self.retention_seconds, *ids, ACTIVE),
        )
        return len(ids)

    # -- internals -------------------------------------------------------------------------

    def _lock_live(self, session_id: str, now: float) -> Flow[Meta | None]:
        """Lock the session's row; its meta if it is live at ``now``, else ``None``.
        An active row found expired is ended here (its data dropped)."""
        if unmatchable(session_id):
            return None
        rows = yield Statement(
            f"SELECT {COLUMNS} FROM {self.sessions} WHERE id = ?" + self.dialect.lock,
            (session_id,),
        )
        meta = self._parse(session_id, rows)
        if meta is None or meta.status != ACTIVE:
            return None
        if meta.expires_at is not None and meta.expires_at <= now:
            yield from self._end(session_id, EXPIRED, meta.expires_at, None)
            return None
        return meta

    def _end(self, session_id: str, status: str, at: float, actor: str | None) -> Flow[None]:
        yield Statement(f"DELETE FROM {self.data} WHERE session_id = ?", (session_id,))
        yield Statement(
            f"UPDATE {self.sessions} SET status = ?, ended_at = ?, revoked_by = ?, due = ? "
            "WHERE id = ?",
            (status, at, as_logged(actor), at + self.retention_seconds, session_id),
        )

    def _remove(self, session_id: str) -> Flow[None]:
        yield Statement(f"DELETE FROM {self.data} WHERE session_id = ?", (session_id,))
        yield Statement(f"DELETE FROM {self.sessions} WHERE id = ?", (session_id,))

    def _put(self, session_id: str, data: Mapping[str, bytes]) -> Flow[None]:
        for names in _batches(list(data)):
            params = [part for name in names for part in (session_id, name, data[name])]
            yield Statement(
                f"INSERT INTO {self.data} (session_id, name, value) VALUES "
                + ", ".join(["(?, ?, ?)"] * len(names))
                + " ON CONFLICT (session_id, name) DO UPDATE SET value = excluded.value",
                tuple(params),
            )

    def _data(self, session_id: str) -> Flow[dict[str, bytes] | None]:
        rows = yield Statement(
            f"SELECT name, value FROM {self.data} WHERE session_id = ?", (session_id,)
        )
        try:
            return {_text(name): bytes(value) for name, value in rows}
        except (TypeError, ValueError) as error:
            _corrupt(session_id, error)
            return None

    def _where(self, query: Query, now: float) -> tuple[str, tuple[Any, ...]]:
        """The WHERE clause of a listing: visible rows (tombstones within retention)
        passing ``query``'s filters and search."""
        clauses = [
            "((ended_at IS NULL AND expires_at IS NULL) OR COALESCE(ended_at, expires_at) > ?)"
        ]
        params: list[Any] = [now - self.retention_seconds]
        if query.status is not None:
            clauses.append(f"{_STATUS} = ?")
            params += [now, query.status]
        for column, value in (("app", query.app), ("user_name", query.user)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.search:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", query.search.lower()) + "%"
            fields = ("id", "user_name", "email", "app", _STATUS)
            # an ASCII search matches where the database's own lower() does (4x faster on
            # SQLite than a function of Python's): what other letters lowercase to is
            # not ASCII, but for a few (the Kelvin sign's k) that no one searches by
            lower = "lower({})" if query.search.isascii() else self.dialect.lower
            clauses.append(
                "(" + " OR ".join(f"{lower.format(f)} LIKE ? ESCAPE '\\'" for f in fields) + ")"
            )
            params += [pattern] * 4 + [now, pattern]
        return "WHERE " + " AND ".join(clauses), tuple(params)

    def _parse(self, session_id: object, rows: Sequence[Row]) -> Meta | None:
        """The meta of the first row, as it stands now; ``None`` if there is none or it
        is corrupt (logged once, without its content)."""
        if not rows:
            return None
        try:
            return _meta(rows[0])
        except (TypeError, ValueError) as error:
            _corrupt(session_id, error)
            return None

    def _visible(self, meta: Meta, now: float) -> bool:
        if meta.status == ACTIVE and meta.expires_at is not None and meta.expires_at <= now:
            meta.status, meta.ended_at = EXPIRED, meta.expires_at
        if meta.status == ACTIVE:
            return True
        return (meta.ended_at or 0.0) + self.retention_seconds > now

    def _ended_due(self, meta: Meta) -> float:
        return (meta.ended_at or 0.0) + self.retention_seconds


# keys per statement: a statement takes at most 65,535 parameters on PostgreSQL (32,766
# on SQLite's default build), and an INSERT of keys takes three per key
BATCH_KEYS = 5000


def _batches(names: list[str]) -> Iterator[list[str]]:
    """``names`` in runs of at most :data:`BATCH_KEYS` (none for none)."""
    for start in range(0, len(names), BATCH_KEYS):
        yield names[start : start + BATCH_KEYS]


def _marks(count: int) -> str:
    return ", ".join(["?"] * count)


def _meta_values(meta: Meta) -> tuple[Any, ...]:
    return (
        meta.created_at,
        meta.updated_at,
        meta.last_activity_at,
        meta.expires_at,
        meta.deadline,
        int(meta.sliding),
        meta.app,
        meta.user,
        meta.email,
        meta.size_bytes,
        meta.max_size_bytes,
        meta.attribute_count,
        meta.status,
        meta.ended_at,
        meta.revoked_by,
        meta.device,
    )


_STATUSES = (ACTIVE, EXPIRED, REVOKED)


def _meta(row: Row) -> Meta:
    """Parse a row of :data:`COLUMNS`; TypeError or ValueError if a value has the
    wrong type or range (a database without column types, such as SQLite, can
    hold anything)."""
    created, updated, last, expires, deadline, sliding, app, user, email = row[:9]
    size, max_size, count, status, ended, revoked_by, device = row[9:16]
    if sliding not in (0, 1) or status not in _STATUSES:
        raise ValueError("sliding or status out of range")
    return Meta(
        _time(created),
        _time(updated),
        _time(last),
        _optional_time(expires),
        _optional_time(deadline),
        bool(sliding),
        _text(app),
        _optional_text(user),
        _optional_text(email),
        _count(size),
        _count(max_size),
        _count(count),
        status,
        _optional_time(ended),
        _optional_text(revoked_by),
        _optional_text(device),
    )


_YEAR_10000 = 253402300800.0


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a timestamp of type {type(value).__name__}")
    if not 0 <= value < _YEAR_10000:  # also False for NaN
        raise ValueError("timestamp out of range")
    return float(value)


def _optional_time(value: object) -> float | None:
    return None if value is None else _time(value)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a text column holds {type(value).__name__}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("a count out of range")
    return value


def _corrupt(session_id: object, reason: Exception) -> None:
    """Log a corrupt row once, without its content; the caller treats it as none."""
    logger.warning(
        "sessionware: the SQL record of session %s is corrupt (%s); treating it as no session",
        session_id,
        type(reason).__name__,
    )
