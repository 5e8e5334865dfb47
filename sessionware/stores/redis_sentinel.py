"""The clients behind ``RedisStore.from_sentinel``: a Sentinel-managed primary, found
through redis-py's own Sentinel support, for sync and asyncio code.

Each new connection asks the Sentinels where the primary is now, so after a
failover (the primary down, a replica promoted) the pool's next connections go
to the new primary by themselves. A connection to a primary that was demoted
meanwhile fails with READONLY, which redis-py turns into a dropped connection.
Requests caught in the failover get the store's usual ``StoreUnavailable`` (a
503); none is answered with a write silently dropped.

A planned failover (``SENTINEL FAILOVER``) leaves the old primary taking writes
until Sentinel demotes it, seconds after the replica was promoted: what pooled
connections write to it then is acknowledged, and lost in its resync.
:class:`FailoverWatch` listens to every Sentinel (a thread each): from the
leader's order to promote a replica until every Sentinel that answers names the
new primary, the store answers 503; after that its pools drop their idle
connections, so that the next ones ask for the new primary.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from ..digits import whole_number
from ..errors import ConfigurationError
from .urls import scrubbed

try:
    import redis
    import redis.asyncio
    import redis.asyncio.retry
    import redis.asyncio.sentinel
    import redis.retry
    import redis.sentinel
    from redis.backoff import NoBackoff
except ImportError:  # pragma: no cover - redis.py reports the missing extra
    pass


def sentinel_clients(
    sentinels: Sequence[tuple[str, int]],
    service_name: str,
    *,
    socket_timeout: float,
    max_connections: int,
    sentinel_options: dict[str, Any] | None,
    client_options: dict[str, Any],
) -> tuple[redis.Redis, Callable[[], redis.asyncio.Redis]]:
    """The sync client and a factory of asyncio ones (one per event loop) for the
    primary of ``service_name``, as the given Sentinels know it."""
    addresses = _addresses(sentinels)
    if not isinstance(service_name, str) or not service_name:
        raise ConfigurationError(f"service_name must be a non-empty str, got {service_name!r}")
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": socket_timeout}
    to_sentinels = {**timeouts, **(sentinel_options or {})}
    options: dict[str, Any] = {**timeouts, "max_connections": max_connections}
    options.update(client_options)
    errors = (redis.ConnectionError,)
    sync = redis.sentinel.Sentinel(addresses, sentinel_kwargs=to_sentinels)
    retry = redis.retry.Retry(NoBackoff(), 1, supported_errors=errors)
    sync_client: redis.Redis = sync.master_for(service_name, retry=retry, **options)

    def new_async_client() -> redis.asyncio.Redis:
        sentinel = redis.asyncio.sentinel.Sentinel(addresses, sentinel_kwargs=to_sentinels)
        retry = redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=errors)
        client: redis.asyncio.Redis = sentinel.master_for(service_name, retry=retry, **options)
        return client

    return sync_client, new_async_client


# what the Sentinels announce (their pub/sub channels) about a failover of a service
_PROMOTING = "+failover-state-send-slaveof-noone"  # "slave ... @ <service> <ip> <port>"
_SWITCHED = "+switch-master"  # "<service> <old ip> <old port> <new ip> <new port>"
_ABORTED = "-failover-abort-*"  # the leader gave up: the old primary stays
HOLD_SECONDS = 15.0  # the longest a failover holds requests back, should its end be missed


class FailoverWatch:
    """Sentinel's announcements of a failover of one service, heard by a daemon thread
    per Sentinel (one that is down is tried again every second, without holding up
    the others; the watch never raises).

    :attr:`failing_over` is true from the leader's order to promote a replica until
    every Sentinel that answers names the new primary (at most :data:`HOLD_SECONDS`);
    :attr:`generation` counts the primaries switched to since.
    """

    def __init__(
        self,
        sentinels: Sequence[tuple[str, int]],
        service_name: str,
        sentinel_options: dict[str, Any],
    ) -> None:
        self.service_name = service_name
        self.generation = 0
        self._hold_until = 0.0  # time.monotonic() until which requests are held back
        self._holder: int | None = None  # which Sentinel ordered the promotion
        self._switched_to: tuple[str, str] | None = None
        self._sentinels = list(sentinels)
        self._options = {
            **sentinel_options,
            "retry": redis.retry.Retry(NoBackoff(), 0),  # one down must not stall the watch
            "health_check_interval": 5,  # a link whose peer vanished is noticed
        }
        self._pid = -1
        self.ensure_started()

    def ensure_started(self) -> None:
        """Start the threads in this process: a worker forked after the store was made
        (gunicorn --preload) inherits none, and starts its own on first use."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._subscribed: set[int] = set()
        self._clients = [
            redis.Redis(host=host, port=port, **self._options) for host, port in self._sentinels
        ]
        self._threads = [
            threading.Thread(
                target=self._listen, args=(index,), name="sessionware-sentinel-watch", daemon=True
            )
            for index in range(len(self._clients))
        ]
        for thread in self._threads:
            thread.start()
        if not self._clients:
            self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Whether every Sentinel's announcements are being heard (within ``timeout``)."""
        return self._ready.wait(timeout)

    @property
    def failing_over(self) -> bool:
        return time.monotonic() < self._hold_until

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():  # (a finalizer run by the garbage
                thread.join(timeout=2)  # collector on a watch thread: that one ends anyway)
        for sentinel in self._clients:
            sentinel.close()

    def _listen(self, index: int) -> None:
        while not self._stop.is_set():
            listener = None
            try:
                listener = self._clients[index].pubsub(ignore_subscribe_messages=True)
                listener.subscribe(_PROMOTING, _SWITCHED)
                listener.psubscribe(_ABORTED)
                with self._lock:
                    self._subscribed.add(index)
                    if len(self._subscribed) == len(self._clients):
                        self._ready.set()
                while not self._stop.is_set():
                    message = listener.get_message(timeout=0.5)
                    if message is not None:
                        self.heard(message["channel"], message["data"], index)
            except Exception:  # (RedisError, OSError, ...): listen again in a second
                pass
            finally:
                with self._lock:
                    self._subscribed.discard(index)
                if listener is not None:
                    listener.close()
            self._stop.wait(1.0)

    def heard(self, channel: bytes | str, data: bytes | str, source: int | None = None) -> None:
        """Take one announcement from the Sentinel number ``source``."""
        name = channel.decode() if isinstance(channel, bytes) else channel
        words = (data.decode() if isinstance(data, bytes) else data).split()
        if name == _PROMOTING and "@" in words:
            at = words.index("@")
            if words[at + 1 : at + 2] == [self.service_name]:
                with self._lock:
                    self._hold_until = time.monotonic() + HOLD_SECONDS
                    self._holder = source
        elif name == _SWITCHED and words[:1] == [self.service_name] and len(words) == 5:
            self._switch((words[3], words[4]))
        elif name.startswith("-failover-abort") and self.service_name in words:
            with self._lock:
                if source == self._holder:  # (a Sentinel that lost the election says so too)
                    self._hold_until, self._holder = 0.0, None

    def _switch(self, new: tuple[str, str]) -> None:
        """Hold on until every Sentinel that answers names ``new`` (redis-py asks the
        first that answers for the primary: one that has not switched yet would send a
        new connection to the old one), then end the hold and count the switch once."""
        deadline = time.monotonic() + HOLD_SECONDS
        with self._lock:
            self._hold_until = max(self._hold_until, deadline)
        while self._clients and time.monotonic() < deadline and not self._stop.is_set():
            named = []
            for sentinel in self._clients:
                if self._stop.is_set():
                    return
                try:
                    found: Any = sentinel.sentinel_get_master_addr_by_name(self.service_name)
                except (redis.RedisError, OSError):
                    continue  # down: it cannot send anyone anywhere
                if isinstance(found, (list, tuple)) and len(found) == 2:
                    host = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
                    named.append((host, str(found[1])))
            if named and all(address == new for address in named):
                break
            self._stop.wait(0.05)
        with self._lock:
            if self._switched_to != new:
                self._switched_to = new
                self.generation += 1
            self._hold_until, self._holder = 0.0, None


def forget_primary(pool: Any) -> None:
    """After :meth:`disconnect` of a Sentinel pool's idle connections: the pool forgets
    the primary's address, so that a connection in use now, when it comes back, is no
    longer the pool's own (redis-py closes it rather than reuse it), and the next one
    asks the Sentinels again."""
    holder = getattr(pool, "proxy", pool)  # (sync pools keep it on a proxy)
    if hasattr(holder, "master_address"):
        holder.master_address = None


def _addresses(sentinels: object) -> list[tuple[str, int]]:
    problem = (
        "sentinels must be a list of (host, port) pairs, e.g. "
        "[('10.0.0.1', 26379), ('10.0.0.2', 26379), ('10.0.0.3', 26379)]"
    )
    if isinstance(sentinels, (str, bytes)) or not isinstance(sentinels, Sequence):
        raise ConfigurationError(f"{problem}; got {sentinels!r}")
    addresses: list[tuple[str, int]] = []
    for item in sentinels:
        if not (
            isinstance(item, (tuple, list))
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
        ):
            raise ConfigurationError(f"{problem}; got {item!r} in it")
        addresses.append((item[0], item[1]))
    if not addresses:
        raise ConfigurationError(f"{problem}; got none")
    return addresses


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]`` →
    ``(sentinels, service_name, client options)``; the password is the primary's."""
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an IPv6 address without its "]"
        raise ConfigurationError(f"a redis+sentinel:// URL that cannot be read: {error}") from None
    if parts.scheme != "redis+sentinel":
        raise ConfigurationError(f"not a redis+sentinel:// URL: {parts.scheme}://...")
    credentials, _, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for address in hosts.split(","):
        host, _, port = address.rpartition(":")
        number = whole_number(port, 5)
        if not host or number is None or number > 65535:
            raise ConfigurationError(
                "a redis+sentinel:// URL lists the Sentinels as host:port[,host:port...], "
                "e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster; got "
                + scrubbed(repr(address), url)  # (a piece of a password holding a raw "/")
            )
        sentinels.append((host.strip("[]"), number))
    path = [part for part in parts.path.split("/") if part]
    if not path or len(path) > 2 or (len(path) == 2 and whole_number(path[1]) is None):
        raise ConfigurationError(
            "a redis+sentinel:// URL ends with /<service name>[/<db>], e.g. /mymaster/0"
        )
    options: dict[str, Any] = {}
    if len(path) == 2:
        options["db"] = int(path[1])
    if credentials:
        user, _, password = credentials.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    return sentinels, path[0], options
