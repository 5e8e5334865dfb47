"""The scenario matrix: every framework in ``apps.FRAMEWORKS`` x every store in ``STORES``.

A store factory takes the test's ``request`` (for fixtures such as
``redis_prefix``) and returns a store; add a store by adding an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sessionware import MemoryStore

from ..stores.sql import SQL_STORES
from .apps import FRAMEWORKS


def memory_store(request: pytest.FixtureRequest) -> Any:
    return MemoryStore()


def redis_store(request: pytest.FixtureRequest) -> Any:
    from sessionware import RedisStore

    from ..conftest import REDIS_URL

    store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    request.addfinalizer(store.close)
    return store


def cached_redis_store(request: pytest.FixtureRequest, *, own_saves: bool = False) -> Any:
    """RedisStore with its client-side cache on (reads served in-process; with
    ``own_saves``, what a save wrote too)."""
    from sessionware import RedisStore

    from ..conftest import REDIS_URL

    prefix = request.getfixturevalue("redis_prefix")
    store = RedisStore.from_url(
        REDIS_URL, prefix=prefix, client_cache=True, cache_own_saves=own_saves
    )
    request.addfinalizer(store.close)
    assert store.cache is not None and store.cache.wait_ready(5)
    return store


def keeping_redis_store(request: pytest.FixtureRequest) -> Any:
    return cached_redis_store(request, own_saves=True)


def sentinel_store(request: pytest.FixtureRequest) -> Any:
    from ..stores.sentinel import sentinel_store

    return sentinel_store(request)


def cluster_store(request: pytest.FixtureRequest) -> Any:
    from ..stores.cluster import cluster_store

    return cluster_store(request)


STORES: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "memory": memory_store,
    "redis": redis_store,
    "redis-cached": cached_redis_store,
    "redis-cached-saves": keeping_redis_store,
    "cluster": cluster_store,
    "sentinel": sentinel_store,
    **SQL_STORES,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Any:
    """A fresh store of each kind."""
    return STORES[request.param](request)


@pytest.fixture(params=sorted(FRAMEWORKS))
def make_client(request: pytest.FixtureRequest, store: Any) -> Callable[..., Any]:
    """``make_client(**middleware_options)`` → a context manager yielding a client.

    ``store=`` among the options replaces the fixture's store (e.g. with a wrapper).
    """
    factory = FRAMEWORKS[request.param]
    return lambda **options: factory(options.pop("store", store), **options)
