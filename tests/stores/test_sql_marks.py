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
from sessionware.stores.base import MARK_SECONDS, MOVED, Meta

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


def test_a_postgres_role_that_may_not_create_or_use_the_table_serves_on(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An app role with rights on an earlier release's tables only, and create_tables
    left at its default: the new table cannot be made, and every request answered 503.
    It now serves without marks (one warning); once an operator adds the table, and
    once they grant the role its use, the store finds it (looking again every minute,
    here at once)."""
    import uuid

    from sessionware.stores import sql_flows

    monkeypatch.setattr(sql_flows, "MARKS_RECHECK_SECONDS", 0.0)
    role = f"swtest_role_{uuid.uuid4().hex[:8]}"
    admin = make("postgres", postgres_schema)
    admin.create_schema()
    admin.close()
    drop_marks("postgres", postgres_schema)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"GRANT USAGE ON SCHEMA {postgres_schema} TO {role}")
            connection.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {postgres_schema} "
                f"TO {role}"
            )
            connection.execute(
                f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {postgres_schema} TO {role}"
            )
        app_url = POSTGRES_URL.replace("postgres@", f"{role}@", 1)
        app = PostgresStore.from_url(f"{app_url}?prefix={postgres_schema}.sw_")
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            app.create("a", {"k": b"v"}, meta(time.time()))  # no 503
            assert app.rotate("a", "b", {"k": b"v"}, meta(time.time()), require_live=True)
            assert app.moved_mark("a", now=time.time()) is None
        assert caplog.text.count("may not use it") == 1
        admin = make("postgres", postgres_schema)
        admin.create_schema()  # the operator adds the table, not yet granted to the role
        admin.close()
        assert app.rotate("b", "c", {"k": b"v"}, meta(time.time()), require_live=True)  # no 503
        assert app.moved_mark("b", now=time.time()) is None
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON {postgres_schema}.sw_marks TO {role}"
            )
        assert app.rotate("c", "d", {"k": b"v"}, meta(time.time()), require_live=True)
        assert app.moved_mark("c", now=time.time()) == MOVED
        app.close()
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP OWNED BY {role}")
            connection.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_sweep_deletes_the_marks_that_ran_out(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where: Any = (
        tmp_path / "s.db" if kind == "sqlite" else request.getfixturevalue("postgres_schema")
    )
    store = make(kind, where)
    now = time.time()
    for old, new in (("a", "b"), ("c", "d")):
        store.create(old, {"k": b"v"}, meta(now))
        assert store.rotate(old, new, {"k": b"v"}, meta(now), require_live=True)
    store.sweep(now=now + 1)
    assert store.moved_mark("a", now=now + 1) == MOVED  # not run out: kept
    store.sweep(now=now + MARK_SECONDS + 1)
    table = "sessionware_marks" if kind == "sqlite" else f"{where}.sw_marks"
    if kind == "sqlite":
        with sqlite3.connect(where) as connection:
            (left,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    else:
        with psycopg.connect(POSTGRES_URL) as connection:
            (left,) = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert left == 0
    store.close()
