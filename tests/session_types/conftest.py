"""Stores for the session-type suites: memory, Redis (own prefix) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import MemoryStore

from ..conftest import REDIS_URL
from ..stores.sql import SQL_STORES

STORES = ("memory", "redis", "sqlite", "postgres")


@pytest.fixture(params=STORES)
def any_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param in SQL_STORES:
        yield SQL_STORES[request.param](request)
        return
    from sessionware import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    store.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
