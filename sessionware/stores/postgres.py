"""PostgresStore: sessions in PostgreSQL, shared by every process of every machine.

psycopg 3 serves both protocols: the sync methods borrow a connection from a
``psycopg_pool.ConnectionPool``, the async ones from an
``AsyncConnectionPool`` (one per event loop, since an asyncio pool belongs to
the loop that opened it), so a request waiting on the database never blocks
the event loop. Each operation is one short transaction; the layout, the
row locks and the guarantees are ``sql_flows``'s, the schema is
``postgres_schema.sql`` (for the default prefix). Expired rows are reclaimed
by a bounded sweep (``FOR UPDATE SKIP LOCKED``, through the ``due`` index)
that a write starts in a background thread at most once per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import select
import threading
import time
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from ..digits import whole_number
from ..errors import ConfigurationError, MissingExtra, StoreUnavailable
from .memory import AUDIT_LIMIT, DEFAULT_RETENTION
from .postgres_watchdog import WATCHDOG, Watch
from .sql import DEFAULT_SWEEP_INTERVAL_SECONDS, SQLStore, adrive, check_positive, drive
from .sql_flows import POSTGRES, Flow, Row, SQLFlows, Statement, check_prefix, schema_statements
from .urls import masked, scrubbed, take_url_prefix

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout
except ImportError as error:  # pragma: no cover - depends on the environment
    raise MissingExtra(
        "PostgresStore needs psycopg 3 and psycopg-pool: pip install 'sessionware[postgres]'"
    ) from error

T = TypeVar("T")
logger = logging.getLogger("sessionware")
_LOWERING_SAID: set[str] = set()  # what this process warned of a search's lowercasing

DEFAULT_TIMEOUT = timedelta(seconds=5)
_SCHEMES = ("postgresql://", "postgres://")


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _check_url(url: str) -> None:
    """ConfigurationError (the password masked) for what libpq would refuse only when
    the first request connects, 5 s and a 503 later: a port that is no number from 1 to
    65535, an ``sslmode`` it does not know."""
    parts = urllib.parse.urlsplit(url)
    if "@" in url.partition("//")[2].partition("?")[0] and "@" not in parts.netloc:
        return  # a "/" in the user part: what reads as host and port is the password's
    hosts = parts.netloc.rpartition("@")[2]
    for host in filter(None, hosts.split(",")):
        _, colon, port = host.rpartition("]")[2].rpartition(":")  # ("[::1]:5432": after "]")
        number = whole_number(port, 5)
        if colon and port and (number is None or not 0 < number < 65536):
            raise ConfigurationError(
                f"the PostgreSQL store URL {masked(url)!r} has a port that is no number "
                "from 1 to 65535: give one (5432 by default)"
            )
    for key, value in urllib.parse.parse_qsl(parts.query):
        if key == "sslmode" and value not in _SSLMODES:
            raise ConfigurationError(
                f"the PostgreSQL store URL {masked(url)!r} has sslmode={value!r}: "
                f"use one of {', '.join(_SSLMODES)}"
            )


def _let_go_inherited(pool: ConnectionPool[Any]) -> None:
    """The parent's pool, in a forked child: let it go at once. psycopg_pool's ``__del__``
    would wait 5 s for each of its worker threads, which a fork did not copy, and which
    a fork made from C (uWSGI's workers) leaves looking alive: a worker's first request
    stalled 20 s. Its connections are the parent's; this process never uses them."""
    with contextlib.suppress(Exception):  # (a private flag: a later psycopg_pool may not have it)
        pool._closed = True


class PostgresStore(SQLStore):
    """Sessions in the PostgreSQL database ``conninfo`` names: the sync, async and
    management contracts.

    ``conninfo``: a ``postgresql://`` URL or a libpq ``key=value`` string.
    ``prefix``: the table-name prefix, optionally after a schema
    (``"app.sessionware_"``; the schema is made with the tables).
    ``create_tables``: create the tables and indexes on first use when missing
    (``False``: run :meth:`create_schema` or ``postgres_schema.sql`` yourself).
    ``pool_max_size``: connections per process (and per event loop, for the
    async methods). ``timeout_seconds``: how long one operation may wait for a
    connection, to connect, or for a lock before giving up with StoreUnavailable
    (a 503); one statement may run twice as long. ``retention_seconds``, ``audit_limit``:
    as for MemoryStore. ``sweep_interval_seconds``: how often (at most) a write
    starts a sweep of one bounded batch of expired rows, in a thread of its own
    on the sync pool (also for the async methods); :meth:`sweep` does it on demand.

    Any database error (down, read-only, a lock or statement past the timeout,
    disk full) raises :class:`~sessionware.errors.StoreUnavailable`, with the
    transaction rolled back; a corrupt row is logged once, without its content,
    and read as no session.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        prefix: str = "sessionware_",
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
        create_tables: bool = True,
        pool_max_size: int = 10,
        timeout_seconds: float = DEFAULT_TIMEOUT.total_seconds(),
        sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS,
    ) -> None:
        try:
            params = conninfo_to_dict(conninfo)
        except (psycopg.Error, TypeError) as error:
            raise ConfigurationError(
                "PostgresStore needs a postgresql://user@host:5432/dbname URL or a libpq "
                f"'host=... dbname=...' string: {error}"
            ) from None
        if isinstance(pool_max_size, bool) or not isinstance(pool_max_size, int):
            raise ConfigurationError(f"pool_max_size must be an int, got {pool_max_size!r}")
        if pool_max_size < 1:
            raise ConfigurationError(f"pool_max_size must be at least 1, got {pool_max_size}")
        super().__init__(
            SQLFlows(
                check_prefix(prefix),
                POSTGRES,
                check_positive("retention_seconds", retention_seconds),
                audit_limit,
            ),
            sweep_interval_seconds=sweep_interval_seconds,
        )
        self.prefix = prefix
        self.timeout_seconds = check_positive("timeout_seconds", timeout_seconds)
        self.pool_max_size = pool_max_size
        self._conninfo = conninfo
        self._options = str(params.get("options") or "")
        where = "{}:{}/{}".format(
            params.get("host") or "localhost", params.get("port") or 5432, params.get("dbname", "")
        )
        # (libpq reads a password holding a raw "/" as host, port and database name)
        self._where = scrubbed(where, conninfo)
        self._tables_ready = not create_tables  # else checked once, on first use
        self._lowering_known = False  # how a search lowercases: asked once, on first use
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Any] | None = None
        self._reach = _Reachability()  # what a connection of our own last met (see _probe)
        self._pool_pid = 0
        self._apools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool[Any]] = {}
        self._closing: set[asyncio.Task[None]] = set()  # pools being closed (see _retire)
        self._sweeper: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r}, prefix={self.prefix!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """``postgresql://user:password@host:5432/dbname?sslmode=require``, as libpq
        reads it, with an optional ``?prefix=schema.table_`` (not passed to libpq);
        ``options`` as the constructor's."""
        if not isinstance(url, str) or not url.lower().startswith(_SCHEMES):
            shown = masked(url) if isinstance(url, str) else url
            raise ConfigurationError(
                f"a PostgreSQL store URL looks like postgresql://user@host:5432/dbname, "
                f"not {shown!r}"
            )
        url = take_url_prefix(url, options)
        _check_url(url)
        return cls(url, **options)

    def schema_sql(self) -> list[str]:
        """The statements that make this store's schema, tables and indexes (idempotent)."""
        schema = self.prefix.rpartition(".")[0]
        made = [f"CREATE SCHEMA IF NOT EXISTS {schema}"] if schema else []
        return made + schema_statements(self.prefix, POSTGRES)

    def create_schema(self) -> None:
        """Create the schema, tables and indexes now, if missing."""
        self._run(self._schema(), ready=True)
        self._tables_ready = True

    async def acreate_schema(self) -> None:
        """See :meth:`create_schema`."""
        await self._arun(self._schema(), ready=True)
        self._tables_ready = True

    def has_tables(self) -> bool:
        """Whether this store's sessions table exists under its prefix (a read:
        nothing is created, whatever ``create_tables`` says)."""
        return self._run(self._tables_found(), write=False, ready=True)

    def close(self) -> None:
        """Close this process's pool, and the async pools whose event loops have ended;
        in a forked process, let go of the parent's pool without closing it (its
        connections are the parent's).

        A sweep in progress is waited for (up to ``timeout_seconds``) first."""
        sweeper = self._sweeper
        if sweeper is not None and sweeper is not threading.current_thread():
            sweeper.join(self.timeout_seconds)
        with self._lock:
            pool, self._pool = self._pool, None
            ended = [loop for loop in self._apools if loop.is_closed()]
            dropped = [self._apools.pop(loop) for loop in ended]
        if pool is not None and self._pool_pid != os.getpid():  # the parent's, in a forked
            _let_go_inherited(pool)  # worker that never used it: closing ends its connections
        elif pool is not None:
            pool.close()
        for apool in dropped:
            _drop_connections(apool)

    async def aclose(self) -> None:
        """Close the running event loop's async pool (and what :meth:`close` closes),
        and wait for the pools it retired (see :meth:`_retire`) to finish closing."""
        loop = asyncio.get_running_loop()
        apool = self._apools.pop(loop, None)
        if apool is not None:
            await apool.close()
        retiring = [task for task in self._closing if task.get_loop() is loop]
        if retiring:
            await asyncio.gather(*retiring, return_exceptions=True)
        self.close()

    # -- reclaiming ------------------------------------------------------------------------

    def _reclaim(self) -> None:
        self._sweeper = threading.Thread(
            target=super()._reclaim, name="sessionware-sweep", daemon=True
        )
        self._sweeper.start()

    async def _areclaim(self) -> None:
        self._reclaim()  # the thread uses the sync pool: the event loop never waits on it

    # -- the drivers -------------------------------------------------------------------------

    def _run(self, flow: Flow[T], *, write: bool = True, ready: bool = False) -> T:
        """Carry ``flow`` out in one transaction on a pooled connection, within
        :attr:`_deadline` (see ``postgres_watchdog``)."""
        watch = None
        try:
            with (
                self._connection() as connection,
                WATCHDOG.watching(connection, self._deadline) as watch,
            ):

                def step(statement: Statement) -> list[Row]:
                    watch.renew()  # each statement has the whole deadline
                    return _execute(connection, statement)

                if not (ready or self._tables_ready):
                    try:
                        with connection.transaction():
                            drive(self._schema_if_missing(), step)
                    except psycopg.errors.InsufficientPrivilege:
                        with connection.transaction():  # an earlier release's tables serve
                            if not drive(self._tables_found(), step):
                                raise
                        self._flows.cannot_mark()
                    self._tables_ready = True
                if not self._lowering_known:
                    with (  # (refused: the plain lower() serves)
                        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
                        connection.transaction(),
                    ):
                        drive(self._search_lowering(), step)
                    self._lowering_known = True
                with connection.transaction():
                    return drive(flow, step)
        except psycopg.Error as error:
            raise self._unavailable(error, watch) from error

    async def _arun(self, flow: Flow[T], *, write: bool = True, ready: bool = False) -> T:
        """:meth:`_run` on the running event loop's async pool."""
        watch = None
        try:
            async with self._aconnection() as connection:
                with WATCHDOG.watching(connection, self._deadline) as watch:

                    async def step(statement: Statement) -> list[Row]:
                        watch.renew()  # each statement has the whole deadline
                        return await _aexecute(connection, statement)

                    if not (ready or self._tables_ready):
                        try:
                            async with connection.transaction():
                                await adrive(self._schema_if_missing(), step)
                        except psycopg.errors.InsufficientPrivilege:
                            async with connection.transaction():  # (as in _run)
                                if not await adrive(self._tables_found(), step):
                                    raise
                            self._flows.cannot_mark()
                        self._tables_ready = True
                    if not self._lowering_known:
                        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
                            async with connection.transaction():  # (as in _run)
                                await adrive(self._search_lowering(), step)
                        self._lowering_known = True
                    async with connection.transaction():
                        return await adrive(flow, step)
        except psycopg.Error as error:
            raise self._unavailable(error, watch) from error

    @property
    def _deadline(self) -> float:
        """How long one statement may go unanswered on its connection: twice
        ``timeout_seconds`` (the server's statement timeout), and a second for the
        server to say so itself."""
        return 2 * self.timeout_seconds + 1.0

    def _alive(self, connection: psycopg.Connection[Any]) -> bool:
        """:func:`_alive` within the deadline: Unanswered when the server, there, does not
        answer at all (the next pooled connection would wait as long)."""
        with WATCHDOG.watching(connection, self._deadline) as check:
            alive = _alive(connection)
        if check.severed:
            raise Unanswered(self._deadline)
        return alive

    async def _aalive(self, connection: psycopg.AsyncConnection[Any]) -> bool:
        """:meth:`_alive` on an async connection."""
        with WATCHDOG.watching(connection, self._deadline) as check:
            alive = await _aalive(connection)
        if check.severed:
            raise Unanswered(self._deadline)
        return alive

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that works: one idle for a while is checked first, and
        one the server closed meanwhile is dropped for the next (or a new) one."""
        pool = self._sync_pool()
        if self._reach.unreachable and (
            self._reach.hung or not pool.get_stats().get("pool_available")
        ):
            self._probe()  # refused: that is an answer at once
        try:
            for _ in range(self.pool_max_size):
                with pool.connection() as connection:
                    if _to_check(connection) and not self._alive(connection):
                        continue  # broken: the pool drops it as it comes back
                    self._reach.unreachable = False  # (one that works: the server answers)
                    try:
                        yield connection
                    finally:
                        _last_used[connection] = time.monotonic()
                    return
            with pool.connection() as connection:  # every idle one was gone: this one is new
                yield connection
        except PoolTimeout:
            self._probe()  # the server answers (the pool was only busy): the timeout stands
            raise

    @contextlib.asynccontextmanager
    async def _aconnection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """:meth:`_connection` from the running event loop's pool."""
        pool = await self._async_pool()
        if self._reach.unreachable and (
            self._reach.hung or not pool.get_stats().get("pool_available")
        ):
            await self._aprobe()
        try:
            for _ in range(self.pool_max_size):
                async with pool.connection() as connection:
                    if _to_check(connection) and not await self._aalive(connection):
                        continue
                    self._reach.unreachable = False
                    try:
                        yield connection
                    finally:
                        _last_used[connection] = time.monotonic()
                    return
            async with pool.connection() as connection:
                yield connection
        except PoolTimeout:
            try:
                await self._aprobe()
            except BaseException:
                # (a cancellation during the probe too: asyncio.run's, at its end)
                if self._reach.silent:  # a refusal ends the pool's attempts at once
                    await self._retire(pool)
                raise
            raise

    async def _retire(self, pool: AsyncConnectionPool[Any]) -> None:
        """Stop ``pool``'s workers: its server does not answer. A psycopg_pool worker
        survives a cancellation that comes during a connection attempt (it takes it
        for the attempt's failure), so a pool left trying would keep its event loop
        from ever finishing: ``asyncio.run`` cancels every task and waits for them.
        Told to stop, a worker stops once its attempt is over. The next operation on
        this loop opens a new pool."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._apools.get(loop) is pool:
                del self._apools[loop]
        closing = loop.create_task(pool.close(timeout=self.timeout_seconds))
        self._closing.add(closing)  # (held until done: a task is only weakly referenced)
        closing.add_done_callback(self._closing.discard)
        # Its first steps tell the workers, unless the pool's lock is held meanwhile (a
        # connection being handed back): then a few more turns of the loop. psycopg_pool
        # empties its (private) list of workers as it tells them.
        for _ in range(_RETIRE_TURNS):
            await asyncio.sleep(0)
            if closing.done() or getattr(pool, "_workers", None) == []:
                break

    def _probe(self) -> None:
        """One connection of our own, outside the pool; raises its error when it fails,
        and then marks the server unreachable: until a connection serves again (this
        one, or one of the pool's), an operation that finds no idle connection in the
        pool tries this first and fails at once, rather than waiting out
        ``timeout_seconds``. Idle pooled connections are still used meanwhile: new
        ones may be refused (too many connections, a login no longer valid) while
        they work. A server that does not answer at all (a firewall that drops
        packets, a host gone) makes the attempt wait out ``connect_timeout``: then
        no other attempt is made for as long, nor while one is under way, and the
        operations meanwhile fail at once with its cause (see :class:`_Reachability`)."""
        started = self._reach.begin()
        try:
            psycopg.connect(self._conninfo, **self._pool_options()["kwargs"]).close()
        except BaseException as error:
            self._reach.end(started, error)
            raise
        self._reach.end(started, None)

    async def _aprobe(self) -> None:
        """:meth:`_probe` for the async methods."""
        started = self._reach.begin()
        try:
            kwargs = self._pool_options()["kwargs"]
            await (await psycopg.AsyncConnection.connect(self._conninfo, **kwargs)).close()
        except BaseException as error:
            self._reach.end(started, error)
            raise
        self._reach.end(started, None)

    def _unavailable(self, error: psycopg.Error, watch: Watch | None = None) -> StoreUnavailable:
        if _cut_off(error, watch):
            self._reach.unanswered(self._deadline)
            return StoreUnavailable(
                f"the PostgreSQL session store at {self._where} did not answer within "
                f"{self._deadline:g} s (twice timeout_seconds, and one), so the connection "
                "was dropped and nothing was applied; check that the server is up and not "
                "paused or swapping"
            )
        detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
        detail = scrubbed(detail, self._conninfo)  # (see _where)
        advice = _advice(error, self.prefix, self.timeout_seconds)
        failure = StoreUnavailable(
            f"the PostgreSQL session store at {self._where} failed: {type(error).__name__}: "
            f"{detail}. {advice}"
        )
        failure.misconfigured = not advice.startswith(_OUTAGE_ADVICE)
        return failure

    def _pool_options(self) -> dict[str, Any]:
        timeout_ms = int(self.timeout_seconds * 1000)
        # A lock wait gives up first, and says so; a statement gets twice as long.
        limits = f"-c lock_timeout={timeout_ms} -c statement_timeout={2 * timeout_ms}"
        return {
            "min_size": 0,
            "max_size": self.pool_max_size,
            "timeout": self.timeout_seconds,
            "reconnect_timeout": self.timeout_seconds,
            "kwargs": {
                "autocommit": True,  # transactions are ours: connection.transaction()
                "connect_timeout": max(1, round(self.timeout_seconds)),
                "options": f"{self._options} {limits}".strip(),
            },
        }

    def _sync_pool(self) -> ConnectionPool[Any]:
        """This process's pool, opened on first use (a forked child opens its own)."""
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                if self._pool is not None:
                    _let_go_inherited(self._pool)
                self._pool = ConnectionPool(self._conninfo, open=False, **self._pool_options())
                self._pool.open()
                self._pool_pid = os.getpid()
            return self._pool

    async def _async_pool(self) -> AsyncConnectionPool[Any]:
        """The running event loop's pool, opened on first use there."""
        loop = asyncio.get_running_loop()
        pool = self._apools.get(loop)
        if pool is not None:
            return pool
        pool = AsyncConnectionPool(self._conninfo, open=False, **self._pool_options())
        await pool.open()
        with self._lock:
            for ended in [other for other in self._apools if other.is_closed()]:
                _drop_connections(self._apools.pop(ended))
            kept = self._apools.setdefault(loop, pool)
        if kept is not pool:  # another task of this loop opened one meanwhile
            await pool.close()
        return kept

    def _schema(self) -> Flow[None]:
        # One creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide.
        yield Statement("SELECT pg_advisory_xact_lock(hashtext(?))", (self.prefix,))
        for statement in self.schema_sql():
            yield Statement(statement)

    def _tables_found(self) -> Flow[bool]:
        ((found,),) = yield Statement("SELECT to_regclass(?) IS NOT NULL", (self._flows.sessions,))
        return bool(found)

    def _schema_if_missing(self) -> Flow[None]:
        # the newest table: a database made by an earlier release gets it on first use
        ((found,),) = yield Statement("SELECT to_regclass(?) IS NOT NULL", (self._flows.marks,))
        if not found:
            yield from self._schema()

    def _search_lowering(self) -> Flow[None]:
        """A search beyond ASCII lowercases text as Python's ``str.lower`` does, as on
        the other stores. PostgreSQL's ``lower()`` follows the database's LC_CTYPE,
        which under the C locale knows ASCII alone: then ICU's root collation lowercases
        instead, where the server has ICU and the database is UTF-8 (the one encoding
        whose letters Python's and ICU's cases cover alike); else a warning says so."""
        ((encoding, icu),) = yield Statement(  # (no catalog a hardened role may not read)
            "SELECT current_setting('server_encoding'), "
            "EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"
        )
        if encoding == "UTF8":  # (chr(196) is not a letter in every encoding: asked here only)
            ((beyond_ascii,),) = yield Statement("SELECT lower(chr(196)) = chr(228)")
            if beyond_ascii:
                return
            if icu:
                lower = 'lower({} COLLATE "und-x-icu")'
                self._flows.dialect = dataclasses.replace(self._flows.dialect, lower=lower)
                return
        why = (
            f"is not UTF-8 ({encoding})"
            if encoding != "UTF8"
            else "has LC_CTYPE C and the server no ICU"
        )
        if why in _LOWERING_SAID:
            return
        _LOWERING_SAID.add(why)
        logger.warning(
            "sessionware: this PostgreSQL database %s, so a search may match letters "
            "beyond ASCII (É, И) only where they are stored in lowercase",
            why,
        )


# A pooled connection idle this long is checked (one empty query) before it is used: the
# server may have closed it meanwhile (a restart, idle_session_timeout, a proxy, a NAT),
# and a request must not meet that as a 503 while the database is up. One that fails the
# check is dropped for the next (or a new) one. Under load, reuse comes sooner and costs
# no check. (psycopg_pool's own check= callback was tried: after a failed check its
# waiting client could time out while a new connection sat in the pool.)
CHECK_AFTER_IDLE_SECONDS = 1.0
_last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _cut_off(error: psycopg.Error, watch: Watch | None) -> bool:
    """Whether ``error`` ended an operation that the server left unanswered (the
    watchdog cut its connection, or the check before use)."""
    return isinstance(error, Unanswered) or (watch is not None and watch.severed)


class Unanswered(psycopg.OperationalError):
    """A pooled connection's check got no answer within the deadline: the server hangs."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")


def _to_check(connection: Any) -> bool:
    """Whether ``connection`` is checked before it serves: it went unused long enough
    (one this store never used, a spare the pool made in advance, is checked too:
    once), or the server sent it something while it sat idle. An idle connection
    is sent nothing but its end (``pg_terminate_backend``, a shutdown), which a
    check at once replaces, where a request would answer 503: one ``poll`` call."""
    used = _last_used.get(connection)
    if used is None or time.monotonic() - used > CHECK_AFTER_IDLE_SECONDS:
        return True
    try:
        poller = select.poll()  # (not select.select: no limit on the descriptor's number)
        poller.register(connection.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):  # (no socket left: closed)
        return True
    except AttributeError:  # (no select.poll: eventlet's monkey_patch() removes it; then
        return True  # every reuse is checked, as one unused for a while is)


def _alive(connection: psycopg.Connection[Any]) -> bool:
    """One empty query: ``False`` when the server closed the connection."""
    try:
        connection.execute("")
    except psycopg.OperationalError:
        return False
    return True


async def _aalive(connection: psycopg.AsyncConnection[Any]) -> bool:
    try:
        await connection.execute("")
    except psycopg.OperationalError:
        return False
    return True


def _advice(error: psycopg.Error, prefix: str, timeout_seconds: float) -> str:
    """What to do about ``error``: a deployment's missing grant or tables are said to be
    that; anything else is told as an outage (down, read-only, full, locked)."""
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return (
            f"The database role lacks a privilege: grant it USAGE on the schema of the "
            f"{prefix}* tables and SELECT, INSERT, UPDATE, DELETE on them (and CREATE on "
            f"that schema, or on the database for a new schema, while create_tables=True), "
            f"or name in prefix= a schema it may use; or have another role create the "
            f"tables (create_schema() or postgres_schema.sql) and pass create_tables=False"
        )
    if isinstance(error, (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)):
        return (
            f"The {prefix}* tables are not there: check prefix= (it must be the one that "
            f"made them), or create them with create_schema() or postgres_schema.sql"
        )
    text = str(error)
    if "does not exist" in text and ('database "' in text or 'role "' in text):
        return (
            "This is the configuration, not an outage: the server has no such database or "
            "role; check the database name and the user in the store's URL"
        )
    if "password authentication failed" in text or "no pg_hba.conf entry" in text:
        return (
            "This is the configuration, not an outage: the server refused the login; check "
            "the user and password in the store's URL, and the server's pg_hba.conf"
        )
    return (
        f"{_OUTAGE_ADVICE} and accepts writes, that the disk has room, and that "
        f"no long transaction holds the session tables (timeout: {timeout_seconds:g} s)"
    )


_OUTAGE_ADVICE = "Check that the server is up"  # how the advice for an outage begins


@functools.lru_cache(maxsize=512)
def _psycopg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the flows' SQL holds no other ``?`` or ``%``)."""
    return sql.replace("?", "%s")


def _execute(connection: psycopg.Connection[Any], statement: Statement) -> list[Row]:
    cursor = connection.execute(_psycopg_sql(statement.sql), statement.params)
    return cursor.fetchall() if cursor.description is not None else []


async def _aexecute(connection: psycopg.AsyncConnection[Any], statement: Statement) -> list[Row]:
    cursor = await connection.execute(_psycopg_sql(statement.sql), statement.params)
    return await cursor.fetchall() if cursor.description is not None else []


class _Reachability:
    """Whether the server answered the last connection of our own, and when to try
    the next. A failed attempt holds off the next one for as long as it took
    itself: a refusal (milliseconds) lets every operation try again, while one that
    waited out ``connect_timeout`` would otherwise cost every operation as much,
    and a worker tied up a second or more per request serves almost nothing."""

    def __init__(self) -> None:
        self.unreachable = False
        self.silent = False  # the last attempt that failed waited out connect_timeout
        # an open connection went unanswered (its watchdog cut it): every idle one would
        # wait as long, so none serves until a connection of our own gets through
        self.hung = False
        self._next_attempt = 0.0  # monotonic; infinite while an attempt is under way
        self._cause = ""

    def begin(self) -> float:
        """Start an attempt (its start time), or raise OperationalError at once with
        the last attempt's cause while attempts are held off."""
        now = time.monotonic()
        if self.unreachable and now < self._next_attempt:
            wait = (
                ""
                if self._next_attempt == float("inf")
                else (f"; the next attempt in {self._next_attempt - now:.1f} s")
            )
            raise psycopg.OperationalError(
                f"{self._cause} (the last connection attempt failed that way{wait})"
            )
        self._next_attempt = float("inf")  # under way: the others answer at once meanwhile
        return now

    def unanswered(self, waited: float) -> None:
        """An operation waited ``waited`` s on an open connection and was cut off: the
        server may hang (a paused VM, a hung host), and then each idle pooled
        connection would cost a request the same wait. No pooled connection serves
        until an attempt of our own connects; the next operation makes one at once:
        connected (only that connection was dead: a NAT that dropped it), the pool
        serves again; not (the server hangs), it waited out the connect timeout, and
        for as long again operations answer 503 at once (:meth:`end`)."""
        self.unreachable = self.hung = self.silent = True
        self._cause = f"the server did not answer on an open connection within {waited:g} s"
        self._next_attempt = 0.0

    def end(self, started: float, error: BaseException | None) -> None:
        """End the attempt begun at ``started``: ``error`` is what it raised, if anything."""
        now = time.monotonic()
        if isinstance(error, psycopg.OperationalError):
            self.unreachable = True
            self.silent = isinstance(error, _CONNECTION_TIMEOUT)
            self._cause = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
            self._next_attempt = now + (now - started)
            return
        self._next_attempt = 0.0
        if error is None:
            self.unreachable = self.hung = False


# psycopg's error for a connection attempt that waited out connect_timeout (3.1 and
# later; before, no attempt counts as silent, and pools are never retired)
_CONNECTION_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    kind for kind in [getattr(psycopg.errors, "ConnectionTimeout", None)] if kind is not None
)
_RETIRE_TURNS = 8  # turns of the event loop _retire gives a closing pool to tell its workers


def _drop_connections(pool: AsyncConnectionPool[Any]) -> None:
    """Close the idle connections of a pool whose event loop has ended (``close()``
    needs that loop); its tasks ended with the loop."""
    idle: Sequence[psycopg.AsyncConnection[Any]] = getattr(pool, "_pool", ())
    for connection in list(idle):
        connection.pgconn.finish()
