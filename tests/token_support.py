"""What the token tests share: a store of each kind, and session types to issue tokens of.

``any_store`` yields a MemoryStore, a RedisStore (the test's own key prefix) and a
SQLiteStore (a file in the test's tmp_path), each fresh. ``define_types`` puts the
two session kinds of the README's examples in a store's type registry.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import MemoryStore, SessionManager

from .conftest import REDIS_URL

SECRET = "token-test-secret"
STORES = ("memory", "redis", "sqlite", "postgres")


@pytest.fixture(params=STORES)
def any_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    """A fresh store of each kind sessionware ships with a shared backend."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "redis":
        from sessionware import RedisStore

        redis_store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
        yield redis_store
        redis_store.close()
        return
    if request.param == "postgres":
        from .stores.sql import SQL_STORES

        yield SQL_STORES["postgres"](request)
        return
    from sessionware import SQLiteStore

    sqlite_store = SQLiteStore(tmp_path / "sessions.db")
    yield sqlite_store
    sqlite_store.close()


USER_SESSION = {
    "name": "User session",
    "tag": "user-session",
    "schema": {"userId": "string", "email": "string", "role": "string"},
    "selector": "$Session{userId}",
    "expiry": 7,
    "period": "days",
}
CHECKOUT_SESSION = {
    "name": "Checkout session",
    "tag": "checkout-session",
    "schema": {"userId": "string", "cart": "array"},
    "selector": "$Session{userId}",
    "expiry": 1,
    "period": "hour",
}


def define_types(store: Any) -> None:
    """``user-session`` (7 days, user ``userId``) and ``checkout-session`` (1 hour),
    in ``store``'s registry."""
    types = SessionManager(store).types
    for kind in (USER_SESSION, CHECKOUT_SESSION):
        types.create(**kind)
