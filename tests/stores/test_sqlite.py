"""SQLiteStore beyond the contract: worker processes, faults, the sweep, the event loop.

The contract suite and the scenario suite run on SQLiteStore too (``tests/stores/sql.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionware import ConfigurationError, SQLiteStore, StoreUnavailable
from sessionware.stores.base import Changes, Meta, Query

from ..conftest import IN_CI
from ..pacing import paced, window
from ..scenarios.apps import FRAMEWORKS
from .served import served

FRAMEWORK_NAMES = ("starlette", "flask")  # one async, one sync middleware


def new_meta(now: float, idle: float | None = 60.0, **fields: Any) -> Meta:
    expires = None if idle is None else now + idle
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=expires, **fields)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "sessions.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    yield store
    store.close()


def rows(path: Path, sql: str, *params: Any) -> list[Any]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, params).fetchall()


def write(path: Path, sql: str, *params: Any) -> None:
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(sql, params)


# -- worker processes --------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_share_sessions_and_they_survive_a_restart(path: Path) -> None:
    env = {"SESSIONWARE_TEST_SQLITE": str(path)}
    with served(env, workers=2) as http:
        pids, count, deadline = set(), 0, time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:
            body = http.get("/incr").json()
            count += 1
            assert body["count"] == count  # every worker saw every earlier increment
            pids.add(body["pid"])
            if count % 50 == 0:  # one worker winning every accept() (a busy machine): pause
                time.sleep(0.2)
        assert len(pids) == 2, f"the server never spread {count} requests over both workers"
        cookie = http.cookies["session"]
    with served(env, workers=2) as http:  # a restart: new processes, the same file
        http.cookies.set("session", cookie)
        assert http.get("/count").json()["count"] == count
        assert http.get("/incr").json()["count"] == count + 1


def test_concurrent_saves_of_different_keys_from_threads_all_persist(store: SQLiteStore) -> None:
    now = time.time()
    store.create("s", {}, new_meta(now))
    barrier = threading.Barrier(8)

    def save(i: int) -> None:
        barrier.wait()
        assert store.save("s", Changes(set={f"k{i}": b"%d" % i}, updated_at=time.time()))

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = store.load("s", now=time.time(), idle_seconds=60)
    assert loaded is not None and loaded.data == {f"k{i}": b"%d" % i for i in range(8)}


def test_a_save_measures_the_rows_so_a_wrong_recorded_size_is_put_right(
    store: SQLiteStore,
) -> None:
    """A row that a previous version left saying 2 keys and 12,014 bytes (each request
    recorded its own view) while the session holds 4 is right again after one save."""
    now = time.time()
    data = {"a": b"1", "b": b"22", "_flashes": b"f", "c\u00e9": b"x" * 100}
    store.create("s", data, new_meta(now, size_bytes=12_014, attribute_count=2))
    internal = frozenset({"_flashes", "_permanent"})
    assert store.save("s", Changes(set={"d": b"4"}, updated_at=now, uncounted_keys=internal))
    got = store.get_meta("s", now=now)
    assert got is not None
    assert (got.size_bytes, got.attribute_count) == (2 + 3 + 9 + 103 + 2, 4)


# -- faults: corrupt rows, locks, read-only, full ------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize(
    "corruption",
    [
        "UPDATE sessionware_sessions SET created_at = 'SECRET'",
        "UPDATE sessionware_sessions SET status = 'SECRET'",
        "UPDATE sessionware_sessions SET user_name = x'00ff'",
        "UPDATE sessionware_data SET value = x'c1c1c1'",  # not a value the codec wrote
        "UPDATE sessionware_data SET name = x'ff'",
    ],
)
def test_a_corrupt_row_is_an_empty_session_not_a_500(
    path: Path,
    store: SQLiteStore,
    framework: str,
    corruption: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "SECRET"}).status_code == 200
        write(path, corruption)
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            response = client.get("/get", params={"key": "a"})
        assert response.status_code == 200
        assert response.json()["value"] is None
        assert client.get("/put", params={"key": "b", "value": "1"}).status_code == 200
        assert client.get("/get", params={"key": "b"}).json()["value"] == "1"
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert all("SECRET" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_database_locked_past_the_timeout_is_a_503_and_loses_nothing(
    path: Path, framework: str
) -> None:
    store = SQLiteStore(path, busy_timeout_seconds=0.5)
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
        try:
            response = client.get("/put", params={"key": "a", "value": "2"})
            assert response.status_code == 503
            assert "set-cookie" not in response.headers
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
        assert client.get("/get", params={"key": "a"}).json()["value"] == "3"
    store.close()


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_read_only_database_is_a_503_and_loses_nothing(
    path: Path, store: SQLiteStore, framework: str
) -> None:
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        cookie = client.cookies["session"]
    read_only = SQLiteStore(f"file:{path}?mode=ro")
    with FRAMEWORKS[framework](read_only) as client:
        client.cookies.set("session", cookie)
        response = client.get("/put", params={"key": "a", "value": "2"})
        assert response.status_code == 503
        assert "set-cookie" not in response.headers
    read_only.close()
    loaded = rows(path, "SELECT count(*) FROM sessionware_data")
    assert loaded == [(1,)]
    assert store.query(Query(), now=time.time())[1] == 1


@contextlib.contextmanager
def small_disk() -> Iterator[Path]:
    """A 2 MB tmpfs, unmounted after (needs root, as on this project's machines and CI)."""
    directory = Path(tempfile.mkdtemp(prefix="sessionware-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        message = f"cannot mount a small tmpfs here: {mounted.stderr.strip()}"
        if IN_CI:
            pytest.fail(message + " — CI=true requires it")
        pytest.skip(message)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_full_disk_is_a_503_and_loses_nothing(framework: str) -> None:
    with small_disk() as disk:
        store = SQLiteStore(disk / "sessions.db")
        with FRAMEWORKS[framework](store) as client:
            assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as out:
                while True:
                    out.write(b"\0" * 65536)
            response = client.get("/put", params={"key": "big", "value": "x" * 60000})
            assert response.status_code == 503
            filler.unlink()
            assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
            assert client.get("/put", params={"key": "b", "value": "2"}).status_code == 200
        store.close()


def test_workers_opening_a_new_file_at_once_all_serve(tmp_path: Path) -> None:
    """Workers started together on a new file switch it to WAL at the same moment, and
    SQLite refuses the switch to some at once, without waiting its busy timeout: a
    trial saw 2 of 64 processes answer 503 on the first requests after a deploy
    (here 12 connections on each of 60 new files; the code before failed 5 runs of 6)."""
    failures: list[str] = []
    for trial in range(60):
        path = tmp_path / f"fresh{trial}.db"
        start = time.monotonic() + 0.05

        def open_and_read(path: Path = path, start: float = start) -> None:
            store = SQLiteStore(path)  # (opens nothing yet: the first use does)
            while time.monotonic() < start:
                pass
            try:
                store.get_meta("x", now=time.time())
            except StoreUnavailable as error:
                failures.append(str(error))
            finally:
                store.close()

        workers = [threading.Thread(target=open_and_read) for _ in range(12)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert failures == []


def test_a_file_that_is_not_a_database_is_store_unavailable(path: Path) -> None:
    path.write_bytes(b"SECRET, not SQLite" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable, match=str(path)) as raised:
        store.load("x", now=time.time(), idle_seconds=60)
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)


# -- expiry: reclaimed by an indexed, bounded sweep ----------------------------------------------


def test_the_sweep_reclaims_due_rows_a_bounded_batch_at_a_time(
    path: Path, store: SQLiteStore
) -> None:
    now = time.time()
    for i in range(5):
        store.create(f"s{i}", {"k": b"v"}, new_meta(now, idle=10))
    store.create("durable", {"k": b"v"}, new_meta(now, idle=None))
    later = now + 20
    assert store.sweep(now=later) == 5  # expired: data dropped, tombstones kept
    assert rows(path, "SELECT count(*) FROM sessionware_data") == [(1,)]
    statuses = rows(path, "SELECT status, count(*) FROM sessionware_sessions GROUP BY status")
    assert sorted(statuses) == [("active", 1), ("expired", 5)]
    after_retention = later + store.retention_seconds
    handled = [store._run(store._flows.sweep(after_retention, batch=2)) for _ in range(4)]
    assert handled == [2, 2, 1, 0]
    assert rows(path, "SELECT id FROM sessionware_sessions") == [("durable",)]


def test_writes_sweep_at_most_once_per_interval(path: Path) -> None:
    attempts = itertools.count()

    def scenario() -> None:
        db = path.with_name(f"{path.stem}-{next(attempts)}.db")
        store = SQLiteStore(db, sweep_interval_seconds=0.5)
        now = time.time()
        query = "SELECT status FROM sessionware_sessions WHERE id = '{}'"
        try:
            store.create("old", {"k": b"v"}, new_meta(now - 100, idle=10))  # expired on arrival
            assert rows(db, query.format("old")) == [("expired",)]
            store.create("old2", {"k": b"v"}, new_meta(now - 100, idle=10))
            with window(now, 0.5, "from the first sweep to the next write"):
                assert rows(db, query.format("old2")) == [("active",)]  # no second sweep
            time.sleep(0.6)
            store.create("new", {}, new_meta(time.time()))
            assert rows(db, query.format("old2")) == [("expired",)]
        finally:
            store.close()

    paced(scenario)


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT id FROM sessionware_sessions WHERE due <= 1 ORDER BY due LIMIT 10", "due"),
        (
            "SELECT id FROM sessionware_sessions ORDER BY last_activity_at DESC NULLS FIRST, "
            "id DESC LIMIT 100",
            "activity",
        ),
        ("SELECT id FROM sessionware_sessions WHERE user_name = 'u'", "user"),
    ],
)
def test_sweeps_listings_and_user_lookups_use_an_index(
    path: Path, store: SQLiteStore, sql: str, index: str
) -> None:
    store.create("s", {}, new_meta(time.time()))
    plan = " ".join(str(row[-1]) for row in rows(path, "EXPLAIN QUERY PLAN " + sql))
    assert f"INDEX sessionware_sessions_{index}" in plan, plan


# -- the async protocol leaves the event loop free -----------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_async_call_waiting_on_a_lock_leaves_the_event_loop_free(
    path: Path, anyio_backend: str
) -> None:
    store = SQLiteStore(path, busy_timeout_seconds=1.0)
    await store.acreate("s", {}, new_meta(time.time()))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        with pytest.raises(StoreUnavailable):
            await store.aload("s", now=time.time(), idle_seconds=60)
    finally:
        ticker.cancel()
        holder.execute("ROLLBACK")
        holder.close()
    assert ticks >= 5  # the loop ran on while the store waited about 1 s for the lock
    assert await store.aload("s", now=time.time(), idle_seconds=60) is not None
    store.close()


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": ":memory:"}, "MemoryStore"),
        ({"path": ""}, "path"),
        (
            {"path": "no-such-folder-here/sessions.db"},
            "folder 'no-such-folder-here' does not exist",
        ),
        ({"path": "."}, "path '.' is a folder: give the path of the database file in it"),
        ({"prefix": "bad-prefix"}, "prefix"),
        ({"prefix": "x; DROP TABLE y"}, "prefix"),
        ({"synchronous": "SOMETIMES"}, "synchronous"),
        ({"busy_timeout_seconds": 0}, "busy_timeout_seconds"),
        ({"retention_seconds": -1}, "retention_seconds"),
        ({"audit_limit": 0}, "audit_limit"),
        ({"sweep_interval_seconds": "1"}, "sweep_interval_seconds"),
    ],
)
def test_invalid_configuration_is_rejected(
    path: Path, options: dict[str, Any], message: str
) -> None:
    options.setdefault("path", path)
    with pytest.raises(ConfigurationError, match=message):
        SQLiteStore(**options)


def test_tables_are_left_alone_when_told_not_to_create_them(path: Path) -> None:
    store = SQLiteStore(path, create_tables=False)
    with pytest.raises(StoreUnavailable, match="no such table"):
        store.load("x", now=time.time(), idle_seconds=60)
    store.create_schema()
    assert store.load("x", now=time.time(), idle_seconds=60) is None
    store.close()


def test_from_sessionware_import_sqlitestore() -> None:
    import sessionware

    assert sessionware.SQLiteStore is SQLiteStore and "SQLiteStore" in sessionware.__all__


@pytest.mark.parametrize("prefix", ["other.app_", "main.app_"])
def test_a_prefix_naming_a_schema_is_refused_when_the_store_is_built(
    tmp_path: Path, prefix: str
) -> None:
    url = f"sqlite:///{tmp_path / 'rel.db'}?prefix={prefix}"
    with pytest.raises(ConfigurationError, match=r"without a schema.*use e\.g\. 'app_'"):
        SQLiteStore.from_url(url)
    with pytest.raises(ConfigurationError, match="without a schema"):
        SQLiteStore(tmp_path / "rel.db", prefix=prefix)
    assert not (tmp_path / "rel.db").exists()
