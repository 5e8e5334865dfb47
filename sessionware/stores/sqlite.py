"""SQLiteStore: sessions in one SQLite file, shared by every worker process on a machine.

The standard library's ``sqlite3``, in WAL mode (readers never wait for the
writer), with a busy timeout and one short transaction per operation: write
transactions start ``BEGIN IMMEDIATE``, so two workers never deadlock upgrading
a read lock. Each thread of each process has its own connection (a fork gets a
fresh one). The async methods run the same code in a worker thread
(``asyncio.to_thread``), so the event loop never waits on the disk or a lock.
The layout, the guarantees and the sweep are ``sql_flows``'s.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError, StoreUnavailable
from .memory import AUDIT_LIMIT, DEFAULT_RETENTION
from .sql import DEFAULT_SWEEP_INTERVAL_SECONDS, SQLStore, check_positive, drive
from .sql_flows import SQLITE, Flow, Row, SQLFlows, Statement, check_prefix, schema_statements
from .urls import masked, take_url_prefix

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = timedelta(seconds=5)
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class SQLiteStore(SQLStore):
    """Sessions in the SQLite database at ``path``: the sync, async and management contracts.

    For one machine: every worker process (``uvicorn --workers N``, ``gunicorn
    -w N``) that opens the same file shares the sessions, and they survive a
    restart. ``path`` is a file path, or a ``file:`` URI (``file:/srv/s.db?mode=ro``).

    ``busy_timeout_seconds``: how long an operation waits for another process's
    write lock before giving up with StoreUnavailable (a 503). ``synchronous``:
    SQLite's durability setting; ``"NORMAL"`` (the default, safe in WAL mode
    against an application crash, may lose the last commits on power loss) or
    ``"FULL"`` (an fsync per commit). ``create_tables``: create the tables on
    first use when missing. ``prefix``: the table-name prefix (no schema: the
    tables live in the file itself).
    ``retention_seconds``, ``audit_limit``: as for MemoryStore.
    ``sweep_interval_seconds``: how often (at most) a write also reclaims a
    bounded batch of expired rows; :meth:`sweep` does it on demand.

    Any SQLite error (locked past the timeout, read-only, disk full, not a
    database) raises :class:`~sessionware.errors.StoreUnavailable`; a corrupt
    row is logged once, without its content, and read as no session.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefix: str = "sessionware_",
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
        busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT.total_seconds(),
        synchronous: str = "NORMAL",
        create_tables: bool = True,
        sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or str(path) in ("", ":memory:"):
            raise ConfigurationError(
                f"SQLiteStore needs the path of a database file, got {path!r}; for sessions "
                "in one process's memory use MemoryStore()"
            )
        folder = Path(path).parent
        if not str(path).startswith("file:") and not folder.is_dir():
            raise ConfigurationError(
                f"SQLiteStore's folder {str(folder)!r} does not exist (the path is {str(path)!r}): "
                "create it, or give a path in a folder that exists; the database file itself "
                "is created on first use"
            )
        if not str(path).startswith("file:") and Path(path).is_dir():
            raise ConfigurationError(
                f"SQLiteStore's path {str(path)!r} is a folder: give the path of the database "
                f"file in it (such as {str(Path(path) / 'sessions.db')!r}), which is created on "
                "first use"
            )
        if synchronous not in _SYNCHRONOUS:
            raise ConfigurationError(
                f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        super().__init__(
            SQLFlows(
                _sqlite_prefix(prefix),
                SQLITE,
                check_positive("retention_seconds", retention_seconds),
                audit_limit,
            ),
            sweep_interval_seconds=sweep_interval_seconds,
        )
        self.path = str(path) if str(path).startswith("file:") else str(Path(path))
        self.prefix = prefix
        self.busy_timeout_seconds = check_positive("busy_timeout_seconds", busy_timeout_seconds)
        self.synchronous = synchronous
        self._create_tables = create_tables
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, prefix={self.prefix!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """``sqlite:///sessions.db`` (relative) or ``sqlite:////var/lib/app/sessions.db``
        (absolute), as SQLAlchemy spells them, with an optional ``?prefix=...``;
        ``options`` as the constructor's."""
        url = take_url_prefix(url, options)
        scheme, _, path = url.partition(":///")
        if scheme.lower() != "sqlite" or not path:
            raise ConfigurationError(
                f"a SQLite store URL looks like sqlite:///path/to/sessions.db, not {masked(url)!r}"
            )
        return cls(path, **options)

    def create_schema(self) -> None:
        """Create the tables and indexes now, if missing (see ``sql_flows``)."""
        self._run(self._schema())

    def has_tables(self) -> bool:
        """Whether this store's sessions table exists under its prefix (with
        ``create_tables=False`` a read only: nothing is created)."""
        return self._run(self._tables_found(), write=False)

    def close(self) -> None:
        """Close every connection this store opened (in any thread of this process)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._local = threading.local()

    async def aclose(self) -> None:
        """See :meth:`close`."""
        self.close()

    # -- the drivers -------------------------------------------------------------------------

    def _run(self, flow: Flow[T], *, write: bool = True) -> T:
        """Carry ``flow`` out in one transaction on this thread's connection."""
        try:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = drive(flow, lambda s: _execute(connection, s))
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result
        except sqlite3.Error as error:
            raise StoreUnavailable(
                f"the SQLite session store at {self.path} failed: {type(error).__name__}: "
                f"{error}. Check that the file is writable by this process, that the disk "
                "has room, and that no long transaction holds it (busy timeout: "
                f"{self.busy_timeout_seconds:g} s)"
            ) from error

    async def _arun(self, flow: Flow[T], *, write: bool = True) -> T:
        """:meth:`_run` in a worker thread, so that the event loop never blocks."""
        return await asyncio.to_thread(self._run, flow, write=write)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema made) on first use."""
        local = self._local
        connection: sqlite3.Connection | None = getattr(local, "connection", None)
        if connection is not None and local.pid == os.getpid():
            return connection
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_seconds,
            isolation_level=None,  # transactions are ours: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # used by its own thread only; closed by any
            uri=self.path.startswith("file:"),
        )
        try:
            # a search lowercases as the other stores do, beyond ASCII (SQLite's lower())
            connection.create_function("sw_lower", 1, _lower, deterministic=True)
            _to_wal(connection, self.busy_timeout_seconds)
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            if self._create_tables and not self._has_tables(connection):
                connection.execute("BEGIN IMMEDIATE")
                for statement in self._ddl():
                    connection.execute(statement)
                connection.execute("COMMIT")
        except BaseException:
            connection.close()
            raise
        local.connection, local.pid = connection, os.getpid()
        with self._lock:
            self._opened.append(connection)
        return connection

    def _has_tables(self, connection: sqlite3.Connection) -> bool:
        """Whether the tables exist (a read: a read-only database can still serve)."""
        # every table: a file made by an older version gets the ones it lacks on first use
        return all(
            _execute(connection, self._table_lookup(table))[0][0]
            for table in ("sessions", "data", "audit", "registry", "marks")
        )

    def _table_lookup(self, table: str) -> Statement:
        """How many tables named ``prefix + table`` there are (0 or 1)."""
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        return Statement(query, (self.prefix + table,))

    def _tables_found(self) -> Flow[bool]:
        ((count,),) = yield self._table_lookup("sessions")
        return bool(count)

    def _ddl(self) -> list[str]:
        return schema_statements(self.prefix, SQLITE)

    def _schema(self) -> Flow[None]:
        for statement in self._ddl():
            yield Statement(statement)


def _sqlite_prefix(prefix: object) -> str:
    """``prefix`` if SQLite can keep tables under it: a name without a schema (the
    store's connections attach no other database, and its DDL names none)."""
    checked = check_prefix(prefix)
    _, dot, name = checked.rpartition(".")
    if dot:
        raise ConfigurationError(
            f"SQLiteStore keeps its tables in its own file, so its prefix is a plain "
            f"table-name prefix without a schema, got {checked!r}; use e.g. {name!r} "
            f"(or another file for another app)"
        )
    return checked


def _execute(connection: sqlite3.Connection, statement: Statement) -> list[Row]:
    return connection.execute(statement.sql, statement.params).fetchall()


def _to_wal(connection: sqlite3.Connection, give_up_after: float) -> None:
    """Put the database in WAL mode. On a new file that other processes open at the
    same moment, SQLite can refuse the switch at once ("database is locked": it does
    not wait its busy timeout there, to avoid a deadlock): try again until the
    busy timeout has passed."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def _lower(text: str | None) -> str | None:
    """SQL ``sw_lower(x)``: ``x.lower()``; NULL stays NULL (the columns searched hold text)."""
    return None if text is None else text.lower()
