"""The CLI tests' store: a RedisStore on the real server under the test's own prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessionware.stores.redis import RedisStore

from ..conftest import REDIS_URL


@pytest.fixture
def store(redis_prefix: str) -> Iterator[RedisStore]:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    yield store
    store.close()
