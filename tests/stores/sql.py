"""SQL stores for the shared suites: each with its own database file or schema, removed after.

``SQL_STORES[name](request, **options)`` returns a fresh, empty store; the
contract suite and the scenario suite both take their SQL stores from here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest


def sqlite_store(request: pytest.FixtureRequest, **options: Any) -> Any:
    """A SQLiteStore on a new file in the test's temporary directory."""
    from sessionware import SQLiteStore

    path = request.getfixturevalue("tmp_path") / f"sessions-{uuid.uuid4().hex[:8]}.db"
    store = SQLiteStore(path, **options)
    request.addfinalizer(store.close)
    return store


def postgres_store(request: pytest.FixtureRequest, **options: Any) -> Any:
    """A PostgresStore on the shared server, in a schema of its own (dropped after)."""
    from sessionware import PostgresStore

    from ..conftest import POSTGRES_URL

    schema = request.getfixturevalue("postgres_schema")
    options.setdefault("prefix", f"{schema}.s{uuid.uuid4().hex[:6]}_")
    store = PostgresStore.from_url(POSTGRES_URL, **options)
    request.addfinalizer(store.close)
    return store


SQL_STORES: dict[str, Callable[..., Any]] = {"sqlite": sqlite_store, "postgres": postgres_store}
