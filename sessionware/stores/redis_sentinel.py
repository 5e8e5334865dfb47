"""The clients behind ``RedisStore.from_sentinel``: a Sentinel-managed primary, found
through redis-py's own Sentinel support, for sync and asyncio code.

Each new connection asks the Sentinels where the primary is now, so after a
failover (the primary down, a replica promoted) the pool's next connections go
to the new primary by themselves. A connection to a primary that was demoted
meanwhile fails with READONLY, which redis-py turns into a dropped connection.
Requests caught in the failover get the store's usual ``StoreUnavailable`` (a
503); none is answered with a write silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigurationError

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
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        raise ConfigurationError(f"not a redis+sentinel:// URL: {parts.scheme}://...")
    credentials, _, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for address in hosts.split(","):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                "a redis+sentinel:// URL lists the Sentinels as host:port[,host:port...], "
                f"e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster; got {address!r}"
            )
        sentinels.append((host.strip("[]"), int(port)))
    path = [part for part in parts.path.split("/") if part]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
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
