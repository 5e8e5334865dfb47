"""Shared fixtures: the real Redis server, per-run key prefixes, cookie parsing.

Redis tests take the server from ``SESSIONWARE_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). The server is shared: every test uses its own key
prefix and deletes only its own keys, never FLUSHDB/FLUSHALL. Without a server
Redis tests skip, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = os.environ.get("SESSIONWARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def redis_or_skip() -> None:
    """Skip (fail under CI=true) when the test Redis server does not answer."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        message = f"no Redis server at {REDIS_URL} ({exc}); set SESSIONWARE_TEST_REDIS_URL"
        if IN_CI:
            pytest.fail(message + " — CI=true requires Redis")
        pytest.skip(message)


def delete_prefix(prefix: str) -> None:
    """Delete the keys under ``prefix`` (ours only) on the test server."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.unlink(*keys)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the real Redis server, cleaned up after the test."""
    redis_or_skip()
    prefix = f"swtest:{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(prefix)
