"""The SQL stores' marks table (``<prefix>marks``, base.MarkingStore) on databases made
by an earlier release.

With ``create_tables=True`` (the default) a database made before the table gets it on
first use. With ``create_tables=False`` (the operator made the tables) a database
without it serves on as before, without marks, and says once what to run.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sessionware import PostgresStore, SQLiteStore
from sessionware.stores.base import MOVED, Meta

from ..conftest import POSTGRES_URL


def meta(now: float) -> Meta:
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 600)


def drop_marks(kind: str, where: Any) -> None:
    """Make the database look like one an earlier release made: no marks table."""
    if kind == "sqlite":
        with sqlite3.connect(where) as connection:
            connection.execute("DROP TABLE sessionware_marks")
    else:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP TABLE {where}.sw_marks")


def make(kind: str, where: Any, **options: Any) -> Any:
    if kind == "sqlite":
        return SQLiteStore(where, **options)
    return PostgresStore.from_url(f"{POSTGRES_URL}?prefix={where}.sw_", **options)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_earlier_releases_database_gets_marks_or_runs_on_without_them(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    where: Any = (
        tmp_path / "s.db" if kind == "sqlite" else request.getfixturevalue("postgres_schema")
    )
    first = make(kind, where)
    first.create("a", {"k": b"v"}, meta(time.time()))  # makes every table
    first.close()
    drop_marks(kind, where)
    made = make(kind, where, create_tables=False)  # an operator's tables: nothing made
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        assert made.rotate("a", "b", {"k": b"v"}, meta(time.time()), require_live=True)
        assert made.moved_mark("a", now=time.time()) is None
        made.delete("b")
    assert (
        caplog.text.count("sw_marks is missing" if kind == "postgres" else "marks is missing") == 1
    )
    assert "create_schema()" in caplog.text
    made.close()
    upgraded = make(kind, where)  # create_tables=True: the missing table is made
    upgraded.create("c", {"k": b"v"}, meta(time.time()))
    assert upgraded.rotate("c", "d", {"k": b"v"}, meta(time.time()), require_live=True)
    assert upgraded.moved_mark("c", now=time.time()) == MOVED
    upgraded.close()
