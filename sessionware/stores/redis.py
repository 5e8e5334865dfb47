"""RedisStore: sessions in Redis or Redis Cluster, for sync and async apps alike.

One round trip loads a session (and slides its expiry, and marks its activity
in the listing index); one more saves, creates, regenerates or deletes it. A
save writes only the keys that changed, so concurrent requests changing
different keys of one session all persist, and it writes only into a live
record, atomically, so nothing brings back a session that was logged out,
regenerated or revoked meanwhile. Expiry is Redis's own, to the millisecond.

The operations are written once, as flows (``redis_flows``) over Lua scripts
(``redis_scripts``); this module drives them on a sync client
(:meth:`_run`) and on an asyncio one (:meth:`_arun`). Needs Redis 7.0 or later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import difflib
import re
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from ..digits import whole_number
from ..errors import ConfigurationError, StoreUnavailable, missing_extra

try:  # ahead of the modules below, which need them too: one message names the extra
    import hiredis  # noqa: F401  (the lean connections' parser; redis[hiredis] brings it)
    import redis
    import redis.asyncio
    import redis.asyncio.retry
    import redis.retry
    from redis.asyncio.cluster import ClusterPipeline as AsyncClusterPipeline
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.asyncio.sentinel import MasterNotFoundError as AsyncMasterNotFoundError
    from redis.backoff import NoBackoff
    from redis.cluster import RedisCluster
    from redis.sentinel import MasterNotFoundError
except ImportError as error:
    raise missing_extra("RedisStore", "redis") from error

from .base import AuditRecord, BlindWrite, Changes, Meta, Query, StoredSession
from .memory import AUDIT_LIMIT, DEFAULT_RETENTION
from .per_loop import PerLoop
from .redis_cache import DEFAULT_MAX_ENTRIES, ClientCache
from .redis_flows import Call, Flow, RedisFlows, activity_grain
from .redis_lean import Lean
from .redis_scripts import Script
from .redis_sentinel import forget_primary
from .redis_wire import WireClient, unauthenticated, wire_options
from .redis_wire_sync import SyncWireClient
from .registry_flows import RedisRegistry
from .urls import masked, scrubbed, take_url_prefix, url_prefix

T = TypeVar("T")
SyncClient = redis.Redis | RedisCluster
AsyncClient = redis.asyncio.Redis | AsyncRedisCluster

DEFAULT_PREFIX = "sessionware:"
DEFAULT_MAX_CONNECTIONS = 64  # per client: enough for hundreds of requests in flight
# RedisStore.from_url's options that from_sentinel does not take (they would reach
# redis-py's connections, which fail on them at the first request)
_NOT_ON_SENTINEL = frozenset({"client_cache", "cache_own_saves", "lean", "cluster", "pool_timeout"})
_CACHE_NEEDS_ONE_SERVER = "client_cache needs a single Redis server; on Redis Cluster, leave it off"
NO_IDLE_CACHE_WINDOW = 60.0  # seconds a cached session without an idle timeout is served


class RedisStore:
    """Sessions in Redis: implements the sync, async and management store contracts.

    ``RedisStore(client)`` takes a ``redis.Redis``, ``redis.asyncio.Redis`` or
    a cluster client of either kind, and serves the sync or the async middleware
    accordingly; pass ``async_client=`` too (or use :meth:`from_url`) to serve
    both. Clients must not set ``decode_responses``. ``prefix`` starts every key
    the store writes. ``retention_seconds``: how long an ended session stays
    visible to the management API. ``audit_limit``: how many audit records are
    kept, of operators' and as many of end users' (``base.by_end_user``). Raises
    ConfigurationError (a ValueError) for invalid arguments.

    Any Redis error (refused, timed out, an error reply) raises
    :class:`~sessionware.errors.StoreUnavailable` with the cause chained; a
    corrupt record is logged once, without its content, and read as no session.
    """

    ROTATE_CHECKS_CHANGES = True  # rotate() takes unchanged_since (see base)

    def __init__(
        self,
        client: SyncClient | AsyncClient,
        *,
        async_client: AsyncClient | None = None,
        prefix: str = DEFAULT_PREFIX,
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
        client_cache: bool | int = False,
        cache_own_saves: bool = False,
    ) -> None:
        self._sync: SyncClient | None = None
        self._async: AsyncClient | None = async_client
        if isinstance(client, (redis.asyncio.Redis, AsyncRedisCluster)):
            if async_client is not None:
                raise ConfigurationError(
                    "RedisStore got two asyncio clients; pass the sync one first: "
                    "RedisStore(redis.Redis(...), async_client=redis.asyncio.Redis(...))"
                )
            self._async = client
        else:
            self._sync = client
        for given in (self._sync, self._async):
            if given is not None:
                _check_client(given)
        if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
            raise ConfigurationError(
                f"prefix must be a str without braces (they are Redis Cluster hash tags), "
                f"got {prefix!r}"
            )
        if isinstance(retention_seconds, bool) or not (
            isinstance(retention_seconds, (int, float)) and retention_seconds > 0
        ):
            raise ConfigurationError(
                f"retention_seconds must be a positive number, got {retention_seconds!r}"
            )
        if isinstance(audit_limit, bool) or not isinstance(audit_limit, int) or audit_limit < 1:
            raise ConfigurationError(f"audit_limit must be a positive int, got {audit_limit!r}")
        self.prefix = prefix
        self.retention_seconds = float(retention_seconds)
        clusters = (RedisCluster, AsyncRedisCluster)
        self._single_node = not isinstance(self._sync, clusters) and not isinstance(
            self._async, clusters
        )
        self.audit_limit = audit_limit  # of each log: operators' and end users'
        self._flows = RedisFlows(
            prefix, self.retention_seconds, audit_limit, single_node=self._single_node
        )
        self._registry = RedisRegistry(prefix)
        self._where = _describe(self._sync if self._sync is not None else self._async)
        self._flows.give_up_after = _timeout(self._sync, self._async)
        self._new_async_client: Callable[[], AsyncClient] | None = None
        # from_url's asyncio clients, one per event loop, closed as their loop ends
        self._by_loop: PerLoop[AsyncClient] = PerLoop(self._made_async_client, _aclose)
        # the lean hot-path connection (redis_wire), per event loop, when from_url made one
        self._wire_settings: dict[str, Any] | None = None
        self._sync_wire: SyncWireClient | None = None
        self._lean = Lean()  # how the lean connections call our scripts (FCALL or EVALSHA)
        self._wires: PerLoop[WireClient] = PerLoop(self._made_wire, _aclose)
        self._cache = self._client_cache(client_cache, cache_own_saves)
        self._watch: Any = None  # from_sentinel's FailoverWatch (see redis_sentinel)
        # client -> the switches of primary it followed (one client per event loop: the
        # entry goes with its client)
        self._seen_switches: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._switch_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str | None = None,
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
        socket_timeout: float = 1.0,
        cluster: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_timeout: float | None = None,
        client_cache: bool | int = False,
        cache_own_saves: bool = False,
        lean: bool = True,
        **client_options: Any,
    ) -> RedisStore:
        """A store with a sync and an asyncio client for ``url`` (``redis://``,
        ``rediss://``, ``unix://``; ``cluster=True`` for a Redis Cluster node's URL,
        or that URL as ``redis+cluster://``; a ``redis+sentinel://`` URL is
        :meth:`from_sentinel_url`'s, and refused here saying so).
        The key prefix is ``prefix``, else the URL's ``?prefix=...`` (as
        ``SESSIONWARE_STORE`` and the command's ``--store`` take it), else
        ``"sessionware:"``; two different ones are a ConfigurationError.

        ``lean`` (single server): every operation goes over lean connections
        (``redis_wire.py`` for asyncio, ``redis_wire_sync.py`` for sync callers)
        instead of through redis-py's clients, which cost several times the
        client CPU per command; with any option those do not implement, or
        ``lean=False``, everything stays on redis-py.

        ``socket_timeout`` (seconds) bounds connecting and every command. A
        dropped connection is retried once, at once; a timeout is not retried (the
        command may have run), so an unreachable or stalled server fails a request
        within about two timeouts. ``client_options`` go to both clients.

        Each client keeps at most ``max_connections`` connections (per process,
        and per event loop for asyncio ones; on a cluster, per node); a request
        that finds them all busy waits for one up to ``pool_timeout`` seconds
        (default: ``socket_timeout``) before failing as the store being
        unavailable, so a burst of requests queues instead of failing. A
        connection is held only for one round trip, so a few dozen serve hundreds
        of requests in flight. (redis-py's asyncio cluster client cannot wait for a
        connection: it fails at once past its limit. So this store lets at most
        ``max_connections`` of its commands run on it at once, the others waiting
        as above, and lets each node a few connections more for the client's own
        topology refreshes: see :class:`_QueuedCluster`.)

        ``client_cache=True`` (or a maximum number of sessions, default 10,000)
        keeps loaded sessions in this process and serves repeated reads with no
        round trip, kept correct by Redis's invalidation messages: see
        ``sessionware/stores/redis_cache.py`` and the README. Single server only.
        ``cache_own_saves=True`` also keeps what this process saves, so that a
        handler that reads and writes makes one round trip; it is correct only
        while every process that changes the prefix's sessions runs a release that
        announces its changes and may write the announcement key beside each
        session, ``<prefix>{<id>}:a...`` (see the README before turning it on).

        An asyncio client belongs to the event loop it first runs in: this store
        makes one per event loop that uses it (a client passed to the constructor
        serves only its own).
        """
        if isinstance(url, str) and url[: len(CLUSTER_SCHEME)].lower() == CLUSTER_SCHEME:
            url, cluster = "redis://" + url[len(CLUSTER_SCHEME) :], True  # as the command reads it
        elif isinstance(url, str) and url[: len(SENTINEL_SCHEME)].lower() == SENTINEL_SCHEME:
            raise ConfigurationError(
                "a redis+sentinel:// URL names Sentinels, not a server: build the store "
                "with RedisStore.from_sentinel_url(url) (or from_sentinel(...))"
            )
        url, prefix = url_prefix(url, prefix)
        if prefix is None:
            prefix = DEFAULT_PREFIX
        if cluster and client_cache is not False:
            raise ConfigurationError(_CACHE_NEEDS_ONE_SERVER)
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
        }
        options.update(client_options)
        if isinstance(max_connections, bool) or not (
            isinstance(max_connections, int) and max_connections > 0
        ):
            raise ConfigurationError(
                f"max_connections must be a positive int, got {max_connections!r}"
            )
        wait = socket_timeout if pool_timeout is None else pool_timeout
        if isinstance(wait, bool) or not (isinstance(wait, (int, float)) and wait > 0):
            raise ConfigurationError(f"pool_timeout must be positive seconds, got {wait!r}")
        errors = (redis.ConnectionError,)
        sync_retry = redis.retry.Retry(NoBackoff(), 1, supported_errors=errors)
        pooled = {"max_connections": max_connections, "timeout": wait}

        def new_async_client() -> AsyncClient:
            retry = redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=errors)
            if cluster:
                return _QueuedCluster.from_url(
                    url,
                    **{"retry": retry, **options},
                    turns=max_connections,
                    turn_timeout=wait,
                    max_connections=max_connections + _REFRESH_CONNECTIONS,
                )
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url, **{"retry": retry, **options, **pooled}
            )
            return redis.asyncio.Redis.from_pool(pool)

        _check_url(url, cluster)
        if cluster:
            try:
                sync_client: SyncClient = RedisCluster.from_url(
                    url,
                    **{"retry": sync_retry, **options, **pooled},
                    connection_pool_class=redis.BlockingConnectionPool,  # one per node
                )
            except _FAILURES as error:  # it asks a node for the slot map at once
                raise StoreUnavailable(
                    f"the Redis Cluster at {masked(url)} cannot be reached: "
                    f"{type(error).__name__}: {error}"
                ) from error
            except redis.exceptions.RedisClusterException as error:  # db other than 0, ...
                raise ConfigurationError(f"a Redis Cluster URL: {error}") from error
        else:
            pool = redis.BlockingConnectionPool.from_url(
                url, **{"retry": sync_retry, **options, **pooled}
            )
            sync_client = redis.Redis.from_pool(pool)
        store = cls(
            sync_client,
            prefix=prefix,
            retention_seconds=retention_seconds,
            audit_limit=audit_limit,
            client_cache=client_cache,
            cache_own_saves=cache_own_saves,
        )
        store._new_async_client = new_async_client
        store._flows.give_up_after = socket_timeout
        if lean and not cluster:
            store._wire_settings = wire_options(url, options)
            if store._wire_settings is not None:
                store._sync_wire = SyncWireClient(store._wire_settings)
        return store

    @classmethod
    def from_sentinel(
        cls,
        sentinels: Sequence[tuple[str, int]],
        *,
        service_name: str = "mymaster",
        prefix: str = DEFAULT_PREFIX,
        retention_seconds: float = DEFAULT_RETENTION.total_seconds(),
        audit_limit: int = AUDIT_LIMIT,
        socket_timeout: float = 1.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        sentinel_options: dict[str, Any] | None = None,
        **client_options: Any,
    ) -> RedisStore:
        """A store on the primary that Redis Sentinel manages as ``service_name``.

        ``sentinels``: ``[(host, port), ...]`` of the Sentinels (26379 is their
        usual port); any one that answers will do. The primary is looked up
        anew for each new connection, so after a failover the store follows the
        promoted replica by itself: requests caught in the failover get a 503
        (``StoreUnavailable``), the next ones succeed. A thread per Sentinel
        listens for failovers (``redis_sentinel.FailoverWatch``): from a replica's
        promotion until the Sentinels agree on it every request is a 503, and
        after it the pools drop their connections, so none goes on writing to
        the old primary. :meth:`close` stops the threads. ``socket_timeout`` bounds
        connecting and every command, to the Sentinels and the primary alike.
        ``sentinel_options`` go to the Sentinel connections only (e.g. their
        ``password``); ``client_options`` to the primary's (``password``,
        ``ssl``, ...). Each process keeps at most ``max_connections`` to the
        primary (per event loop for asyncio); beyond that a request fails with a
        503 rather than wait (redis-py has no blocking Sentinel pool).

        Replication is asynchronous: a save the primary acknowledged but had not
        yet sent to a replica is lost if that primary dies and the replica is
        promoted (see the README). The client-side cache is not offered here.
        """
        from .redis_sentinel import FailoverWatch, sentinel_clients

        offered_elsewhere = sorted(_NOT_ON_SENTINEL & set(client_options))
        if offered_elsewhere:  # (else redis-py's connection fails on them: every request a 500)
            raise ConfigurationError(
                f"{', '.join(offered_elsewhere)}: not offered on a Sentinel-managed store "
                "(the client-side cache and lean connections need a fixed server); drop "
                "them, or use RedisStore.from_url on one server"
            )
        if isinstance(max_connections, bool) or not (
            isinstance(max_connections, int) and max_connections > 0
        ):
            raise ConfigurationError(
                f"max_connections must be a positive int, got {max_connections!r}"
            )
        sync_client, new_async_client = sentinel_clients(
            sentinels,
            service_name,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            sentinel_options=sentinel_options,
            client_options=client_options,
        )
        store = cls(
            sync_client,
            prefix=prefix,
            retention_seconds=retention_seconds,
            audit_limit=audit_limit,
        )
        store._new_async_client = new_async_client
        watch = FailoverWatch(
            sentinels,
            service_name,
            {
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": socket_timeout,
                **(sentinel_options or {}),
            },
        )
        store._watch = watch
        weakref.finalize(store, watch.close)  # a store never closed stops it too
        store._flows.give_up_after = socket_timeout
        store._where = f"Sentinel service {service_name!r} via " + ", ".join(
            f"{host}:{port}" for host, port in sentinels
        )
        return store

    @classmethod
    def from_sentinel_url(cls, url: str, **options: Any) -> RedisStore:
        """:meth:`from_sentinel` from one URL, as the ``sessionware`` command takes it:
        ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``."""
        from .redis_sentinel import parse_sentinel_url

        url = take_url_prefix(url, options)
        sentinels, service_name, client_options = parse_sentinel_url(url)
        return cls.from_sentinel(
            sentinels, service_name=service_name, **{**client_options, **options}
        )

    def close(self) -> None:
        """Close the sync client's connections (and the client-side cache's)."""
        if self._watch is not None:
            self._watch.close()
        if self._cache is not None:
            self._cache.close()
        if self._sync_wire is not None:
            self._sync_wire.close()
        if self._sync is not None:
            self._sync.close()

    @property
    def cache(self) -> ClientCache | None:
        """The client-side cache (``client_cache=``), with its ``hits`` and ``misses``."""
        return self._cache

    def _client_cache(self, option: bool | int, own_saves: bool) -> ClientCache | None:
        if not isinstance(own_saves, bool):
            raise ConfigurationError(f"cache_own_saves takes True or False, not {own_saves!r}")
        if option is False:
            if own_saves:
                raise ConfigurationError("cache_own_saves=True needs client_cache=True")
            return None
        if isinstance(option, bool):
            size = DEFAULT_MAX_ENTRIES
        elif isinstance(option, int) and option > 0:
            size = option
        else:
            raise ConfigurationError(
                f"client_cache takes True or a positive number of sessions, not {option!r}"
            )
        if not self._single_node:
            raise ConfigurationError(_CACHE_NEEDS_ONE_SERVER)
        client = self._sync if self._sync is not None else self._async
        assert isinstance(client, (redis.Redis, redis.asyncio.Redis))
        pool = client.connection_pool
        name = pool.connection_class.__name__
        if "Sentinel" in name:
            raise ConfigurationError(
                "client_cache is not offered on a Sentinel-managed store: its invalidation "
                "listener could stay on a demoted primary; leave it off"
            )
        kind: type[Any] = redis.Connection
        if "SSL" in name:
            kind = redis.SSLConnection
        elif "Unix" in name:
            kind = redis.UnixDomainSocketConnection
        cache = ClientCache(
            kind, dict(pool.connection_kwargs), self.prefix, max_entries=size, own_saves=own_saves
        )
        cache.start()
        return cache

    def _window(self, idle_seconds: float | None) -> float:
        """How long a cached load is served: the activity index's granularity."""
        if idle_seconds is None:
            return NO_IDLE_CACHE_WINDOW
        return activity_grain(idle_seconds)

    async def aclose(self) -> None:
        """Close the connections of the asyncio client of the running event loop."""
        await self._wires.aclose()
        if self._new_async_client is not None:
            await self._by_loop.aclose()
        elif self._async is not None:
            try:
                await self._async.aclose()
            except RuntimeError as error:
                if "loop" not in str(error):
                    raise
                raise ConfigurationError(_ONE_LOOP.format(error=error)) from error

    # -- the session contract (stores/base.py) ---------------------------------------------

    def load(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        cache = self._cache
        if cache is None:
            return self._run(self._flows.load(session_id, now, idle_seconds))
        hit = cache.get(session_id, now)
        if hit is not None:
            return hit
        window, mark = self._window(idle_seconds), cache.mark()
        loaded = self._run(self._flows.load(session_id, now, idle_seconds, window))
        if loaded is not None:
            cache.put(session_id, loaded, mark, now + window)
        return loaded

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        self._run(self._flows.create(session_id, data, meta))

    def save(self, session_id: str, changes: Changes) -> bool:
        cache = self._cache
        if cache is None:
            return self._run(self._flows.save(session_id, changes))
        save, saved = cache.begin_save(session_id, changes.updated_at), False
        try:
            saved = self._run(self._flows.save(session_id, changes, save.token))
        finally:
            cache.end_save(save, changes if saved else None)
        return saved

    def write(self, session_id: str, write: BlindWrite) -> str:
        self._forget(session_id)
        return self._run(self._flows.write(session_id, write))

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
        self._forget(old_id)
        flow = self._flows.rotate(old_id, new_id, data, meta, require_live, unchanged_since)
        return self._run(flow)

    def delete(self, session_id: str) -> None:
        self._forget(session_id)
        self._run(self._flows.delete(session_id))

    async def aload(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        cache = self._cache
        if cache is None:
            return await self._arun(self._flows.load(session_id, now, idle_seconds))
        hit = cache.get(session_id, now)
        if hit is not None:
            return hit
        window, mark = self._window(idle_seconds), cache.mark()
        loaded = await self._arun(self._flows.load(session_id, now, idle_seconds, window))
        if loaded is not None:
            cache.put(session_id, loaded, mark, now + window)
        return loaded

    async def acreate(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        await self._arun(self._flows.create(session_id, data, meta))

    async def asave(self, session_id: str, changes: Changes) -> bool:
        cache = self._cache
        if cache is None:
            return await self._arun(self._flows.save(session_id, changes))
        save, saved = cache.begin_save(session_id, changes.updated_at), False
        try:
            saved = await self._arun(self._flows.save(session_id, changes, save.token))
        finally:
            cache.end_save(save, changes if saved else None)
        return saved

    async def awrite(self, session_id: str, write: BlindWrite) -> str:
        self._forget(session_id)
        return await self._arun(self._flows.write(session_id, write))

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
        self._forget(old_id)
        flow = self._flows.rotate(old_id, new_id, data, meta, require_live, unchanged_since)
        return await self._arun(flow)

    async def adelete(self, session_id: str) -> None:
        self._forget(session_id)
        await self._arun(self._flows.delete(session_id))

    def _forget(self, session_id: str) -> None:
        """This process is about to change the session: no hit may serve the old state."""
        if self._cache is not None:
            self._cache.drop(session_id)

    # -- the management contract -------------------------------------------------------------

    def moved_mark(self, session_id: str, *, now: float) -> str | None:
        return self._run(self._flows.moved_mark(session_id))

    async def amoved_mark(self, session_id: str, *, now: float) -> str | None:
        return await self._arun(self._flows.moved_mark(session_id))

    def get_meta(self, session_id: str, *, now: float) -> Meta | None:
        return self._run(self._flows.get_meta(session_id, now))

    def read_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        return self._run(self._flows.read_data(session_id, now))

    def query(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        return self._run(self._flows.query(query, now))

    def user_session_ids(self, user: str, *, now: float) -> list[str]:
        return self._run(self._flows.user_session_ids(user, now))

    def revoke(self, session_id: str, *, actor: str, now: float) -> bool:
        self._forget(session_id)
        return self._run(self._flows.revoke(session_id, actor, now))

    def set_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        self._forget(session_id)
        return self._run(self._flows.set_expiry(session_id, expires_at, now))

    def add_audit(self, record: AuditRecord) -> None:
        self._run(self._flows.add_audit(record))

    def audit(self, *, limit: int) -> list[AuditRecord]:
        return self._run(self._flows.audit(limit))

    async def aget_meta(self, session_id: str, *, now: float) -> Meta | None:
        return await self._arun(self._flows.get_meta(session_id, now))

    async def aread_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        return await self._arun(self._flows.read_data(session_id, now))

    async def aquery(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        return await self._arun(self._flows.query(query, now))

    async def auser_session_ids(self, user: str, *, now: float) -> list[str]:
        return await self._arun(self._flows.user_session_ids(user, now))

    async def arevoke(self, session_id: str, *, actor: str, now: float) -> bool:
        self._forget(session_id)
        return await self._arun(self._flows.revoke(session_id, actor, now))

    async def aset_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        self._forget(session_id)
        return await self._arun(self._flows.set_expiry(session_id, expires_at, now))

    async def aadd_audit(self, record: AuditRecord) -> None:
        await self._arun(self._flows.add_audit(record))

    async def aaudit(self, *, limit: int) -> list[AuditRecord]:
        return await self._arun(self._flows.audit(limit))

    # -- the registry contract (stores/base.py) -------------------------------------------------

    def registry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        return self._run(self._registry.put(kind, name, document, if_absent, replacing))

    def registry_get(self, kind: str, name: str) -> bytes | None:
        return self._run(self._registry.get(kind, name))

    def registry_list(self, kind: str) -> dict[str, bytes]:
        return self._run(self._registry.list(kind))

    def registry_delete(self, kind: str, name: str) -> bool:
        return self._run(self._registry.delete(kind, name))

    async def aregistry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        return await self._arun(self._registry.put(kind, name, document, if_absent, replacing))

    async def aregistry_get(self, kind: str, name: str) -> bytes | None:
        return await self._arun(self._registry.get(kind, name))

    async def aregistry_list(self, kind: str) -> dict[str, bytes]:
        return await self._arun(self._registry.list(kind))

    async def aregistry_delete(self, kind: str, name: str) -> bool:
        return await self._arun(self._registry.delete(kind, name))

    # -- the drivers ---------------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
        """Carry ``flow`` out on the sync client: each step one pipeline (one round trip),
        or on a single server one command, without the pipeline's machinery."""
        client, wire = self._sync, self._sync_wire
        if client is None:
            raise self._missing("sync", "WSGI, Flask", "redis.Redis")
        try:
            if self._watch is not None and self._switched(client):
                with self._switch_lock:  # others wait: none takes a stale connection meanwhile
                    generation = self._watch.generation
                    if self._seen_switches.get(client, 0) != generation:
                        pool = cast(redis.Redis, client).connection_pool
                        pool.disconnect(inuse_connections=False)
                        forget_primary(pool)
                        self._flows.clock_offset = None  # a new primary, maybe its own clock
                        self._seen_switches[client] = generation
            step = next(flow)
            while True:
                if wire is not None:  # the lean connection: see redis_wire_sync
                    reply: Any = None  # None: FUNCTION LOAD refused, so scripts from now on
                    while reply is None:
                        reply = self._lean.settle(step, wire.execute(self._lean.commands(step)))
                elif isinstance(step, Script):
                    reply = client.script_load(step.source)
                elif len(step) == 1 and self._single_node:
                    try:
                        reply = [client.execute_command(*step[0].args)]  # type: ignore[no-untyped-call]
                    except redis.ResponseError as error:  # e.g. NOSCRIPT: the flow decides
                        reply = [error]
                else:
                    pipe = client.pipeline(transaction=False)
                    for call in step:
                        pipe.execute_command(*call.args, **_route(client, call))
                    reply = pipe.execute(raise_on_error=False)
                step = flow.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        except _FAILURES as error:
            raise self._unavailable(error) from error

    async def _arun(self, flow: Flow[T]) -> T:
        """Carry ``flow`` out on the asyncio client, as :meth:`_run` does."""
        client, wire = self._async_client(), self._wire()
        try:
            if self._watch is not None and self._switched(client):
                generation = self._watch.generation
                pool = cast(redis.asyncio.Redis, client).connection_pool
                await pool.disconnect(inuse_connections=False)
                forget_primary(pool)
                self._flows.clock_offset = None  # a new primary, maybe its own clock
                self._seen_switches[client] = generation  # (after: none takes a stale one)
            step = next(flow)
            while True:
                if wire is not None:  # the lean connection: see redis_wire
                    reply: Any = None  # None: FUNCTION LOAD refused, so scripts from now on
                    while reply is None:
                        commands = self._lean.commands(step)
                        reply = self._lean.settle(step, await wire.execute(commands))
                elif isinstance(step, Script):
                    reply = await client.script_load(step.source)
                elif len(step) == 1 and self._single_node:
                    try:
                        reply = [await client.execute_command(*step[0].args)]
                    except redis.ResponseError as error:
                        reply = [error]
                else:
                    pipe = client.pipeline(transaction=False)
                    for call in step:
                        pipe.execute_command(*call.args)
                    reply = await pipe.execute(raise_on_error=False)
                step = flow.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        except _FAILURES as error:
            raise self._unavailable(error) from error
        except RuntimeError as error:
            if self._new_async_client is None and "loop" in str(error):
                raise ConfigurationError(_ONE_LOOP.format(error=error)) from error
            raise

    def _switched(self, client: Any) -> bool:
        """Under Sentinel: StoreUnavailable while a failover is under way; whether
        ``client`` has yet to follow a switch of primary (see redis_sentinel)."""
        watch = self._watch
        watch.ensure_started()
        if watch.failing_over:
            raise StoreUnavailable(
                f"the Redis session store at {self._where} is failing over to a new "
                "primary; no write may land on either side of it until the switch"
            )
        return bool(self._seen_switches.get(client, 0) != watch.generation)

    def _async_client(self) -> AsyncClient:
        """The running event loop's asyncio client (made on first use, by from_url's)."""
        if self._new_async_client is None:
            if self._async is None:
                raise self._missing("asyncio", "ASGI", "redis.asyncio.Redis")
            return self._async
        return self._by_loop.get()

    def _made_async_client(self) -> AsyncClient:
        assert self._new_async_client is not None
        return self._new_async_client()

    def _wire(self) -> WireClient | None:
        """The running event loop's lean connection, when this store has one."""
        if self._wire_settings is None:
            return None
        return self._wires.get()

    def _made_wire(self) -> WireClient:
        assert self._wire_settings is not None
        return WireClient(self._wire_settings)

    def _missing(self, kind: str, callers: str, client: str) -> ConfigurationError:
        return ConfigurationError(
            f"this RedisStore has no {kind} Redis client, which the {callers} middleware "
            f"needs; build it with RedisStore.from_url(url), which makes both, or pass a "
            f"{client} as well: RedisStore(redis.Redis(...), async_client=redis.asyncio.Redis(...))"
        )

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        advice, misconfigured = _next_step(error, sentinel=self._watch is not None)
        told = str(error).rstrip(".")
        failure = StoreUnavailable(
            f"the Redis session store at {self._where} failed: {type(error).__name__}: "
            f"{told}{'' if told.endswith(('?', '!')) else '.'} {advice}"
        )
        failure.misconfigured = misconfigured
        return failure


CLUSTER_SCHEME = "redis+cluster://"  # a cluster node's URL, as the command and Flask take it
SENTINEL_SCHEME = "redis+sentinel://"  # Sentinels' addresses: see from_sentinel_url


# redis-py's asyncio connections belong to the loop that opened them (its error is
# "Event loop is closed" or "... attached to a different loop"); from_url's clients
# are made per loop (per_loop.py), a client handed in is the caller's one
_ONE_LOOP = (
    "the redis.asyncio client handed to RedisStore was used from another event loop "
    "than the one that opened its connections ({error}): such a client belongs to one "
    "loop. Make the store with RedisStore.from_url(...), which keeps a client per event "
    "loop, or keep one loop: with Starlette's TestClient, `with TestClient(app) as "
    "client:` (without `with`, each request runs on a loop of its own)"
)
# what a store call can raise when Redis fails: redis-py's errors, and its cluster
# client's for no node reachable and a slot without a node, which are not RedisErrors
# (its other RedisClusterExceptions mean bad arguments: a bug, not an outage)
_FAILURES = (
    redis.RedisError,
    redis.exceptions.RedisClusterUnreachableError,
    redis.exceptions.SlotNotCoveredError,
)


def _next_step(error: Exception, *, sentinel: bool = False) -> tuple[str, bool]:
    """What to check after ``error``, and whether the fault is the configuration's (the
    server answered: a password it refused or wanted, a database it does not have),
    not an outage: the URL's credentials when Redis refused them or wanted some
    (redis-py says so as a ResponseError when the first command was long), else the
    server and the timeout. ``sentinel``: the store finds its primary through
    Sentinels, whose URL form the advice then names. (The URL is never shown: it may
    hold a password.)"""
    url = "redis+sentinel://" if sentinel else "redis://"
    # the URL's path, and where in it the database number goes
    where, db = ("/service", "/service/DB") if sentinel else ("/db", "/DB")
    if "without any password configured" in str(error):  # AUTH to a server with none
        return (
            f"The server has no password: remove it from the store's URL "
            f"({url}host:port{where}), or set one on the server (requirepass)"
        ), True
    if isinstance(error, redis.AuthenticationError) or unauthenticated(str(error)):
        return (
            f"Put the server's password in the store's URL: "
            f"{url}:PASSWORD@host:port{where} "
            f"({url}USER:PASSWORD@host:port{where} for an ACL user"
            + ("; from_sentinel takes password=" if sentinel else "")
            + ")"
        ), True
    if "DB index is out of range" in str(error):
        return (
            f"The store URL's database number ({url}host:port{db}) is one this server "
            "does not have: its databases setting allows 0 to 15 unless changed"
        ), True
    if "NOREPLICAS" in str(error):
        return (
            "The server refuses writes while it has fewer good replicas than its "
            "min-replicas-to-write asks (a replica down or lagging, or a failover under "
            "way): bring a replica back, or lower that setting"
        ), False
    if isinstance(error, redis.exceptions.NoPermissionError):
        return (
            "The store's Redis user may not run a command the store needs (the error "
            "names it): allow it in the user's ACL (the store sends FUNCTION, FCALL, "
            "EVALSHA, EVAL, SCRIPT, HGETALL, DEL, TIME and the like on its own keys)"
        ), True
    follow = (
        "Sentinel is switching primaries: the request may be sent again once it is over"
        if sentinel
        else "point the store at the primary, or use Sentinel (from_sentinel) to follow it"
    )
    if isinstance(error, redis.exceptions.MasterDownError):
        return (
            "The server is a replica that lost its primary and serves nothing meanwhile "
            f"(replica-serve-stale-data no): {follow}"
        ), False
    if isinstance(error, redis.exceptions.ReadOnlyError):  # (the URL names a replica; under
        # Sentinel, a primary demoted a moment ago)
        return f"The server is a read-only replica: {follow}", not sentinel
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        return (
            "The server is at its maxmemory and refuses writes (maxmemory-policy "
            "noeviction, or nothing left to evict): give it more memory (maxmemory), "
            "or find what fills it (redis-cli --bigkeys, INFO memory)"
        ), False
    if isinstance(error, redis.exceptions.ClusterDownError):
        return (
            "The Redis Cluster is down, or a slot has no working primary (a node failed "
            "and no replica has taken over yet): check CLUSTER INFO and the nodes"
        ), False
    if isinstance(error, (redis.exceptions.ClusterError, redis.exceptions.TryAgainError)):
        return (  # (redis-py's "TTL exhausted": redirected until it gave up)
            "A Redis Cluster slot was moving between nodes (resharding, or a failover): "
            "the request may be sent again once the move is over"
        ), False
    if isinstance(error, (MasterNotFoundError, AsyncMasterNotFoundError)) and " : " not in str(
        error
    ):
        return (  # (redis-py adds " : " and each Sentinel's error when one did not answer)
            "Every Sentinel answered, and none knows a primary of that service that is up: "
            "check the service name in the store's URL (redis-cli -p 26379 SENTINEL "
            "MASTERS lists them), or, if it is right, its primary is down and not yet "
            "replaced (a failover under way, or too few Sentinels agree)"
        ), False
    return (
        "Check that the server is running and reachable from here, and that its socket "
        "timeout suits it"
    ), False


_REFRESH_CONNECTIONS = 4  # a node's connections beyond max_connections: see _QueuedCluster
_HOLDING_A_TURN = contextvars.ContextVar("sessionware_cluster_turn", default=False)


class _QueuedCluster(AsyncRedisCluster):
    """redis-py's asyncio cluster client, whose callers wait for a connection.

    redis-py's own raises MaxConnectionsError at once when a node has
    ``max_connections`` connections in use: a burst of requests failed instead of
    queueing as on a single server. Here at most ``turns`` commands and pipelines
    run at once (each holds at most one connection per node); the others wait for
    a turn, up to ``turn_timeout`` seconds, then fail with ConnectionError, as a
    single server's BlockingConnectionPool does. A command a pipeline sends again
    on its own (redis-py's retry after a redirection) runs in the pipeline's turn.
    The nodes' own limit must leave room for the client's topology refreshes,
    which take a connection outside any turn (from_url allows a few more).
    """

    def __init__(self, *args: Any, turns: int, turn_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(turns)
        self._turn_timeout = turn_timeout
        self._turn_count = turns

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the turns (at once if this task holds one already)."""
        if _HOLDING_A_TURN.get():
            yield
            return
        try:
            if self._turns.locked():  # (wait_for costs a task: only when a wait is due)
                await asyncio.wait_for(self._turns.acquire(), self._turn_timeout)
            else:
                await self._turns.acquire()
        except asyncio.TimeoutError:
            raise redis.ConnectionError(
                f"no connection to the Redis Cluster came free within {self._turn_timeout} s "
                f"({self._turn_count} in use): raise max_connections or pool_timeout"
            ) from None
        holding = _HOLDING_A_TURN.set(True)
        try:
            yield
        finally:
            _HOLDING_A_TURN.reset(holding)
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> AsyncClusterPipeline:
        if shard_hint:  # (refused as redis-py's does)
            return super().pipeline(transaction, shard_hint)
        return _QueuedPipeline(self, transaction)  # type: ignore[abstract]  # (as redis-py makes its own)


class _QueuedPipeline(AsyncClusterPipeline):
    """A pipeline of :class:`_QueuedCluster`'s: it runs in one turn."""

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, _QueuedCluster)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)


async def _aclose(connection: AsyncClient | WireClient) -> None:
    await connection.aclose()


def _route(client: SyncClient, call: Call) -> dict[str, Any]:
    """Where a sync cluster pipeline sends ``call``: left to itself, redis-py's asks the
    server for an EVALSHA's keys first (COMMAND GETKEYS), a round trip per call."""
    if isinstance(client, RedisCluster):
        return {"target_nodes": client.get_node_from_key(call.key)}  # type: ignore[no-untyped-call]
    return {}


def _check_client(client: object) -> None:
    if not isinstance(client, (redis.Redis, RedisCluster, redis.asyncio.Redis, AsyncRedisCluster)):
        raise ConfigurationError(
            "RedisStore needs a redis.Redis, redis.asyncio.Redis or RedisCluster client, "
            f"not {type(client).__qualname__}"
        )
    if client.get_encoder().decode_responses:
        raise ConfigurationError(
            "RedisStore needs a client without decode_responses=True: sessions store bytes"
        )


def _check_url(url: str, cluster: bool) -> None:
    """ConfigurationError for a Redis URL that cannot be used: a cluster URL naming more
    than one node (the client learns the others), one redis-py cannot parse
    (a port out of range, a broken IPv6 address), one with an option its connections
    refuse only when they connect (``ssl_cert_reqs=bogus``), and one whose database is
    not a number, which redis-py reads as database 0 (another app's data)."""
    shown = masked(url)
    authority = url.partition("://")[2].partition("/")[0].partition("?")[0]
    if cluster and "," in authority.partition("#")[0].rpartition("@")[2]:  # (not a password's)
        raise ConfigurationError(
            f"a cluster URL names one node, any of them: redis+cluster://host:port, not "
            f"{shown!r}; the client learns the others from it"
        )
    try:
        settings = redis.connection.parse_url(url)  # type: ignore[no-untyped-call]
        path = urlsplit(url).path.lstrip("/")
        connection_class = settings.pop("connection_class", redis.Connection)
        connection_class(**settings)  # checks its options; connects only when used
    except (ValueError, KeyError, TypeError, redis.RedisError) as error:
        reason = scrubbed(f"{type(error).__name__}: {error}", url)
        typo = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        near = difflib.get_close_matches(typo[1], ["prefix"], n=1, cutoff=0.7) if typo else []
        hint = f"; did you mean ?{near[0]}=" if near else ""
        raise ConfigurationError(
            f"the Redis URL {shown!r} cannot be used ({reason}{hint}); write it as "
            "redis://[:password@]host:port/db (rediss:// for TLS, unix:///path?db=0)"
        ) from None
    plain = url.partition("://")[0].lower() in ("redis", "rediss")
    if plain and path and whole_number(path) is None:
        raise ConfigurationError(
            f"the Redis URL {shown!r} names database {path!r}: a database is a "
            "number (redis://host:6379/0); without one, redis-py would use database 0"
        )


def _timeout(*clients: SyncClient | AsyncClient | None) -> float | None:
    """The longest socket timeout of single-server clients (seconds); ``None`` when
    one never times out or is a cluster client (whose timeout from_url sets)."""
    timeouts: list[float] = []
    for client in clients:
        if isinstance(client, (redis.Redis, redis.asyncio.Redis)):
            timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
            if timeout is None:
                return None
            timeouts.append(float(timeout))
        elif client is not None:
            return None
    return max(timeouts) if timeouts else None


def _describe(client: SyncClient | AsyncClient | None) -> str:
    """Where the client points, for error messages: ``host:port/db`` or the cluster's nodes."""
    if isinstance(client, (RedisCluster, AsyncRedisCluster)):
        return "Redis Cluster " + ", ".join(client.nodes_manager.startup_nodes)
    if client is None:
        return "?"
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']} db {kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)} db {kwargs.get('db', 0)}"
