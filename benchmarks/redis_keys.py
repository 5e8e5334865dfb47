"""The shared Redis server: is it there, and deleting only this run's keys.

The server is shared with other users: nothing here ever flushes a database.
Cleanup walks ``SCAN MATCH <prefix>*`` and unlinks exactly those keys.
"""

from __future__ import annotations

import redis

_SCAN_BATCH = 1000


def unavailable_reason(url: str) -> str | None:
    """``None`` when Redis at ``url`` answers PING, else why not (for a printed note)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis at {url} unreachable ({error})"
    finally:
        client.close()
    return None


def server_version(url: str) -> str:
    """The Redis server's version string, or ``"?"`` when it cannot be asked."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return str(client.info("server").get("redis_version", "?"))
    except redis.RedisError:
        return "?"
    finally:
        client.close()


def delete_prefix(url: str, prefix: str) -> int:
    """Unlink every key starting with ``prefix``; return how many were deleted.

    ``prefix`` must be this run's own (it contains the run id); glob characters
    in it are escaped so it matches literally.
    """
    if not prefix:
        raise ValueError("refusing to delete with an empty prefix")
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=_SCAN_BATCH):
            batch.append(key)
            if len(batch) >= _SCAN_BATCH:
                deleted += int(client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return deleted
