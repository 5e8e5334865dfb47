"""Stores for the session-type suites: memory, Redis (own prefix) and SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import MemoryStore

from ..conftest import REDIS_URL
from ..stores.sql import SQL_STORES

STORES = ("memory", "redis", "sqlite")


@pytest.fixture(params=STORES)
def any_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        yield SQL_STORES["sqlite"](request)
        return
    from sessionware import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    store.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
