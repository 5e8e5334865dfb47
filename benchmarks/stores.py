"""The SQL stores under test, each with what removes it after: a temporary
SQLite file, or a PostgreSQL schema of this run (see ``postgres.py``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import postgres
from .scenarios import Unavailable
from .settings import Settings


def sqlite_store() -> tuple[Any, Callable[[], None]]:
    """A SQLiteStore on a new file, and a function that closes it and deletes the file."""
    try:
        from sessionware import SQLiteStore
    except ImportError as error:
        raise Unavailable(f"sessionware.SQLiteStore not importable: {error}") from error
    directory = Path(tempfile.mkdtemp(prefix="swbench-"))
    store = SQLiteStore(directory / "sessions.db")

    def remove() -> None:
        store.close()
        shutil.rmtree(directory, ignore_errors=True)

    return store, remove


def postgres_schema(settings: Settings, variant: str) -> tuple[str, Callable[[], None]]:
    """A new schema for ``variant`` on the benchmark server, and a function dropping it."""
    reason = postgres.unavailable_reason(settings.postgres_url)
    if reason is not None:
        raise Unavailable(reason)
    name = postgres.schema(settings, variant)
    return name, lambda: postgres.drop_schemas(settings.postgres_url, name)


def postgres_store(settings: Settings, variant: str) -> tuple[Any, Callable[[], None]]:
    """A PostgresStore in a schema of its own, and a function that closes it and drops it."""
    try:
        from sessionware import PostgresStore
    except ImportError as error:
        raise Unavailable(f"sessionware.PostgresStore not importable: {error}") from error
    name, drop = postgres_schema(settings, variant)
    store = PostgresStore.from_url(settings.postgres_url, prefix=f"{name}.sw_")

    def remove() -> None:
        store.close()
        drop()

    return store, remove


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy names its psycopg 3 driver."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]
