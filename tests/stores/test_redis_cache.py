"""RedisStore's client-side cache (``client_cache=True``): reads with no round trip,
and never a stale one, on the real Redis server and real servers in subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from sessionware import RedisStore, SessionManager
from sessionware.errors import ConfigurationError
from sessionware.stores import redis_cache
from sessionware.stores.base import Changes, Meta
from sessionware.stores.redis_cache import _Inbox

from ..conftest import REDIS_URL
from .served import served


def _meta(now: float, idle: float = 100.0) -> Meta:
    return Meta(
        created_at=now, updated_at=now, last_activity_at=now, expires_at=now + idle, deadline=None
    )


class Counted:
    """Counts the round trips a store sends (its drivers), leaving them as they are."""

    def __init__(self, store: RedisStore) -> None:
        self.calls = 0
        run, arun = store._run, store._arun

        def counted_run(flow: Any) -> Any:
            self.calls += 1
            return run(flow)

        async def counted_arun(flow: Any) -> Any:
            self.calls += 1
            return await arun(flow)

        store._run = counted_run  # type: ignore[method-assign]
        store._arun = counted_arun  # type: ignore[method-assign]


@pytest.fixture
def stores(redis_prefix: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """A caching store and a plain one (another worker) on the same keys."""
    cached = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, client_cache=True)
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    assert cached.cache is not None and cached.cache.wait_ready(5)
    yield cached, other
    cached.close()
    other.close()


@pytest.fixture
def keeping(redis_prefix: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """As ``stores``, the caching one with ``cache_own_saves=True``."""
    cached = RedisStore.from_url(
        REDIS_URL, prefix=redis_prefix, client_cache=True, cache_own_saves=True
    )
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    assert cached.cache is not None and cached.cache.wait_ready(5)
    yield cached, other
    cached.close()
    other.close()


def _load(store: RedisStore, session_id: str) -> Any:
    return store.load(session_id, now=time.time(), idle_seconds=100)


def test_a_repeated_read_costs_no_round_trip(stores: tuple[RedisStore, RedisStore]) -> None:
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    counted = Counted(cached)
    for _ in range(5):
        assert _load(cached, "s1").data == {"k": b"v"}
    assert counted.calls == 1  # the first load; four hits
    assert cached.cache is not None and cached.cache.hits == 4


def test_async_reads_share_the_cache(stores: tuple[RedisStore, RedisStore]) -> None:
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    counted = Counted(cached)

    async def main() -> list[Any]:
        return [
            (await cached.aload("s1", now=time.time(), idle_seconds=100)).data  # type: ignore[union-attr]
            for _ in range(3)
        ]

    assert asyncio.run(main()) == [{"k": b"v"}] * 3
    assert counted.calls == 1


def test_a_write_elsewhere_is_seen_by_the_next_read(stores: tuple[RedisStore, RedisStore]) -> None:
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    _load(cached, "s1")
    assert _load(cached, "s1").data == {"k": b"v"}  # a hit
    changes = Changes(set={"k": b"w"}, updated_at=time.time(), size_bytes=1)
    assert other.save("s1", changes)
    assert _load(cached, "s1").data == {"k": b"w"}
    SessionManager(other).revoke("s1", actor="test")
    assert _load(cached, "s1") is None


def test_its_own_loads_do_not_invalidate_it(stores: tuple[RedisStore, RedisStore]) -> None:
    """A load within the cache's window writes nothing (on Redis 7.0 NOLOOP does not
    cover writes made by scripts, so a writing load would invalidate its own entry)."""
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    counted = Counted(cached)
    for _ in range(3):
        _load(cached, "s1")
        time.sleep(0.05)  # time for an invalidation to arrive, were one sent
    assert counted.calls == 1


def test_own_writes_are_read_back_at_once(stores: tuple[RedisStore, RedisStore]) -> None:
    cached, _ = stores
    cached.create("s1", {"k": b"v"}, _meta(time.time()))
    _load(cached, "s1")
    changes = Changes(set={"k": b"w"}, updated_at=time.time(), size_bytes=1)
    assert cached.save("s1", changes)
    assert _load(cached, "s1").data == {"k": b"w"}  # no wait for the invalidation


@pytest.mark.parametrize("keep", [True, False])
def test_a_save_keeps_its_result(redis_prefix: str, keep: bool) -> None:
    """With ``cache_own_saves=True`` a read-and-write handler costs one round trip per
    request, not two: a save of a cached session keeps what it wrote, and its own
    invalidation does not drop it. Without it (the default) a save drops its entry."""
    cached = RedisStore.from_url(
        REDIS_URL, prefix=redis_prefix, client_cache=True, cache_own_saves=keep
    )
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    assert cached.cache is not None and cached.cache.wait_ready(5)
    try:
        _a_save_keeps_its_result(cached, other, keep)
    finally:
        cached.close()
        other.close()


def _a_save_keeps_its_result(cached: RedisStore, other: RedisStore, keep: bool) -> None:
    other.create("s1", {"n": b"0", "k": b"v"}, _meta(time.time(), idle=3600))
    time.sleep(0.05)  # (the creation's own invalidation, which could drop the first entry)
    counted = Counted(cached)
    for n in range(1, 6):  # (within the entry's window: 36 s, 1% of the idle timeout)
        loaded = cached.load("s1", now=time.time(), idle_seconds=3600)
        assert loaded.data["n"] == str(n - 1).encode()
        changes = Changes(
            set={"n": str(n).encode()}, removed=("k",) if n == 2 else (), user="ada",
            updated_at=time.time(), size_bytes=1,
        )  # fmt: skip
        assert cached.save("s1", changes)
        time.sleep(0.02)  # time for the save's own invalidation to arrive
    # kept: the first load, then hits and one save each; else a load and a save each
    assert counted.calls == (1 + 5 if keep else 2 * 5)
    hit = cached.load("s1", now=time.time(), idle_seconds=3600)
    stored = other.load("s1", now=time.time(), idle_seconds=100)
    assert stored is not None and hit.data == stored.data == {"n": b"5"}
    for name in ("user", "updated_at", "size_bytes", "attribute_count", "max_size_bytes"):
        assert getattr(hit.meta, name) == getattr(stored.meta, name), name


def _save_call(store: RedisStore, session_id: str, changes: Changes, token: str) -> tuple:
    """The one command a save sends (EVALSHA of the SESSION script)."""
    step = next(store._flows.save(session_id, changes, token))
    (call,) = step
    return tuple(call.args)


@pytest.mark.parametrize("foreign", ["save", "revoke"])
def test_a_change_in_the_same_pass_as_a_save_is_seen(
    keeping: tuple[RedisStore, RedisStore], foreign: str
) -> None:
    """Another worker's change that Redis runs in the same event-loop pass right after
    this process's save (so that one invalidation covers both) drops the entry: its
    announcement comes between the save's and the invalidation."""
    cached, other = keeping
    cache = cached.cache
    assert cache is not None
    other.create("s1", {"n": b"0"}, _meta(time.time()))
    _load(cached, "s1")
    _load(cached, "s1")  # a hit: the entry is current
    ours = Changes(set={"n": b"1"}, updated_at=time.time(), size_bytes=1)
    theirs = Changes(set={"m": b"x"}, updated_at=time.time(), size_bytes=1)
    client = redis.Redis.from_url(REDIS_URL)
    from sessionware.stores.redis_scripts import SESSION

    client.script_load(SESSION.source)
    save = cache.begin_save("s1", ours.updated_at)
    assert save.token  # built from a current entry
    pipe = client.pipeline(transaction=False)  # one write: Redis runs both in one pass
    pipe.execute_command(*_save_call(cached, "s1", ours, save.token))
    if foreign == "save":
        pipe.execute_command(*_save_call(other, "s1", theirs, ""))
    else:
        revoke = next(other._flows.revoke("s1", "test", time.time()))
        pipe.execute_command(*revoke[0].args)
    assert pipe.execute()[0] == 1
    cache.end_save(save, ours)
    time.sleep(0.05)  # the announcements and the invalidation arrive
    loaded = _load(cached, "s1")
    if foreign == "save":
        assert loaded is not None and loaded.data == {"n": b"1", "m": b"x"}
    else:
        assert loaded is None


def test_a_user_refused_the_announcement_key_still_saves(redis_prefix: str) -> None:
    """A Redis user whose ACL allows the session keys but not the announcement key
    beside them: saves work, reads are still cached, a save drops its entry (its own
    invalidation comes without its announcement: news, as from anyone else)."""
    from .test_redis_wire import server

    with server() as port:
        redis.Redis(host="127.0.0.1", port=port).acl_setuser(
            "app", enabled=True, passwords=["+pw"], commands=["+@all"],
            keys=["*:[dmx]", f"{redis_prefix}{{index}}:*"], channels=["__redis__:invalidate"],
        )  # fmt: skip
        url = f"redis://app:pw@127.0.0.1:{port}"
        cached = RedisStore.from_url(
            url, prefix=redis_prefix, client_cache=True, cache_own_saves=True
        )
        try:
            assert cached.cache is not None and cached.cache.wait_ready(5)
            cached.create("s1", {"n": b"0"}, _meta(time.time()))
            counted = Counted(cached)
            for n in range(1, 4):
                assert _load(cached, "s1").data == {"n": str(n - 1).encode()}
                assert _load(cached, "s1").data == {"n": str(n - 1).encode()}  # a hit
                changes = Changes(set={"n": str(n).encode()}, updated_at=time.time())
                assert cached.save("s1", changes)
                time.sleep(0.02)  # (its invalidation arrives)
            assert counted.calls == 3 * 2  # a load and a save each time: no kept result
        finally:
            cached.close()


def test_an_unannounced_revoke_in_the_same_pass_as_a_save_is_seen(redis_prefix: str) -> None:
    """The default cache (saves drop their entry) needs no announcements: a revocation
    by a Redis user whose ACL refuses the announcement key (its announcement is
    skipped, as a worker on an earlier release makes none), run in the same pass as
    this process's save, is seen by the next read. (With ``cache_own_saves=True``
    this is the documented gap.)"""
    from sessionware.stores.redis_scripts import SESSION

    from .test_redis_wire import server

    with server() as port:
        root = redis.Redis(host="127.0.0.1", port=port)
        root.acl_setuser(
            "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all"],
            channels=["*"],
        )  # fmt: skip
        root.acl_setuser(
            "ops", enabled=True, passwords=["+pw"], commands=["+@all"],
            keys=["*:[dmx]", f"{redis_prefix}{{index}}:*"],
        )  # fmt: skip
        url = "redis://{}:pw@127.0.0.1:" + str(port)
        cached = RedisStore.from_url(url.format("app"), prefix=redis_prefix, client_cache=True)
        ops = RedisStore.from_url(url.format("ops"), prefix=redis_prefix)
        try:
            cache = cached.cache
            assert cache is not None and cache.wait_ready(5)
            ops.create("s1", {"n": b"0"}, _meta(time.time()))
            time.sleep(0.05)
            _load(cached, "s1")
            counted = Counted(cached)
            assert _load(cached, "s1") is not None and counted.calls == 0  # a hit
            client = redis.Redis(host="127.0.0.1", port=port, username="app", password="pw")
            client.script_load(SESSION.source)
            ours = Changes(set={"n": b"1"}, updated_at=time.time(), size_bytes=1)
            save = cache.begin_save("s1", ours.updated_at)
            revoke = next(ops._flows.revoke("s1", "ops", time.time()))[0].args
            pipe = client.pipeline(transaction=False)  # one write: one pass
            pipe.execute_command(*_save_call(cached, "s1", ours, save.token))
            pipe.execute_command("AUTH", "ops", "pw")
            pipe.execute_command(*revoke)
            pipe.execute_command("AUTH", "app", "pw")
            assert pipe.execute()[2] == 1
            cache.end_save(save, ours)
            time.sleep(0.1)
            assert ops.load("s1", now=time.time(), idle_seconds=100) is None
            assert _load(cached, "s1") is None
        finally:
            cached.close()
            ops.close()


def test_a_forked_child_starts_its_own_listener(stores: tuple[RedisStore, RedisStore]) -> None:
    """A worker forked while the parent's listener runs keeps none of the parent's
    entries, starts its own listener, serves hits again, and sees a change made
    after the fork."""
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    time.sleep(0.05)
    _load(cached, "s1")
    assert _load(cached, "s1").data == {"k": b"v"}  # a hit in the parent
    to_parent, to_child = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report each step on to_parent, wait on to_child
        try:
            cache = cached.cache
            assert cache is not None
            counted = Counted(cached)
            assert _load(cached, "s1").data == {"k": b"v"}  # no parent entry: a load
            assert counted.calls == 1 and cache.wait_ready(5)
            _load(cached, "s1")  # kept now that this child's listener is live
            assert _load(cached, "s1").data == {"k": b"v"}
            assert counted.calls == 2, counted.calls  # a hit
            os.write(to_parent[1], b"ready\n")
            assert os.read(to_child[0], 1) == b"2"  # the parent changed the session
            time.sleep(0.1)
            assert _load(cached, "s1").data == {"k": b"w"}
            os.write(to_parent[1], b"ok\n")
        except BaseException as error:  # report it, then leave without pytest's teardown
            os.write(to_parent[1], f"child: {error!r}\n".encode())
        finally:
            os._exit(0)
    os.close(to_parent[1])
    os.close(to_child[0])
    with os.fdopen(to_parent[0], "rb") as replies:
        assert replies.readline() == b"ready\n"
        other.save("s1", Changes(set={"k": b"w"}, updated_at=time.time(), size_bytes=1))
        os.write(to_child[1], b"2")
        assert replies.readline() == b"ok\n"
    os.close(to_child[1])
    os.waitpid(pid, 0)
    assert _load(cached, "s1").data == {"k": b"w"}  # and the parent's cache still works


def test_nothing_is_kept_from_a_save_in_flight(keeping: tuple[RedisStore, RedisStore]) -> None:
    """While a save of a session is in flight, a load of it is not kept (it may have
    run before the save), and a second save of it keeps nothing (the two results
    cannot both be the entry): the next read loads what Redis holds."""
    cached, other = keeping
    cache = cached.cache
    assert cache is not None
    other.create("s1", {"n": b"0"}, _meta(time.time()))
    time.sleep(0.05)
    _load(cached, "s1")
    assert _load(cached, "s1").data == {"n": b"0"}  # a hit: the entry is current
    first = cache.begin_save("s1", time.time())
    assert first.token  # from the current entry
    mark = cache.mark()
    now = time.time()  # a load meanwhile, of the kind that writes nothing (a cache's)
    loaded = cached._run(cached._flows.load("s1", now, 100, cached._window(100)))
    assert loaded is not None
    cache.put("s1", loaded, mark, time.time() + 60)
    second = cache.begin_save("s1", time.time())
    assert second.token == "" and second.entry is None
    ours = Changes(set={"n": b"1"}, updated_at=time.time(), size_bytes=1)
    assert cached._run(cached._flows.save("s1", ours, first.token))
    theirs = Changes(set={"n": b"2"}, updated_at=time.time(), size_bytes=1)
    assert cached._run(cached._flows.save("s1", theirs, second.token))
    cache.end_save(first, ours)
    assert "s1" not in cache._entries  # overtaken by the second save: nothing kept
    cache.end_save(second, theirs)
    counted = Counted(cached)
    assert _load(cached, "s1").data == {"n": b"2"}
    assert counted.calls == 1  # loaded, not served from anything kept above


def test_a_load_overtaken_by_a_change_is_not_kept(stores: tuple[RedisStore, RedisStore]) -> None:
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    cache = cached.cache
    assert cache is not None
    mark = cache.mark()
    old = other.load("s1", now=time.time(), idle_seconds=100)  # the slow load's reply
    assert old is not None
    changes = Changes(set={"k": b"w"}, updated_at=time.time(), size_bytes=1)
    other.save("s1", changes)
    deadline = time.monotonic() + 2
    while cache.get("unrelated", time.time()) is None and time.monotonic() < deadline:
        if cache._recent.get("s1", -1) > mark:  # the listener has applied the news
            break
        time.sleep(0.01)
    cache.put("s1", old, mark, time.time() + 60)
    assert _load(cached, "s1").data == {"k": b"w"}


def test_no_hit_while_the_invalidation_connection_is_down(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    cached, other = stores
    cache = cached.cache
    assert cache is not None
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    _load(cached, "s1")
    client = redis.Redis.from_url(REDIS_URL)
    assert client.client_kill_filter(_id=cache.listener_id) == 1  # the listener's subscriber
    counted = Counted(cached)
    _load(cached, "s1")
    assert counted.calls == 1  # the cache was dropped with its connection
    assert cache.wait_ready(5)  # and comes back by itself
    # (the first load after that may slide the record, a write that invalidates itself)
    for _ in range(3):
        before = counted.calls
        assert _load(cached, "s1").data == {"k": b"v"}
    assert counted.calls == before  # hits again


def test_an_outage_is_logged_once_and_its_end_once(
    redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The listener retries every half second; each failure used to log the same
    warning (20 lines for a 3 s outage per worker), and nothing said it was over."""
    from .test_redis_wire import server

    with server() as port, caplog.at_level(logging.WARNING, logger="sessionware"):
        admin = redis.Redis(host="127.0.0.1", port=port)
        cached = RedisStore.from_url(
            f"redis://127.0.0.1:{port}", prefix=redis_prefix, client_cache=True
        )
        try:
            cache = cached.cache
            assert cache is not None and cache.wait_ready(5)
            admin.config_set("requirepass", "now-needed")  # reconnections fail from here
            admin = redis.Redis(host="127.0.0.1", port=port, password="now-needed")
            admin.client_kill_filter(_id=cache.listener_id)
            time.sleep(2.2)  # four attempts or so, each refused
            assert not cache.wait_ready(0)
            admin.config_set("requirepass", "")
            assert cache.wait_ready(5)
        finally:
            cached.close()
    lost = [r.getMessage() for r in caplog.records if "lost its Redis" in r.getMessage()]
    back = [r for r in caplog.records if "connected again" in r.getMessage()]
    # the kill, then the password refused: two causes, each said once, however many tries
    assert len(lost) == 2 and len(back) == 1, caplog.text
    assert "NOAUTH" in lost[1] or "Authentication" in lost[1], lost


def test_client_cache_is_checked(redis_prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="client_cache"):
        RedisStore.from_url(REDIS_URL, prefix=redis_prefix, client_cache=-1)
    with pytest.raises(ConfigurationError, match="single Redis server"):
        RedisStore.from_url("redis://127.0.0.1:1", cluster=True, client_cache=True)
    with pytest.raises(ConfigurationError, match="needs client_cache=True"):
        RedisStore.from_url(REDIS_URL, prefix=redis_prefix, cache_own_saves=True)
    with pytest.raises(ConfigurationError, match="True or False, not 1"):  # never taken as off
        RedisStore.from_url(REDIS_URL, prefix=redis_prefix, client_cache=True, cache_own_saves=1)


# -- the guarantee across processes ------------------------------------------------------


def _cli(prefix: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "sessionware", "--store", REDIS_URL, "--prefix", prefix, *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("mode", ["1", "keep"])
def test_no_stale_read_across_processes(redis_prefix: str, mode: str) -> None:
    """A server with the cache (A; ``keep``: with ``cache_own_saves=True``) and another
    worker without (B), on one Redis: a save by B, a revoke, a re-time and a logout
    from other processes are each seen by A's very next request."""
    env = {
        "SESSIONWARE_TEST_REDIS": REDIS_URL,
        "SESSIONWARE_TEST_PREFIX": redis_prefix,
        "PYTHONPATH": os.getcwd(),
    }
    with (
        served({**env, "SESSIONWARE_TEST_CACHE": mode}, workers=1) as a,
        served(env, workers=1) as b,
    ):
        assert a.get("/incr").json()["count"] == 1
        first = a.get("/count").json()
        deadline = time.monotonic() + 5  # the listener connects in the background
        while (second := a.get("/count").json())["hits"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second["count"] == 1 and second["hits"] > first["hits"]  # served from the cache
        b.cookies = a.cookies
        assert b.get("/incr").json()["count"] == 2  # another worker writes
        assert a.get("/count").json()["count"] == 2
        assert a.get("/count").json()["hits"] > second["hits"]  # cached again
        hits = a.get("/count").json()["hits"]
        for count in (3, 4, 5):  # kept: each save keeps its result, the next request hits
            assert a.get("/incr").json()["count"] == count
        assert (a.get("/count").json()["hits"] >= hits + 3) is (mode == "keep")
        for count in (6, 8, 10):  # the workers take turns: each sees the other's save
            assert b.get("/incr").json()["count"] == count
            assert a.get("/incr").json()["count"] == count + 1

        _cli(redis_prefix, "sessions", "revoke", "--yes", first["id"])
        assert a.get("/count").json()["count"] is None

        a.cookies.clear()
        a.get("/incr")
        session_id = a.get("/count").json()["id"]
        a.get("/count")  # cached
        _cli(redis_prefix, "sessions", "ttl", session_id, "1s")
        time.sleep(1.2)  # the expiry happens in Redis, where the re-time put it
        assert a.get("/count").json()["count"] is None

        a.cookies.clear()
        a.get("/incr")
        a.get("/count")  # cached
        b.cookies = a.cookies
        b.get("/logout")
        assert a.get("/count").json()["count"] is None


@contextlib.contextmanager
def _fake_inbox(cache: Any) -> Iterator[tuple[_Inbox, socket.socket]]:
    """``cache`` reading its news from a socket pair instead of Redis: the inbox, and
    the end to write messages to; the listener's own inbox is put back after."""
    ours, server = socket.socketpair()
    tracker, tracker_peer = socket.socketpair()
    fake = _Inbox(SimpleNamespace(_sock=ours), SimpleNamespace(_sock=tracker))
    with cache._lock:
        live, cache._inbox = cache._inbox, fake  # (the listener now sees the fake one)
    try:
        yield fake, server
    finally:
        with cache._lock:
            cache._inbox = live
        fake.close()
        for end in (ours, server, tracker, tracker_peer):
            end.close()


def _invalidation(key: str) -> bytes:
    """An invalidation message naming ``key``, as Redis writes it (RESP2)."""
    name = key.encode()
    head = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n"
    return head + b"$%d\r\n%s\r\n" % (len(name), name)


def test_a_cache_with_half_a_message_waiting_serves_nothing(
    stores: tuple[RedisStore, RedisStore], redis_prefix: str
) -> None:
    """While part of an invalidation has arrived, the rest may name the session: every
    load reads from Redis until the message is whole; then the cache serves again."""
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    cache = cached.cache
    assert cache is not None
    _load(cached, "s1")
    with _fake_inbox(cache) as (_, server):
        counted = Counted(cached)
        message = _invalidation(f"{redis_prefix}{{s2}}:d")  # another session's: no drop
        server.sendall(message[:40])
        for expected in (1, 2):
            assert _load(cached, "s1").data == {"k": b"v"}
            assert counted.calls == expected
        server.sendall(message[40:])
        hits = cache.hits
        for _ in range(3):
            _load(cached, "s1")
        assert counted.calls <= 3 and cache.hits > hits


def test_half_a_message_is_no_message_yet() -> None:
    """The listener's socket read without blocking: a message in two pieces is applied
    once whole, and until then the inbox says part of one is waiting (a request then
    reads from Redis, see ``ClientCache._drain``)."""
    ours, server = socket.socketpair()
    tracker, tracker_peer = socket.socketpair()
    try:
        inbox = _Inbox(SimpleNamespace(_sock=ours), SimpleNamespace(_sock=tracker))
        message = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$6\r\nP{s1}:\r\n"
        assert inbox.received() == [] and not inbox.partial()
        server.sendall(message[:40])
        assert inbox.received() == [] and inbox.partial()
        server.sendall(message[40:])
        assert inbox.received() == [[b"message", b"__redis__:invalidate", [b"P{s1}:"]]]
        assert not inbox.partial()
        server.close()
        with pytest.raises(ConnectionError):
            inbox.received()
        inbox.close()
    finally:
        for end in (ours, server, tracker, tracker_peer):
            end.close()


# -- the tracking connection closed alone ---------------------------------------------


def _tracker_of(client: redis.Redis, listener_id: int | None) -> str | None:
    """The id of the connection tracking for this listener (``redir`` is its id)."""
    ids = [c["id"] for c in client.client_list() if c.get("redir") == str(listener_id)]
    assert len(ids) <= 1, ids
    return ids[0] if ids else None


def _tracking_again(cache: Any, client: redis.Redis, killed: str) -> None:
    """Wait until the listener is connected and tracking on a new connection."""
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        if cache.wait_ready(1) and _tracker_of(client, cache.listener_id) not in (None, killed):
            return
        time.sleep(0.01)
    raise AssertionError("the listener did not reconnect")


def _cached(store: RedisStore, session_id: str) -> bool:
    """Whether a load of ``session_id`` comes to be served by the store's cache. One may
    miss for a moment (part of a message on the listener's connection unread, as its
    PINGs every 0.2 s in these trials make likelier; the listener catching up), which is
    the cache erring safe (``ClientCache._drain``), so it is tried again: a CI run
    failed on one such miss, before the trial's real question."""
    cache = store.cache
    assert cache is not None
    for _ in range(50):
        hits = cache.hits
        if _load(store, session_id) is not None and cache.hits == hits + 1:
            return True
        time.sleep(0.01)
    return False


def test_no_stale_hit_once_the_tracking_connection_is_closed_alone(
    stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the server closes only the tracking connection (CLIENT KILL, a proxy's
    timeout), it stops sending invalidations while the subscriber stays open: a
    revoke acknowledged after that must not be served from the cache, though the
    listener's own check of the tracker (a PING a second) has not run yet. It used
    to be served until that PING, in every trial."""
    cached, other = stores
    cache = cached.cache
    assert cache is not None
    monkeypatch.setattr(redis_cache, "_PING_SECONDS", 0.2)  # (reconnect fast between trials)
    monkeypatch.setattr(redis_cache, "_RETRY_SECONDS", 0.05)
    client = redis.Redis.from_url(REDIS_URL)
    stale = 0
    for trial in range(20):
        session_id = f"s{trial}"
        other.create(session_id, {"k": b"v"}, _meta(time.time()))
        _load(cached, session_id)
        assert _cached(cached, session_id)
        tracker = _tracker_of(client, cache.listener_id)
        assert tracker is not None
        assert client.client_kill_filter(_id=tracker) == 1  # ours: redir is our subscriber
        SessionManager(other).revoke(session_id, actor="test")  # acknowledged
        stale += _load(cached, session_id) is not None
        _tracking_again(cache, client, tracker)
    client.close()
    assert stale == 0, f"{stale} of 20 loads after the revoke were served stale"


def test_the_inbox_sees_the_tracker_end_even_behind_a_reply() -> None:
    """The tracker's end (the server's FIN) is seen without reading its socket, even
    when a PONG the listener has not read yet comes before it; a PONG alone is no
    end. (Where poll has no POLLRDHUP, a PONG only keeps that request off the cache.)"""
    if not hasattr(select, "POLLRDHUP"):
        pytest.skip("POLLRDHUP is Linux's")
    ours, server = socket.socketpair()
    tracker, tracker_peer = socket.socketpair()
    inbox = _Inbox(SimpleNamespace(_sock=ours), SimpleNamespace(_sock=tracker))
    try:
        assert inbox.received() == [] and not inbox.partial()
        tracker_peer.sendall(b"+PONG\r\n")
        assert inbox.received() == [] and not inbox.partial()
        tracker_peer.shutdown(socket.SHUT_WR)  # the FIN, behind the unread PONG
        with pytest.raises(ConnectionError, match="tracking"):
            inbox.received()
    finally:
        inbox.close()
        for end in (ours, server, tracker, tracker_peer):
            end.close()


@pytest.mark.parametrize("keep", [False, True], ids=["default", "cache_own_saves"])
def test_a_save_acknowledged_elsewhere_is_never_read_stale(redis_prefix: str, keep: bool) -> None:
    """Another worker saves, and once its save is acknowledged this process loads:
    every load sees that save. With ``cache_own_saves=True`` the announcement was a
    ``PUBLISH``, which Redis could write to the listener after the writer's reply:
    a trial read 9 to 55 of 3,000 such loads stale."""
    cached = RedisStore.from_url(
        REDIS_URL, prefix=redis_prefix, client_cache=True, cache_own_saves=keep
    )
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        assert cached.cache is not None and cached.cache.wait_ready(5)
        other.create("s1", {"n": b"0"}, _meta(time.time()))
        stale = []
        for n in range(1, 2001):
            other.save("s1", Changes(set={"n": b"%d" % n}, updated_at=time.time(), size_bytes=1))
            seen = _load(cached, "s1").data["n"]  # (kept: the next round's read may hit)
            if seen != b"%d" % n:
                stale.append((n, seen))
        assert stale == [], f"{len(stale)} stale reads: {stale[:5]}"
        assert cached.cache.hits == 0  # every change was seen: no read was served from memory
    finally:
        cached.close()
        other.close()


def _served_from_the_cache(cached: RedisStore, other: RedisStore, session_id: str) -> None:
    """Create ``session_id`` through ``other`` and load it through ``cached`` until a
    load is a hit (the first load's index writes are news to apply first)."""
    cache = cached.cache
    assert cache is not None and cache.wait_ready(5)
    other.create(session_id, {"k": b"v"}, _meta(time.time(), idle=6000))
    for _ in range(3):
        cached.load(session_id, now=time.time(), idle_seconds=6000)
        time.sleep(0.2)
    hits = cache.hits
    assert cached.load(session_id, now=time.time(), idle_seconds=6000) is not None
    assert cache.hits == hits + 1  # served from the cache


def test_no_stale_hit_for_long_while_the_invalidation_connection_stalls(
    redis_prefix: str,
) -> None:
    """The subscriber's path stalls without closing (a proxy holding the connection, a
    lost flow): no invalidation arrives, and the tracker, on its own connection, still
    answers its PING. The listener's PING on the subscriber goes unanswered, and the
    entries go within two of its ticks; an operator's revoke from another process is
    then read, not a stale hit served for the entry's whole window (60 s here)."""
    import threading

    from .test_redis_wire import server

    stall = threading.Event()

    def pump(source: socket.socket, target: socket.socket, seen: dict[str, bool], up: bool) -> None:
        try:
            while data := source.recv(65536):
                if up and b"__redis__:invalidate" in data:
                    seen["subscriber"] = True
                while stall.is_set() and not up and seen.get("subscriber"):
                    time.sleep(0.01)  # hold what Redis sends the subscriber
                target.sendall(data)
        except OSError:
            pass

    with server() as redis_port:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def accept() -> None:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                upstream = socket.create_connection(("127.0.0.1", redis_port))
                seen: dict[str, bool] = {}
                for args in ((client, upstream, seen, True), (upstream, client, seen, False)):
                    threading.Thread(target=pump, args=args, daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        direct = f"redis://127.0.0.1:{redis_port}/0"
        cached = RedisStore.from_url(
            f"redis://127.0.0.1:{port}/0", prefix=redis_prefix, client_cache=True
        )
        other = RedisStore.from_url(direct, prefix=redis_prefix)
        try:
            cache = cached.cache
            assert cache is not None
            _served_from_the_cache(cached, other, "s1")
            stall.set()
            subprocess.run(
                [sys.executable, "-m", "sessionware", "--store", direct, "--prefix",
                 redis_prefix, "sessions", "revoke", "s1", "--yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            time.sleep(2.5)  # two ticks of the listener and a half
            assert cached.load("s1", now=time.time(), idle_seconds=6000) is None
        finally:
            stall.clear()
            listener.close()
            cached.close()
            other.close()


def test_a_message_cut_anywhere_is_no_message_yet() -> None:
    """Wherever the bytes stop, between two of its items too (where hiredis holds the
    reply half built and says it has no data), part of a message is no message: the
    inbox says so, and applies it once whole."""
    message = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n"
    message += b"$9\r\nP{s2}:abc\r\n$6\r\nP{s1}:\r\n"
    whole = [b"message", b"__redis__:invalidate", [b"P{s2}:abc", b"P{s1}:"]]
    for cut in range(1, len(message)):
        ours, server = socket.socketpair()
        tracker, tracker_peer = socket.socketpair()
        inbox = _Inbox(SimpleNamespace(_sock=ours), SimpleNamespace(_sock=tracker))
        try:
            server.sendall(message[:cut])
            assert inbox.received() == [] and inbox.partial(), cut
            server.sendall(message[cut:] + b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
            assert inbox.received() == [whole, [b"pong", b""]], cut
            assert not inbox.partial(), cut
        finally:
            inbox.close()
            for end in (ours, server, tracker, tracker_peer):
                end.close()


def test_a_revoke_held_back_behind_a_backlog_is_never_read_stale(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener kept from reading (a busy process) while other workers write: the
    socket's queue fills, and Redis holds back news it cannot send, a revocation's
    too, which it then acknowledges to the operator. A read then finds the long
    queue and reads from Redis; hits come back once the listener has caught up."""
    import threading

    from .test_redis_wire import server

    with server() as port:
        url = f"redis://127.0.0.1:{port}/0"
        with monkeypatch.context() as patch:  # a lock this thread can take again: it
            patch.setattr(threading, "Lock", threading.RLock)  # holds the listener off
            cached = RedisStore.from_url(  # (its miss waits out the stop below)
                url, prefix=redis_prefix, client_cache=True, socket_timeout=30
            )
        other = RedisStore.from_url(url, prefix=redis_prefix)
        writer = redis.Redis(port=port)
        try:
            cache = cached.cache
            assert cache is not None
            _served_from_the_cache(cached, other, "s1")
            with cache._lock:  # the listener cannot read meanwhile
                for batch in range(40):  # other workers' writes: ~12 MB of news
                    pipe = writer.pipeline(transaction=False)
                    for i in range(2500):
                        pipe.set(f"{redis_prefix}{{w{batch}x{i}}}:{'d' * 80}", b"x")
                    pipe.execute()
                assert SessionManager(other).revoke("s1", actor="ops")  # acknowledged
                pid = int(writer.info("server")["process_id"])
                os.kill(pid, signal.SIGSTOP)  # what it holds stays held while we look
                resume = threading.Timer(1.0, os.kill, (pid, signal.SIGCONT))
                resume.start()
                try:
                    assert cached.load("s1", now=time.time(), idle_seconds=6000) is None
                finally:
                    resume.cancel()
                    os.kill(pid, signal.SIGCONT)
            deadline = time.monotonic() + 30
            while cache._catch_up is not None and time.monotonic() < deadline:
                time.sleep(0.05)  # the listener reads the backlog and its PONG comes back
            assert cache._catch_up is None
            _served_from_the_cache(cached, other, "s2")  # serving again
        finally:
            writer.close()
            cached.close()
            other.close()


def test_a_long_queue_of_news_serves_nothing_until_a_ping_comes_back(
    stores: tuple[RedisStore, RedisStore], redis_prefix: str
) -> None:
    """Whole messages, none naming the session, but a queue long enough that Redis may
    be holding more it could not send: a request reads none of it and is not served
    from the cache, until the PONG of a PING sent after that has come back (Redis
    sends it after all it held)."""
    cached, other = stores
    other.create("s1", {"k": b"v"}, _meta(time.time()))
    cache = cached.cache
    assert cache is not None
    _load(cached, "s1")
    with _fake_inbox(cache) as (fake, server):
        counted = Counted(cached)
        assert _load(cached, "s1").data == {"k": b"v"} and counted.calls == 0  # a hit
        news = (_invalidation(f"{redis_prefix}{{other{i}}}:dddddddd") for i in range(400))
        server.sendall(b"".join(news))  # other sessions' changes: ~20 KB
        assert _load(cached, "s1").data == {"k": b"v"} and counted.calls == 1  # from Redis
        with cache._lock:  # (the listener reads the backlog, and sends its PING)
            assert cache._catch_up is not None and cache._pongs < cache._catch_up
            fake.received(1 << 20, reading=True)
            owed = cache._catch_up - cache._pongs
        assert _load(cached, "s1") is not None and counted.calls == 2  # no PONG yet
        server.sendall(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" * owed)  # (sent to our fake)
        _load(cached, "s1")
        _load(cached, "s1")
        assert counted.calls <= 3 and cache._catch_up is None  # served again
