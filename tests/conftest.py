"""Shared fixtures: the real Redis server, per-run key prefixes, cookie parsing.

PostgreSQL tests take the server from ``SESSIONWARE_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), each in its own schema, dropped
after; like Redis, a missing server skips them, except under ``CI=true``.

Redis tests take the server from ``SESSIONWARE_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). The server is shared: every test uses its own key
prefix and deletes only its own keys, never FLUSHDB/FLUSHALL. Without a server
Redis tests skip, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_URL = os.environ.get("SESSIONWARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL_VARIABLE = "SESSIONWARE_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_URL_VARIABLE, "postgresql://postgres@127.0.0.1:5432/test")
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


def postgres_or_skip() -> None:
    """Skip (fail under CI=true) when the test PostgreSQL server does not answer."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg.Error as exc:
        message = f"no PostgreSQL server at {POSTGRES_URL} ({exc}); set {POSTGRES_URL_VARIABLE}"
        if IN_CI:
            pytest.fail(message + " — CI=true requires PostgreSQL")
        pytest.skip(message)


def drop_schema(schema: str) -> None:
    """Drop ``schema`` (one a test made) and everything in it from the test server."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema name on the real PostgreSQL server, dropped after the test."""
    postgres_or_skip()
    schema = f"swtest_{uuid.uuid4().hex[:12]}"
    yield schema
    drop_schema(schema)


@pytest.fixture(params=["memory", "redis", "sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest) -> Any:
    """A fresh store of every kind, PostgreSQL included (its own schema, dropped after)."""
    from .stores.sql import SQL_STORES

    if request.param == "memory":
        from sessionware import MemoryStore

        return MemoryStore()
    if request.param == "redis":
        from sessionware import RedisStore

        store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
        request.addfinalizer(store.close)
        return store
    return SQL_STORES[request.param](request)
