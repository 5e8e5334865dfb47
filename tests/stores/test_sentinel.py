"""RedisStore.from_sentinel on a real primary, replica and three Sentinels: it works,
and a failover costs in-flight requests a 503, never a 500 or a silently dropped
write, after which service resumes by itself with the replicated sessions intact."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from sessionware import RedisStore, SessionManager, StoreUnavailable
from sessionware.errors import ConfigurationError

from ..shells import SHELLS, shell_client
from .cluster import client
from .sentinel import SERVICE, Deployment, local_sentinel

pytestmark = pytest.mark.sentinel


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    with local_sentinel() as running:
        yield running


def _counter(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/incr":
        session["count"] = session.get("count", 0) + 1
    return 200, {"count": session.get("count")}, {}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_failover_costs_a_503_then_service_resumes_intact(
    deployment: Deployment, shell: str
) -> None:
    prefix = f"swtest:{uuid.uuid4().hex[:8]}:"
    store = RedisStore.from_sentinel(
        deployment.addresses, service_name=SERVICE, prefix=prefix, socket_timeout=0.5
    )
    options = {"secure": False, "idle_timeout": 600}
    with (
        shell_client(shell, _counter, store, base_url="http://testserver", **options) as a,
        shell_client(shell, _counter, store, base_url="http://testserver", **options) as b,
    ):
        users = [a, b]
        for user in users:
            for _ in range(3):
                assert user.get("/incr").status_code == 200
        primary = client(deployment.primary_port())
        assert primary.wait(1, 2000) == 1  # both sessions reached the replica
        confirmed = {id(user): 3 for user in users}

        old = deployment.kill_primary()
        statuses: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # requests keep coming through the failover
            for user in users:
                response = user.get("/incr")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    confirmed[id(user)] = response.json()["count"]
            if statuses[-1] == 200 and statuses[-2] == 200:
                break
            time.sleep(0.05)
        assert set(statuses) <= {200, 503}, statuses  # never a 500
        assert 503 in statuses  # the outage was seen, and said so
        assert statuses[-1] == 200  # and service came back by itself
        assert deployment.wait_for_new_primary(old) != old
        for user in users:  # every confirmed write, and the replicated history, is there
            assert user.get("/get").json()["count"] == confirmed[id(user)]
    store.close()


def test_the_store_works_sync_and_async(deployment: Deployment) -> None:
    import asyncio

    store = RedisStore.from_sentinel(
        deployment.addresses, service_name=SERVICE, prefix=f"swtest:{uuid.uuid4().hex[:8]}:"
    )
    with shell_client("wsgi", _counter, store, base_url="http://testserver", secure=False) as c:
        assert [c.get("/incr").json()["count"] for _ in range(2)] == [1, 2]
    from sessionware import AsyncSessionManager, SessionManager

    assert SessionManager(store).list().total_items == 1  # the management side works too

    async def listed() -> int:
        return (await AsyncSessionManager(store).list()).total_items

    assert asyncio.run(listed()) == 1
    assert "Sentinel service" in store._where
    store.close()


@pytest.mark.parametrize(
    ("sentinels", "message"),
    [
        ("127.0.0.1:26379", "list of \\(host, port\\) pairs"),
        ([("127.0.0.1", "26379")], "list of \\(host, port\\) pairs"),
        ([], "got none"),
    ],
)
def test_bad_sentinel_lists_are_refused(sentinels: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisStore.from_sentinel(sentinels)


def test_the_client_cache_is_refused_on_sentinel() -> None:
    with pytest.raises(ConfigurationError, match="Sentinel"):
        RedisStore(
            RedisStore.from_sentinel([("127.0.0.1", 1)])._sync,  # type: ignore[arg-type]
            client_cache=True,
        )
    # given to from_sentinel, they reached redis-py's connections: every request a 500
    for option in ({"client_cache": True}, {"cache_own_saves": True}, {"lean": False}):
        with pytest.raises(ConfigurationError, match="not offered on a Sentinel-managed store"):
            RedisStore.from_sentinel([("127.0.0.1", 1)], **option)
    with pytest.raises(ConfigurationError, match="client_cache"):
        RedisStore.from_sentinel_url("redis+sentinel://127.0.0.1:1/mymaster", client_cache=True)


def test_the_command_takes_a_sentinel_url(deployment: Deployment) -> None:
    import subprocess
    import sys

    prefix = f"swtest:{uuid.uuid4().hex[:8]}:"
    store = RedisStore.from_sentinel(deployment.addresses, service_name=SERVICE, prefix=prefix)
    with shell_client("wsgi", _counter, store, base_url="http://testserver", secure=False) as c:
        c.get("/incr")
    (info,) = SessionManager(store).list().items
    hosts = ",".join(f"{host}:{port}" for host, port in deployment.addresses)
    url = f"redis+sentinel://{hosts}/{SERVICE}"
    command = ["sessions", "list"]
    shown = subprocess.run(
        [sys.executable, "-m", "sessionware", "--store", url, "--prefix", prefix, *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert info.id[:12] in shown.stdout
    store.close()
    # a service name no Sentinel knows: they all answered, so say to check the name
    # (the advice was the outage's: "check that the server is running")
    wrong = subprocess.run(
        [sys.executable, "-m", "sessionware", "--store", url + "x", *command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 3, wrong.stderr
    assert "check the service name" in wrong.stderr and "SENTINEL MASTERS" in wrong.stderr
    # and to an app, sync or async (redis.asyncio has a MasterNotFoundError of its own)
    misnamed = RedisStore.from_sentinel_url(url + "x")
    try:
        with pytest.raises(StoreUnavailable, match="check the service name"):
            misnamed.get_meta("x", now=time.time())
        with pytest.raises(StoreUnavailable, match="check the service name"):
            asyncio.run(misnamed.aget_meta("x", now=time.time()))
    finally:
        misnamed.close()


def test_sentinel_urls_are_parsed_and_checked() -> None:
    from sessionware.stores.redis_sentinel import parse_sentinel_url

    assert parse_sentinel_url("redis+sentinel://:pw@h1:26379,h2:26380/main/2") == (
        [("h1", 26379), ("h2", 26380)],
        "main",
        {"db": 2, "password": "pw"},
    )
    for bad in (
        "redis+sentinel://h1/main",
        "redis+sentinel://h1:26379/",
        "redis://h:1/x",
        "redis+sentinel://h1:\u00b2/main",  # isdigit() but no int(): not a bare ValueError
        "redis+sentinel://h1:26379/main/\u00b2",
        "redis+sentinel://h1:\u0663\u0663/main",  # digits of another script: not a port
    ):
        with pytest.raises(ConfigurationError):
            parse_sentinel_url(bad)


def test_a_primary_that_refuses_unreplicated_writes_gives_a_503() -> None:
    """The README's safety setting: with min-replicas-to-write and no replica in sync,
    the primary refuses the save, and the shells answer 503 rather than 200."""
    from .cluster import throwaway_server

    with throwaway_server("--min-replicas-to-write", "1") as port:
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}", prefix="swtest:minrep:")
        with shell_client("starlette", _counter, store, base_url="http://testserver") as c:
            assert c.get("/incr").status_code == 503
        store.close()


def _order_failover(deployment: Deployment) -> None:
    """SENTINEL FAILOVER, asked again while a Sentinel is busy or the link drops."""
    import redis

    deadline = time.monotonic() + 20
    while True:
        try:
            assert client(deployment.sentinels[0]).execute_command("SENTINEL", "FAILOVER", SERVICE)
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _role(port: int) -> bytes | None:
    """The server's role, or None while it cannot say: Sentinel ends every normal
    client's connection when it demotes a primary, so one probe may be cut off."""
    probe = client(port)
    try:
        return probe.execute_command("ROLE")[0]  # type: ignore[no-any-return]
    except redis.ConnectionError:
        return None
    finally:
        probe.close()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_planned_failover_loses_no_acknowledged_write(deployment: Deployment, shell: str) -> None:
    """SENTINEL FAILOVER promotes the replica while the old primary still takes writes
    until Sentinel demotes it (about 10 s): pooled connections must not keep writing
    there, or what they acknowledge meanwhile is lost in its resync (an operations
    trial lost logouts and 21-29 cart adds per client that way). Every acknowledged
    increment must hold: each 200 counts one more than the last."""
    prefix = f"swtest:{uuid.uuid4().hex[:8]}:"
    store = RedisStore.from_sentinel(
        deployment.addresses, service_name=SERVICE, prefix=prefix, socket_timeout=0.5
    )
    options = {"secure": False, "idle_timeout": 600}
    try:
        with shell_client(shell, _counter, store, base_url="http://testserver", **options) as c:
            for _ in range(3):
                assert c.get("/incr").status_code == 200
            confirmed, old = 3, deployment.primary_port()
            assert store._watch.wait_ready(10), "the Sentinels are not heard"
            # as if the old primary's clock ran 0.8 s ahead: within the second a clock
            # may step back unnoticed, so deadlines on the new primary would land late
            learned = store._flows.clock_offset
            assert learned is not None
            store._flows.clock_offset = learned + 0.8
            _order_failover(deployment)
            statuses: list[int] = []
            unsure = 0  # 503s since the last 200: a write may land though it timed out
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:  # until Sentinel has demoted the old primary
                response = c.get("/incr")
                statuses.append(response.status_code)
                if response.status_code == 200:
                    count = response.json()["count"]
                    assert confirmed < count <= confirmed + 1 + unsure, (
                        "a write undone",
                        confirmed,
                        count,
                    )
                    confirmed, unsure = count, 0
                else:
                    unsure += 1
                if _role(old) == b"slave":
                    break
                time.sleep(0.05)
            assert _role(old) == b"slave", "no demotion seen"
            relearned = store._flows.clock_offset  # asked of the new primary after the switch
            assert relearned is not None and relearned < learned + 0.3
            assert set(statuses) <= {200, 503}, statuses  # (a 503 while the switch is held)
            time.sleep(1.5)  # the old primary's resync: what only it held is gone now
            for _ in range(50):  # service comes back by itself, every write kept
                final = c.get("/get")
                if final.status_code == 200:
                    break
                time.sleep(0.2)
            assert final.status_code == 200
            assert confirmed <= final.json()["count"] <= confirmed + unsure
    finally:
        store.close()


def test_the_watch_hears_only_its_own_service() -> None:
    from sessionware.stores.redis_sentinel import FailoverWatch

    watch = FailoverWatch([], SERVICE, {})  # no Sentinel: a switch needs no agreement
    try:
        promote = "slave 127.0.0.1:7 127.0.0.1 7 @ {} 127.0.0.1 6"
        watch.heard(b"+failover-state-send-slaveof-noone", promote.format("other").encode())
        assert not watch.failing_over
        watch.heard("+failover-state-send-slaveof-noone", promote.format(SERVICE), 1)
        assert watch.failing_over and watch.generation == 0
        watch.heard("+switch-master", "other 127.0.0.1 6 127.0.0.1 7")
        assert watch.failing_over and watch.generation == 0
        watch.heard("-failover-abort-not-elected", f"master {SERVICE} 127.0.0.1 6", 2)
        assert watch.failing_over  # another Sentinel lost the election: not our abort
        watch.heard("+switch-master", f"{SERVICE} 127.0.0.1 6 127.0.0.1 7", 0)
        assert not watch.failing_over and watch.generation == 1
        watch.heard("+switch-master", f"{SERVICE} 127.0.0.1 6 127.0.0.1 7", 2)
        assert watch.generation == 1  # every Sentinel announces it: counted once
        watch.heard("+failover-state-send-slaveof-noone", promote.format(SERVICE), 1)
        watch.heard("-failover-abort-no-good-slave", f"master {SERVICE} 127.0.0.1 7", 1)
        assert not watch.failing_over and watch.generation == 1
    finally:
        watch.close()


def _in_forked_worker(store: RedisStore, answers: Any) -> None:
    import os

    store.create("forked", {"a": b"\x01"}, _meta_now())  # first use in this process
    watch = store._watch
    answers.put((watch._pid == os.getpid(), watch.wait_ready(10)))


def _meta_now() -> Any:
    from sessionware.stores.base import Meta

    now = time.time()
    return Meta(now, now, now, now + 60)


def test_a_worker_forked_after_the_store_was_made_watches_for_itself(
    deployment: Deployment,
) -> None:
    """gunicorn --preload builds the app, and so the store, before it forks: a worker
    inherits the watch without its threads, and must start its own."""
    import multiprocessing

    prefix = f"swtest:{uuid.uuid4().hex[:8]}:"
    store = RedisStore.from_sentinel(
        deployment.addresses, service_name=SERVICE, prefix=prefix, socket_timeout=0.5
    )
    try:
        fork = multiprocessing.get_context("fork")
        answers = fork.Queue()
        worker = fork.Process(target=_in_forked_worker, args=(store, answers))
        worker.start()
        worker.join(30)
        assert answers.get(timeout=5) == (True, True)
    finally:
        store.close()


def test_what_each_event_loop_followed_goes_with_its_client() -> None:
    """One asyncio client per event loop: the record of the switches it followed is
    dropped with it, not kept for every loop the process ever ran."""
    import asyncio
    import gc

    from sessionware.stores.redis_sentinel import FailoverWatch

    store = RedisStore.from_url("redis://127.0.0.1:6379/0", prefix=f"swsw{uuid.uuid4().hex[:8]}:")
    store._watch = FailoverWatch([], SERVICE, {})  # as from_sentinel's, with no Sentinel
    try:
        store._watch.heard("+switch-master", f"{SERVICE} 127.0.0.1 6 127.0.0.1 7", 0)
        for _ in range(5):  # a loop each (a worker's asyncio.run per job, say)
            assert asyncio.run(store.aload("0" * 32, now=time.time(), idle_seconds=60)) is None
            gc.collect()
        assert len(store._seen_switches) <= 1
        assert store.load("0" * 32, now=time.time(), idle_seconds=60) is None
    finally:
        store._watch.close()
        store.close()


def test_the_watch_closed_from_one_of_its_own_threads_does_not_raise() -> None:
    """The store's finalizer may run on a watch thread (the garbage collector runs
    wherever memory is allocated): close() must not try to join that thread."""
    import threading

    from sessionware.stores.redis_sentinel import FailoverWatch

    watch = FailoverWatch([("127.0.0.1", 1)], SERVICE, {})  # nothing listens: it retries
    errors: list[BaseException] = []

    def close_here() -> None:
        try:
            watch.close()
        except BaseException as error:  # what the finalizer would have reported
            errors.append(error)

    watch._threads.append(threading.Thread(target=close_here))  # as one of its own
    watch._threads[-1].start()
    watch._threads[-1].join(timeout=10)
    assert errors == []
