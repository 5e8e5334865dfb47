"""PostgresStore beyond the contract: concurrency, faults, the sweep, indexes, the event loop.

The contract, scenario and management suites run on PostgresStore too
(``tests/stores/sql.py``), in a schema of their own on the shared server. The
tests here that stop, fill or lock down their server start a throwaway cluster
(``pg_server.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sessionware import ConfigurationError, PostgresStore, StoreUnavailable
from sessionware.stores import postgres
from sessionware.stores.base import Changes, Meta, Query
from sessionware.stores.sql_flows import Statement

from ..conftest import IN_CI, POSTGRES_URL
from ..pacing import paced, window
from ..scenarios.apps import FRAMEWORKS
from .cluster import free_ports
from .pg_server import Cluster, throwaway_postgres
from .served import served

FRAMEWORK_NAMES = ("starlette", "flask")  # one async, one sync middleware


def new_meta(now: float, idle: float | None = 60.0, **fields: Any) -> Meta:
    expires = None if idle is None else now + idle
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=expires, **fields)


@pytest.fixture
def prefix(postgres_schema: str) -> str:
    return f"{postgres_schema}.sw_"


@pytest.fixture
def store(prefix: str) -> Iterator[PostgresStore]:
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix, timeout_seconds=2)
    yield store
    store.close()


def rows(sql: str, *params: Any, url: str = POSTGRES_URL) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def wait_for_a_lock_wait(prefix: str) -> None:
    """Return once another backend waits on a lock in a statement on ``prefix``'s tables."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND position(%s in query) > 0"
    )
    for _ in range(500):
        if rows(query, prefix)[0][0]:
            return
        time.sleep(0.01)
    raise AssertionError("the save never waited on the row lock")


# -- worker processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_two_workers_share_sessions_and_they_survive_a_restart(prefix: str) -> None:
    env = {"SESSIONWARE_TEST_POSTGRES": POSTGRES_URL, "SESSIONWARE_TEST_PREFIX": prefix}
    with served(env, workers=2) as http:
        pids, count = set(), 0
        while len(pids) < 2 and count < 300:
            body = http.get("/incr").json()
            count += 1
            assert body["count"] == count  # every worker saw every earlier increment
            pids.add(body["pid"])
        assert len(pids) == 2, "the server never spread requests over both workers"
        cookie = http.cookies["session"]
    with served(env, workers=2) as http:  # a restart: new processes, the same database
        http.cookies.set("session", cookie)
        assert http.get("/count").json()["count"] == count
        assert http.get("/incr").json()["count"] == count + 1


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_saves_of_different_keys_from_threads_all_persist(
    store: PostgresStore,
) -> None:
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


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_concurrent_async_saves_of_different_keys_all_persist(
    store: PostgresStore, anyio_backend: str
) -> None:
    await store.acreate("s", {}, new_meta(time.time()))
    saved = await asyncio.gather(
        *(store.asave("s", Changes(set={f"k{i}": b"v"}, updated_at=time.time())) for i in range(8))
    )
    assert saved == [True] * 8
    loaded = await store.aload("s", now=time.time(), idle_seconds=60)
    assert loaded is not None and sorted(loaded.data) == sorted(f"k{i}" for i in range(8))
    await store.aclose()


def test_a_save_waiting_on_a_revoke_writes_nothing(store: PostgresStore, prefix: str) -> None:
    now = time.time()
    store.create("s", {"a": b"1"}, new_meta(now))
    with psycopg.connect(POSTGRES_URL) as holder:  # a revoke in flight, holding the row
        holder.execute(f"SELECT id FROM {prefix}sessions WHERE id = 's' FOR UPDATE")
        result: list[bool] = []
        saver = threading.Thread(
            target=lambda: result.append(
                store.save("s", Changes(set={"a": b"2"}, updated_at=time.time()))
            )
        )
        saver.start()
        wait_for_a_lock_wait(prefix)
        holder.execute(f"UPDATE {prefix}sessions SET status = 'revoked', ended_at = %s", (now,))
        holder.execute(f"DELETE FROM {prefix}data")
        holder.commit()
        saver.join()
    assert result == [False]
    assert rows(f"SELECT count(*) FROM {prefix}data") == [(0,)]
    assert store.load("s", now=time.time(), idle_seconds=60) is None


# -- faults on the shared server: corrupt rows, locks -----------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize(
    "corruption",
    [
        "UPDATE {p}sessions SET status = 'SECRET'",
        "UPDATE {p}sessions SET created_at = 'NaN'",
        "UPDATE {p}sessions SET size_bytes = -1",
        "UPDATE {p}sessions SET sliding = 7",
        "UPDATE {p}data SET value = '\\xc1c1c1'::bytea",  # not a value the codec wrote
    ],
)
def test_a_corrupt_row_is_an_empty_session_not_a_500(
    store: PostgresStore,
    prefix: str,
    framework: str,
    corruption: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "SECRET"}).status_code == 200
        rows(corruption.format(p=prefix))
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            response = client.get("/get", params={"key": "a"})
        assert response.status_code == 200
        assert response.json()["value"] is None
        assert client.get("/put", params={"key": "b", "value": "1"}).status_code == 200
        assert client.get("/get", params={"key": "b"}).json()["value"] == "1"
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    assert all("SECRET" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_tables_locked_past_the_timeout_are_a_503_and_lose_nothing(
    prefix: str, framework: str
) -> None:
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix, timeout_seconds=0.5)
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        with psycopg.connect(POSTGRES_URL) as holder:  # a migration's long lock
            holder.execute(f"LOCK TABLE {prefix}sessions IN ACCESS EXCLUSIVE MODE")
            response = client.get("/put", params={"key": "a", "value": "2"})
            assert response.status_code == 503
            assert "set-cookie" not in response.headers
            holder.rollback()
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
        assert client.get("/get", params={"key": "a"}).json()["value"] == "3"
    store.close()


# -- faults on a server of our own: down, read-only, full ---------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_postgres() as cluster:
        yield cluster


def own_store(cluster: Cluster, dbname: str = "postgres") -> PostgresStore:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    return PostgresStore.from_url(cluster.url(dbname), prefix=prefix, timeout_seconds=1)


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_server_that_is_down_is_a_503_and_service_resumes_with_nothing_lost(
    cluster: Cluster, framework: str
) -> None:
    store = own_store(cluster)
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        cluster.stop()
        try:
            for _ in range(2):  # the pooled connection, then a new one
                response = client.get("/put", params={"key": "a", "value": "2"})
                assert response.status_code == 503
                assert "set-cookie" not in response.headers
        finally:
            cluster.start()
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
        assert client.get("/get", params={"key": "a"}).json()["value"] == "3"
    store.close()


@contextlib.contextmanager
def frozen(cluster: Cluster, at_most: float = 15.0) -> Iterator[None]:
    """The server's processes stopped (SIGSTOP: a hung host, a paused VM), its kernel
    still taking TCP data; continued after the block, even after a failure, and after
    ``at_most`` seconds whatever the block does (a request that waits for ever)."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True)
    pids = [postmaster, *map(int, children.stdout.split())]

    def resume() -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # (a backend that ended since pgrep)
            os.kill(pid, signal.SIGSTOP)
    backstop = threading.Timer(at_most, resume)
    backstop.start()
    try:
        yield
    finally:
        backstop.cancel()
        resume()


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_server_that_hangs_mid_request_is_a_503_in_bounded_time_and_applies_nothing(
    cluster: Cluster, framework: str
) -> None:
    """A server that stops answering on a connection the pool holds (its statement
    timeout cannot fire while it is stopped) costs a request about twice the store's
    timeout, then a 503: the connection is dropped, so the write it carried is rolled
    back when the server wakes, never applied behind the 503. For as long again the
    requests that follow answer 503 at once, then service resumes."""
    store = own_store(cluster)
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        time.sleep(postgres.CHECK_AFTER_IDLE_SECONDS + 0.2)  # a pooled connection's check
        for wait in (True, False):  # ... waits too; then one tries a connection of its own
            with frozen(cluster):
                start = time.monotonic()
                response = client.get("/put", params={"key": "a", "value": "2"})
                took = time.monotonic() - start
            assert response.status_code == 503 and "set-cookie" not in response.headers
            if wait:
                assert 2.0 <= took < 6.0, took  # 2 x timeout_seconds, and a second for it
            else:  # a connection of its own, which waits out the connect timeout
                assert took < 4.0, took
        time.sleep(store._deadline)  # the hold-off: then the next request tries again
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
        assert client.get("/get", params={"key": "a"}).json()["value"] == "3"
    store.close()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_hung_server_costs_one_wait_not_one_per_idle_pooled_connection(
    cluster: Cluster, asynchronous: bool
) -> None:
    """Each idle pooled connection met the hang afresh: with 4 in the pool, 4 requests
    in a row each waited twice timeout_seconds and a second (a trial: ten of 11 s
    with the defaults, a sync worker serving nothing meanwhile)."""
    store = PostgresStore.from_url(
        cluster.url(), prefix=f"t{uuid.uuid4().hex[:8]}_", timeout_seconds=1, pool_max_size=4
    )

    def sleepy() -> Any:
        yield Statement("SELECT pg_sleep(0.3)")

    def meta() -> float:
        start = time.monotonic()
        with contextlib.suppress(StoreUnavailable):
            if asynchronous:
                asyncio.run(store.aget_meta("x", now=time.time()))
            else:
                store.get_meta("x", now=time.time())
        return time.monotonic() - start

    try:
        if asynchronous:

            async def fill() -> None:  # four connections in the event loop's pool
                await asyncio.gather(*(store._arun(sleepy()) for _ in range(4)))
                with frozen(cluster):
                    took.extend([await timed() for _ in range(4)])
                # (as an app's shutdown does: psycopg_pool's workers, mid-attempt when
                # the server hung, take asyncio.run's cancellation for a failed attempt)
                await store.aclose()

            async def timed() -> float:
                start = time.monotonic()
                with contextlib.suppress(StoreUnavailable):
                    await store.aget_meta("x", now=time.time())
                return time.monotonic() - start

            took: list[float] = []
            asyncio.run(fill())
        else:
            workers = [threading.Thread(target=store._run, args=(sleepy(),)) for _ in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            with frozen(cluster):
                took = [meta() for _ in range(4)]
        # the first waits out the cut-off, the next a connection attempt of its own (the
        # connect timeout: libpq waits at least 2 s), and then none waits for as long
        assert took[0] >= 2.0 and took[1] < 4.0 and max(took[2:]) < 0.5, took
        time.sleep(store._deadline)
        assert meta() < 1.0  # the server answers again: so does the store
        assert store.get_meta("x", now=time.time()) is None
    finally:
        store.close()


def test_a_pooled_connection_the_server_ended_just_now_is_replaced_not_a_503(
    cluster: Cluster,
) -> None:
    """Only a connection idle for over a second was checked before use: one ended by
    pg_terminate_backend (or a shutdown) just after its last use answered 503 while
    the server was up (a trial: 8 to 20 503s per termination under traffic)."""
    store = own_store(cluster)
    try:
        assert store.get_meta("x", now=time.time()) is None  # one pooled connection
        cluster.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        time.sleep(0.2)  # (well within CHECK_AFTER_IDLE_SECONDS)
        assert store.get_meta("x", now=time.time()) is None
    finally:
        store.close()


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_while_the_server_refuses_connections_a_503_does_not_wait_out_the_timeout(
    cluster: Cluster, framework: str
) -> None:
    """Once the pool could make no connection, each request tries one itself: refused,
    that is its 503 at once (with the cause), not after timeout_seconds; a worker
    tied up for the whole timeout per request would serve almost nothing."""
    timeout = 3.0
    store = PostgresStore.from_url(
        cluster.url(), prefix=f"t{uuid.uuid4().hex[:8]}_", timeout_seconds=timeout
    )
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        cluster.stop()
        try:
            took = []
            for _ in range(4):
                start = time.monotonic()
                assert client.get("/put", params={"key": "a", "value": "2"}).status_code == 503
                took.append(time.monotonic() - start)
            # one of them waits out the timeout and learns the server is gone, no other
            assert sorted(took)[-2] < timeout / 2, took
        finally:
            cluster.start()
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
    store.close()


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A port that takes TCP connections and never says a word: a PostgreSQL behind a
    firewall that drops packets, or a hung host. Its connections close at the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def take() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        taker.join()
        for connection in [*held, listener]:
            connection.close()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_server_that_never_answers_costs_one_request_in_a_while_its_wait(
    asynchronous: bool,
) -> None:
    """A connection attempt to a server that does not answer waits out connect_timeout
    (1 s here). After one has, the operations that follow answer 503 at once, with
    its cause, for as long as it waited; then one tries again."""
    with _silent_server() as port:
        store = PostgresStore.from_url(
            f"postgresql://postgres@127.0.0.1:{port}/test?sslmode=disable",
            prefix=f"t{uuid.uuid4().hex[:8]}_",
            timeout_seconds=1,
        )

        def load(asynchronous: bool = asynchronous) -> tuple[float, str]:
            start = time.monotonic()
            with pytest.raises(StoreUnavailable) as raised:
                if asynchronous:
                    asyncio.run(store.aload("x" * 43, now=time.time(), idle_seconds=60))
                else:
                    store.load("x" * 43, now=time.time(), idle_seconds=60)
            return time.monotonic() - start, str(raised.value)

        try:
            first, _ = load()  # the pool's timeout, then an attempt of our own
            assert first >= 1.5, first
            took, message = load()
            assert took < 0.5, took  # no new attempt: a second would have waited 1 s again
            assert "timeout" in message and "the last connection attempt" in message, message
            time.sleep(first)  # longer than the last attempt waited: the next one tries
            took, _ = load()
            assert took >= 0.9, took
        finally:
            store.close()


_ONE_ASYNC_LOAD = """
import asyncio, sys, time
from sessionware import PostgresStore, StoreUnavailable
store = PostgresStore.from_url(sys.argv[1], prefix=sys.argv[2], timeout_seconds=1)
async def main():
    try:
        await store.aload("x" * 43, now=time.time(), idle_seconds=60)
    except StoreUnavailable:
        print("503")
asyncio.run(main())
print("asyncio.run returned")
"""


def test_an_event_loop_ends_after_a_server_that_never_answers() -> None:
    """The pool's worker, mid-attempt when asyncio.run cancels it, takes the
    cancellation for a failed attempt and lives on: without the pool being closed,
    asyncio.run would wait for it for ever (a test client's exit, a job's end)."""
    with _silent_server() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/test?sslmode=disable"
        done = subprocess.run(
            [sys.executable, "-c", _ONE_ASYNC_LOAD, url, f"t{uuid.uuid4().hex[:8]}_"],
            capture_output=True,
            text=True,
            timeout=30,  # the load takes about 3 s: the pool's 1 s, then a 2 s attempt
        )
    assert done.stdout.split() == ["503", "asyncio.run", "returned"], done.stderr


def test_new_connections_refused_while_pooled_ones_work_is_no_outage(cluster: Cluster) -> None:
    """At the role's connection limit the pool times out and a connection of our own is
    refused too; the server is up, and the pooled connections serve the next requests."""
    role = f"r{uuid.uuid4().hex[:8]}"
    cluster.sql(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
    cluster.sql(f"GRANT ALL ON SCHEMA public TO {role}")
    url = cluster.url().replace("postgres@", f"{role}@")
    store = PostgresStore.from_url(url, prefix=f"{role}_", timeout_seconds=1, pool_max_size=3)
    try:
        assert store.load("x" * 32, now=time.time(), idle_seconds=60) is None
        release, held = threading.Event(), threading.Barrier(3)

        def hold() -> None:
            with store._connection():
                held.wait()
                release.wait()

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for holder in holders:
            holder.start()
        held.wait()
        with pytest.raises(StoreUnavailable):  # all the role may have are busy
            store.load("x" * 32, now=time.time(), idle_seconds=60)
        release.set()
        for holder in holders:
            holder.join()
        for _ in range(3):
            assert store.load("x" * 32, now=time.time(), idle_seconds=60) is None
    finally:
        store.close()


def test_a_refusal_keeps_the_event_loops_pool_for_the_requests_waiting_on_it(
    cluster: Cluster,
) -> None:
    """The async pool is closed only when the server does not answer (see
    test_an_event_loop_ends_after_a_server_that_never_answers): at the role's
    connection limit the attempt is refused at once, and a request still waiting
    on the pool is served as a pooled connection comes back, not failed with it."""
    role = f"r{uuid.uuid4().hex[:8]}"
    cluster.sql(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
    cluster.sql(f"GRANT ALL ON SCHEMA public TO {role}")
    url = cluster.url().replace("postgres@", f"{role}@")
    store = PostgresStore.from_url(url, prefix=f"{role}_", timeout_seconds=1, pool_max_size=3)

    async def load() -> None:
        await store.aload("x" * 32, now=time.time(), idle_seconds=60)

    async def scenario() -> tuple[BaseException | None, BaseException | None]:
        await load()  # the tables, and a first connection
        release, held = asyncio.Event(), [asyncio.Event(), asyncio.Event()]

        async def hold(ready: asyncio.Event) -> None:
            async with store._aconnection():
                ready.set()
                await release.wait()

        holders = [asyncio.create_task(hold(ready)) for ready in held]
        for ready in held:
            await ready.wait()
        first = asyncio.create_task(load())  # times out at 1 s: the role has no more
        await asyncio.sleep(0.6)
        second = asyncio.create_task(load())  # waits on the pool meanwhile
        await asyncio.sleep(0.7)  # past the first's timeout and refused attempt
        release.set()
        await asyncio.gather(*holders)
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        return outcomes[0], outcomes[1]  # type: ignore[return-value]

    try:
        first, second = asyncio.run(scenario())
        assert isinstance(first, StoreUnavailable), first
        assert second is None, second  # served once a holder gave its connection back
    finally:
        store.close()


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("how", ["restart", "idle connections killed"])
def test_pooled_connections_the_server_closed_cost_no_request_a_503(
    cluster: Cluster, framework: str, how: str
) -> None:
    """A restart, idle_session_timeout, a proxy or a NAT closes pooled connections
    while they sit idle: the next requests must not meet them while the database is up."""
    store = own_store(cluster)
    with FRAMEWORKS[framework](store) as client:
        for value in "12":  # two connections in the pool (the sweep may hold another)
            assert client.get("/put", params={"key": "a", "value": value}).status_code == 200
        if how == "restart":
            cluster.stop()
            cluster.start()
        else:
            cluster.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        time.sleep(postgres.CHECK_AFTER_IDLE_SECONDS + 0.2)
        for _ in range(3):
            assert client.get("/get", params={"key": "a"}).json()["value"] == "2"
        assert client.get("/put", params={"key": "a", "value": "3"}).status_code == 200
        assert client.get("/get", params={"key": "a"}).json()["value"] == "3"
    store.close()


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_read_only_server_is_a_503_and_loses_nothing(cluster: Cluster, framework: str) -> None:
    store = own_store(cluster)
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        cluster.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        cluster.sql("SELECT pg_reload_conf()")
        try:
            time.sleep(0.2)  # the reload reaches the server's processes
            response = client.get("/put", params={"key": "a", "value": "2"})
            assert response.status_code == 503
            assert "set-cookie" not in response.headers
        finally:
            cluster.sql("ALTER SYSTEM RESET default_transaction_read_only")
            cluster.sql("SELECT pg_reload_conf()")
        time.sleep(0.2)
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        assert client.get("/put", params={"key": "b", "value": "2"}).status_code == 200
    store.close()


def test_a_role_without_rights_is_told_to_get_a_grant_not_that_the_server_is_down(
    cluster: Cluster,
) -> None:
    cluster.sql(
        "DO $$ BEGIN CREATE ROLE support LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    url = cluster.url().replace("postgres@", "support@")
    # a schema it may not create (no CREATE on the database); PUBLIC's, where since
    # PostgreSQL 15 it may not create a table
    for prefix in ("typo.sw_", "sw_"):
        store = PostgresStore.from_url(url, prefix=prefix, timeout_seconds=1)
        with pytest.raises(StoreUnavailable) as caught:
            store.load("x", now=time.time(), idle_seconds=60)
        store.close()
        message = str(caught.value)
        assert "InsufficientPrivilege" in message, message
        assert "grant it USAGE on the schema" in message and "prefix=" in message
        assert "server is up" not in message
    down = PostgresStore(f"host=127.0.0.1 port={free_ports(1)[0]} dbname=x", timeout_seconds=1)
    with pytest.raises(StoreUnavailable, match="Check that the server is up"):
        down.load("x", now=time.time(), idle_seconds=60)
    down.close()


@pytest.mark.parametrize("where", ["dbname", "user"])
def test_a_wrong_database_or_role_is_told_as_configuration_not_an_outage(
    cluster: Cluster, where: str
) -> None:
    url = (
        cluster.url("no_such_db")
        if where == "dbname"
        else cluster.url().replace("postgres@", "no_such_role@")
    )
    store = PostgresStore.from_url(url, prefix="sw_", timeout_seconds=1)
    with pytest.raises(StoreUnavailable) as caught:
        store.load("x", now=time.time(), idle_seconds=60)
    store.close()
    message = str(caught.value)
    assert "no such database or role" in message, message
    assert "check the database name and the user" in message
    assert "server is up" not in message


@contextlib.contextmanager
def small_tablespace(cluster: Cluster) -> Iterator[Path]:
    """A database ``fulldb`` whose tables live on a 24 MB tmpfs (its WAL stays on the
    big disk); needs root to mount, as on this project's machines and CI."""
    directory = Path(tempfile.mkdtemp(prefix="sessionware-pgfull-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(directory)],
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
        cluster.chown(directory)
        cluster.sql(f"CREATE TABLESPACE small LOCATION '{directory}'")
        cluster.sql("CREATE DATABASE fulldb TABLESPACE small")
        yield directory
    finally:
        with contextlib.suppress(psycopg.Error):
            cluster.sql("DROP DATABASE IF EXISTS fulldb WITH (FORCE)")
            cluster.sql("DROP TABLESPACE IF EXISTS small")
        subprocess.run(["umount", "-l", str(directory)], check=False)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_a_full_disk_is_a_503_and_loses_nothing(cluster: Cluster, framework: str) -> None:
    with small_tablespace(cluster) as disk:
        store = own_store(cluster, "fulldb")
        with FRAMEWORKS[framework](store) as client:
            assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
            filler = disk / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as out:
                while True:
                    out.write(b"\0" * 65536)
            big = secrets.token_hex(32_000)  # 64 kB that hardly compresses: new pages
            response = client.get("/put", params={"key": "big", "value": big})
            assert response.status_code == 503
            filler.unlink()
            assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
            assert client.get("/put", params={"key": "b", "value": "2"}).status_code == 200
        store.close()


# -- expiry: an indexed, bounded sweep, in the background --------------------------------------


def test_the_sweep_reclaims_due_rows_a_bounded_batch_at_a_time(
    store: PostgresStore, prefix: str
) -> None:
    now = time.time()
    for i in range(5):
        store.create(f"s{i}", {"k": b"v"}, new_meta(now, idle=10))
    store.create("durable", {"k": b"v"}, new_meta(now, idle=None))
    later = now + 20
    assert store.sweep(now=later) == 5  # expired: data dropped, tombstones kept
    assert rows(f"SELECT count(*) FROM {prefix}data") == [(1,)]
    statuses = rows(f"SELECT status, count(*) FROM {prefix}sessions GROUP BY status")
    assert sorted(statuses) == [("active", 1), ("expired", 5)]
    after_retention = later + store.retention_seconds
    handled = [store._run(store._flows.sweep(after_retention, batch=2)) for _ in range(4)]
    assert handled == [2, 2, 1, 0]
    assert rows(f"SELECT id FROM {prefix}sessions") == [("durable",)]


def test_a_write_starts_one_background_sweep_per_interval(prefix: str) -> None:
    attempts = itertools.count()

    def scenario() -> None:
        attempt = next(attempts)
        store = PostgresStore.from_url(
            POSTGRES_URL, prefix=f"{prefix}{attempt}_", sweep_interval_seconds=0.5
        )
        now = time.time()
        status = f"SELECT status FROM {prefix}{attempt}_sessions WHERE id = %s"
        try:
            store.create("old", {"k": b"v"}, new_meta(now - 100, idle=10))  # expired on arrival
            assert store._sweeper is not None
            store._sweeper.join()
            assert rows(status, "old") == [("expired",)]
            first = store._sweeper
            store.create("old2", {"k": b"v"}, new_meta(now - 100, idle=10))
            with window(now, 0.5, "from the first sweep to the next write"):
                assert store._sweeper is first  # within the interval: no second sweep
            assert rows(status, "old2") == [("active",)]
            time.sleep(0.6)
            store.create("new", {}, new_meta(time.time()))
            assert store._sweeper is not first
            store._sweeper.join()
            assert rows(status, "old2") == [("expired",)]
        finally:
            store.close()

    paced(scenario)


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("SELECT id FROM {p}sessions WHERE due <= 1 ORDER BY due LIMIT 10", "due"),
        (
            "SELECT id FROM {p}sessions ORDER BY last_activity_at DESC NULLS FIRST, "
            "id DESC LIMIT 100",
            "activity",
        ),
        ("SELECT id FROM {p}sessions WHERE user_name = 'u'", "user"),
    ],
)
def test_sweeps_listings_and_user_lookups_use_an_index(
    store: PostgresStore, prefix: str, sql: str, index: str
) -> None:
    now = time.time()
    for i in range(2000):  # enough rows that a scan of the table costs more than the index
        store.create(f"s{i}", {}, new_meta(now + i, user=f"u{i}"))
    rows(f"ANALYZE {prefix}sessions")
    plan = " ".join(str(row[0]) for row in rows("EXPLAIN " + sql.format(p=prefix)))
    assert f"sw_sessions_{index}" in plan, plan


# -- the async protocol leaves the event loop free ---------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_async_call_waiting_on_a_lock_leaves_the_event_loop_free(
    prefix: str, anyio_backend: str
) -> None:
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix, timeout_seconds=1)
    await store.acreate("s", {}, new_meta(time.time()))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    with psycopg.connect(POSTGRES_URL) as holder:
        holder.execute(f"SELECT id FROM {prefix}sessions FOR UPDATE")
        ticker = asyncio.ensure_future(tick())
        try:
            with pytest.raises(StoreUnavailable, match="lock"):
                await store.aload("s", now=time.time(), idle_seconds=60)
        finally:
            ticker.cancel()
    assert ticks >= 5  # the loop ran on while the store waited about 1 s for the lock
    assert await store.aload("s", now=time.time(), idle_seconds=60) is not None
    await store.aclose()


# -- schema and configuration --------------------------------------------------------------------


def test_tables_are_left_alone_when_told_not_to_create_them(prefix: str) -> None:
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix, create_tables=False)
    with pytest.raises(StoreUnavailable, match="does not exist") as caught:
        store.load("x", now=time.time(), idle_seconds=60)
    assert "tables are not there: check prefix=" in str(caught.value)
    assert "server is up" not in str(caught.value)
    store.create_schema()
    assert store.load("x", now=time.time(), idle_seconds=60) is None
    store.close()


def test_the_shipped_schema_file_is_the_default_prefix_schema() -> None:
    shipped = resources.files("sessionware.stores").joinpath("postgres_schema.sql").read_text()
    sql = "\n".join(line for line in shipped.splitlines() if not line.startswith("--"))
    statements = [" ".join(s.split()) for s in sql.split(";") if s.strip()]
    statements = [re.sub(r"\( | \)", lambda m: m[0].strip(), s) for s in statements]
    assert statements == PostgresStore("postgresql://localhost/x").schema_sql()


def test_the_schema_file_makes_tables_the_store_uses(postgres_schema: str) -> None:
    shipped = resources.files("sessionware.stores").joinpath("postgres_schema.sql").read_text()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {postgres_schema}")
        connection.execute(f"SET search_path = {postgres_schema}")
        connection.execute(shipped)
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{postgres_schema}"
    store = PostgresStore.from_url(url, create_tables=False)
    store.create("s", {"k": b"v"}, new_meta(time.time()))
    loaded = store.load("s", now=time.time(), idle_seconds=60)
    assert loaded is not None and loaded.data == {"k": b"v"}
    store.close()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("mysql://h/db", {}, "postgresql://"),
        ("postgresql://h/db", {"prefix": "bad-prefix"}, "prefix"),
        ("postgresql://h/db", {"prefix": "x; DROP TABLE y"}, "prefix"),
        ("postgresql://h/db", {"timeout_seconds": 0}, "timeout_seconds"),
        ("postgresql://h/db", {"pool_max_size": 0}, "pool_max_size"),
        ("postgresql://h/db", {"retention_seconds": -1}, "retention_seconds"),
        ("postgresql://h/db", {"audit_limit": 0}, "audit_limit"),
        ("postgresql://h/db?nonsense=1", {}, "postgresql://user@host"),
    ],
)
def test_invalid_configuration_is_rejected(url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PostgresStore.from_url(url, **options)


def test_messages_and_repr_never_show_the_password() -> None:
    store = PostgresStore.from_url("postgresql://ann:s3cret@127.0.0.1:1/app", timeout_seconds=0.5)
    assert "s3cret" not in repr(store)
    with pytest.raises(StoreUnavailable) as raised:
        store.load("x", now=time.time(), idle_seconds=60)
    assert "127.0.0.1:1/app" in str(raised.value) and "s3cret" not in str(raised.value)
    store.close()


def test_import_sessionware_does_not_import_psycopg() -> None:
    code = "import sys, sessionware; print('psycopg' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
    import sessionware

    assert sessionware.PostgresStore is PostgresStore and "PostgresStore" in sessionware.__all__


def test_a_connection_past_descriptor_1024_is_not_checked_on_every_use(prefix: str) -> None:
    """select() refuses descriptors from 1024 on: the check for a message waiting on
    an idle connection then failed, and every operation paid an extra round trip."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.fail(f"this test needs 1,200 descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    gc.collect()  # (garbage that holds a descriptor, closed later, would free one below)
    spare = [os.dup(0)]
    try:
        for _ in range(5):  # (another test's thread may close a descriptor meanwhile)
            while spare[-1] < 1100 or min(spare[-8:]) < 1024:  # the next ones: over 1024
                spare.append(os.dup(0))
            store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix)
            try:
                assert store.get_meta("x", now=time.time()) is None
                with store._sync_pool().connection() as connection:
                    if connection.pgconn.socket < 1024:
                        spare.append(os.dup(0))  # (a hole below: fill it, and again)
                        continue
                    postgres._last_used[connection] = time.monotonic()  # just used
                    assert not postgres._to_check(connection)  # nothing waiting on it
                    break
            finally:
                store.close()
        else:
            pytest.fail("every connection took a descriptor below 1024")
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_connection_cut_off_while_the_server_answers_again_costs_one_request(
    cluster: Cluster,
) -> None:
    """One connection gone silent (a NAT that forgot an idle flow) looks like a hung
    server to the request that meets it. The next request tries a connection of its
    own at once and serves: holding every request off for the whole deadline made a
    healthy server look down that long."""
    store = own_store(cluster)
    try:
        assert store.get_meta("x", now=time.time()) is None
        time.sleep(postgres.CHECK_AFTER_IDLE_SECONDS + 0.2)  # (its check before use waits)
        with frozen(cluster), pytest.raises(StoreUnavailable):
            store.get_meta("x", now=time.time())  # cut off after the deadline
        start = time.monotonic()
        assert store.get_meta("x", now=time.time()) is None  # the server answers again
        assert time.monotonic() - start < 1.0
    finally:
        store.close()


def test_a_search_ignores_case_beyond_ascii_in_a_c_locale_database(cluster: Cluster) -> None:
    """A database made with LC_CTYPE C lowercases ASCII alone: the store lowercases
    through ICU's root collation there, so Élodie is found by 'élodie' as elsewhere."""
    cluster.sql(
        "CREATE DATABASE c_ctype TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    with psycopg.connect(cluster.url("c_ctype")) as connection:
        (plain,) = connection.execute("SELECT lower('ÉLODIE')").fetchone() or (None,)
    assert plain == "Élodie"  # lower() left the É as it was
    store = own_store(cluster, "c_ctype")
    try:
        now = time.time()
        store.create("s1", {"k": b"v"}, new_meta(now, user="Élodie Dupont"))
        store.create("s2", {"k": b"v"}, new_meta(now, user="Иван Петров"))
        without_ddl = PostgresStore.from_url(
            cluster.url("c_ctype"), prefix=store.prefix, create_tables=False
        )  # as the command opens it
        for search, found in [("élodie", ["s1"]), ("ПЕТРОВ", ["s2"]), ("ÉLODIE D", ["s1"])]:
            for searching in (store, without_ddl):
                rows, total = searching.query(Query(search=search), now=now)
                assert ([i for i, _ in rows], total) == (found, 1), search
        without_ddl.close()
    finally:
        store.close()


def test_a_database_in_a_multibyte_encoding_other_than_utf8_is_served(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """EUC_JP has no character 196: asking how lower() lowercases must not fail there."""
    cluster.sql(
        "CREATE DATABASE euc_jp TEMPLATE template0 ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    postgres._LOWERING_SAID.clear()  # (another test may have said it in this process)
    for _ in range(2):  # a second store (each command of the CLI opens one) says nothing
        store = own_store(cluster, "euc_jp")
        try:
            now = time.time()
            store.create("s1", {"k": b"v"}, new_meta(now, user="Ada"))
            rows, total = store.query(Query(search="ada"), now=now)
            assert ([i for i, _ in rows], total) == (["s1"], 1)
            store.delete("s1")
        finally:
            store.close()
    assert caplog.text.count("is not UTF-8 (EUC_JP)") == 1


def test_a_role_that_may_not_read_the_catalogs_still_gets_sessions(cluster: Cluster) -> None:
    """A hardened database that hides pg_database and pg_collation from its roles: how a
    search lowercases cannot be asked there, and the store serves all the same."""
    cluster.sql("CREATE DATABASE hardened")
    admin = own_store(cluster, "hardened")
    admin.create_schema()
    admin.close()
    role = f"r{uuid.uuid4().hex[:8]}"
    cluster.sql(f"CREATE ROLE {role} LOGIN", "hardened")
    cluster.sql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}", "hardened")
    cluster.sql(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}", "hardened")
    for catalog in ("pg_database", "pg_collation"):
        cluster.sql(f"REVOKE SELECT ON pg_catalog.{catalog} FROM PUBLIC", "hardened")
    url = cluster.url("hardened").replace("postgres@", f"{role}@")
    for create_tables in (False, True):
        store = PostgresStore.from_url(url, prefix=admin.prefix, create_tables=create_tables)
        try:
            now = time.time()
            store.create(f"s{create_tables}", {"k": b"v"}, new_meta(now, user="Ada"))
            rows, _ = store.query(Query(search="ada"), now=now)
            assert f"s{create_tables}" in [i for i, _ in rows]
        finally:
            store.close()


def test_a_worker_forked_from_c_does_not_wait_for_its_parents_pool_threads(prefix: str) -> None:
    """uWSGI forks its workers from C, with no Python at-fork handling: the parent's
    pool threads look alive in the child, and letting go of the parent's pool waited
    5 s for each of them (the first request of every worker took 20 s); closing the
    store there (a worker_exit hook of a worker that never used it) closed the
    parent's connections, after the same wait."""
    import ctypes

    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix)
    try:
        assert store.get_meta("x", now=time.time()) is None  # the pool (and its threads)
        for action in ("use", "close"):
            read, write = os.pipe()
            pid = ctypes.CDLL(None).fork()
            if pid == 0:  # the child: one action, timed; then gone, whatever happened
                try:
                    start = time.monotonic()
                    if action == "use":
                        store.get_meta("x", now=time.time())
                    else:
                        store.close()
                    os.write(write, f"{time.monotonic() - start:.3f}".encode())
                finally:
                    os._exit(0)
            os.close(write)
            try:
                ready, _, _ = select.select([read], [], [], 60)  # (a child stuck on a lock
                took = os.read(read, 100).decode() if ready else "no answer"  # another
            finally:  # thread held at the fork: killed, never waited on for ever)
                os.close(read)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            assert took.replace(".", "").isdigit() and float(took) < 3, (action, took)
        with store._sync_pool().connection() as connection:  # the parent's, still open
            connection.execute("select 1")
    finally:
        store.close()


def test_without_select_poll_a_reused_connection_is_checked_not_a_500(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eventlet's monkey_patch() removes select.poll: the check for a message waiting
    on a connection reused within a second raised AttributeError (a 500 per request,
    and the sweep thread died)."""
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix)
    try:
        assert store.get_meta("x", now=time.time()) is None
        monkeypatch.delattr(postgres.select, "poll")
        for _ in range(3):  # (reused at once: the case that polls)
            assert store.get_meta("x", now=time.time()) is None
    finally:
        store.close()
