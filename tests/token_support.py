"""What the token tests share: a store of each kind, and session types to issue tokens of.

``any_store`` yields a MemoryStore, a RedisStore (the test's own key prefix) and a
SQLiteStore (a file in the test's tmp_path), each fresh. ``define_types`` gives a
manager the two session kinds the README's example uses.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from sessionware import MemoryStore

from .conftest import REDIS_URL

SECRET = "token-test-secret"
STORES = ("memory", "redis", "sqlite")


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
    from sessionware import SQLiteStore

    sqlite_store = SQLiteStore(tmp_path / "sessions.db")
    yield sqlite_store
    sqlite_store.close()


class StandInType:
    """A session type with a fixed lifetime in seconds and a top-level user field.

    Stands in for ``sessionware.session_types.SessionType`` until that lands on
    this branch; it has the same token-facing surface (tag, validate,
    expires_at, user_of)."""

    def __init__(self, tag: str, seconds: float, user_field: str, fields: set[str]) -> None:
        self.tag, self.seconds, self.user_field, self.fields = tag, seconds, user_field, fields

    def validate(self, payload: Mapping[str, Any]) -> None:
        unknown = set(payload) - self.fields
        if unknown:
            raise TypeError(f"{sorted(unknown)} outside the schema of {self.tag}")

    def expires_at(self, start: float) -> float:
        return start + self.seconds

    def user_of(self, payload: Mapping[str, Any]) -> str | None:
        value = payload.get(self.user_field)
        return None if value is None else str(value)


class StandInRegistry:
    def __init__(self, *kinds: StandInType) -> None:
        self.kinds = {kind.tag: kind for kind in kinds}

    def fetch(self, tag: str) -> StandInType:
        if tag not in self.kinds:
            raise LookupError(f"no session type {tag!r}")
        return self.kinds[tag]


class AsyncStandInRegistry(StandInRegistry):
    async def fetch(self, tag: str) -> StandInType:  # type: ignore[override]
        return super().fetch(tag)


USER_FIELDS = {"userId", "email", "role"}
CHECKOUT_FIELDS = {"userId", "cart"}


def define_types(manager: Any, *, asynchronous: bool = False) -> None:
    """``user-session`` (7 days, user ``userId``) and ``checkout-session`` (1 hour)."""
    registry = AsyncStandInRegistry if asynchronous else StandInRegistry
    manager.types = registry(
        StandInType("user-session", 7 * 86400, "userId", USER_FIELDS),
        StandInType("checkout-session", 3600, "userId", CHECKOUT_FIELDS),
    )
