"""MemoryStore specifics: memory stays bounded, and it is safe under threads."""

from __future__ import annotations

import threading
import time

from sessionware import MemoryStore
from sessionware.stores.base import Changes, Meta


def meta(now: float, ttl: float | None) -> Meta:
    return Meta(now, now, now, None if ttl is None else now + ttl)


def test_ended_sessions_are_reclaimed_without_anyone_touching_them() -> None:
    store = MemoryStore(retention_seconds=0.2)
    now = time.time()
    for i in range(2000):  # (a second to make them in: CI under load took over 0.3 s)
        store.create(f"old{i}", {"a": b"1"}, meta(now, 1.0))
    assert len(store) == 2000
    time.sleep(max(0.0, now + 1.3 - time.time()))  # past expiry and the tombstones' retention
    for i in range(20):  # ordinary traffic reclaims what came due, a batch per write
        store.create(f"new{i}", {"a": b"1"}, meta(time.time(), 60))
    assert len(store) == 20


def test_reclaiming_does_not_touch_live_or_durable_sessions() -> None:
    store = MemoryStore(retention_seconds=0.1)
    now = time.time()
    store.create("durable", {"a": b"1"}, meta(now, None))
    store.create("short", {"a": b"1"}, meta(now, 0.1))
    store.create("long", {"a": b"1"}, meta(now, 60))
    time.sleep(0.3)
    store.create("trigger", {}, meta(time.time(), 60))
    assert store.load("durable", now=time.time(), idle_seconds=None) is not None
    assert store.load("long", now=time.time(), idle_seconds=60) is not None
    assert store.load("short", now=time.time(), idle_seconds=0.1) is None
    assert len(store) == 3


def test_sliding_does_not_grow_the_heap() -> None:
    store = MemoryStore()
    now = time.time()
    store.create("s", {}, meta(now, 10))
    for _ in range(1000):
        store.load("s", now=time.time(), idle_seconds=10)
    assert len(store._heap) == 1


def test_concurrent_threads_lose_no_writes() -> None:
    store = MemoryStore()
    store.create("s", {}, meta(time.time(), 60))

    def writer(i: int) -> None:
        for j in range(50):
            now = time.time()
            assert store.load("s", now=now, idle_seconds=60) is not None
            store.save("s", Changes(set={f"k{i}-{j}": b"v"}, updated_at=now))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = store.load("s", now=time.time(), idle_seconds=60)
    assert loaded is not None and len(loaded.data) == 400


def test_the_user_index_follows_changes_and_forgets_removed_sessions() -> None:
    store = MemoryStore(retention_seconds=0.1)
    now = time.time()
    store.create("a", {}, Meta(now, now, now, now + 60, user="ada"))
    store.create("b", {}, Meta(now, now, now, now + 0.1, user="ada"))
    assert sorted(store.user_session_ids("ada", now=now)) == ["a", "b"]
    store.save("a", Changes(updated_at=now, user="grace"))
    assert store.user_session_ids("ada", now=now) == ["b"]
    assert store.user_session_ids("grace", now=now) == ["a"]
    store.delete("a")
    assert store.user_session_ids("grace", now=now) == []
    time.sleep(0.3)  # "b" expires, then its tombstone's retention ends
    store.create("c", {}, meta(time.time(), 60))  # a write reclaims what came due
    assert store.user_session_ids("ada", now=time.time()) == []
    assert store._by_user == {}
