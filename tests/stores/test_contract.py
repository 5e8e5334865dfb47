"""The store contract (``sessionware/stores/base.py``): one suite, every store.

Each test runs on every store in ``make_store`` (MemoryStore; RedisStore on the
real server; RedisStore on a local 3-master Redis Cluster; SQLiteStore and
PostgresStore from ``sql.py``) and twice: through
the sync methods and through the async ones (``mode``), via :class:`Ops`, which
calls ``store.load(...)`` or awaits ``store.aload(...)``. Times are real
(``time.time()``), since Redis expires keys by its own clock; the few tests that
wait use sub-second timeouts. To check your own store, add it to ``make_store``.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sessionware import MemoryStore, SessionTooLarge
from sessionware.stores.base import (
    ACTIVE,
    EXPIRED,
    LOGGED_OUT,
    MARK_SECONDS,
    MOVED,
    REVOKED,
    SORT_FIELDS,
    AsyncBlindWriteStore,
    AsyncManagedStore,
    AsyncRegistryStore,
    AsyncStore,
    AuditRecord,
    BlindWrite,
    BlindWriteStore,
    Changes,
    ManagedStore,
    MarkingStore,
    Meta,
    Query,
    RegistryStore,
    SyncStore,
)
from sessionware.tokens import REUSE_ACTOR

from ..conftest import REDIS_URL
from ..pacing import apaced, excuse, window
from .cluster import cluster_store
from .sql import SQL_STORES

pytestmark = pytest.mark.anyio

RETENTION = 7 * 24 * 3600.0
RACERS = 50


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Ops:
    """A store's operations by their sync names, run through ``mode``'s methods."""

    def __init__(self, store: Any, mode: str) -> None:
        self.store = store
        self.mode = mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if self.mode == "sync":
            method = getattr(self.store, name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                return method(*args, **kwargs)

        else:
            method = getattr(self.store, "a" + name)

            async def call(*args: Any, **kwargs: Any) -> Any:
                return await method(*args, **kwargs)

        return call


@pytest.fixture(
    params=[
        "memory",
        "redis",
        "redis-cached",
        "redis-cached-saves",
        pytest.param("cluster", marks=pytest.mark.cluster),
        pytest.param("sentinel", marks=pytest.mark.sentinel),
        "sqlite",
        "postgres",
    ]
)
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Any]]:
    """``make_store(retention_seconds=..., audit_limit=...)`` → a fresh, empty store."""
    made: list[Any] = []

    def make(retention_seconds: float = RETENTION, audit_limit: int = 10_000) -> Any:
        options = {"retention_seconds": retention_seconds, "audit_limit": audit_limit}
        if request.param == "memory":
            return MemoryStore(**options)
        if request.param in SQL_STORES:
            store = SQL_STORES[request.param](request, **options)
            made.append(store)
            return store
        from sessionware import RedisStore

        if request.param == "sentinel":
            from .sentinel import sentinel_store

            store = sentinel_store(request, **options)
            made.append(store)
            return store
        if request.param.startswith("redis"):
            prefix = f"{request.getfixturevalue('redis_prefix')}{len(made)}:"
            cached = request.param.startswith("redis-cached")  # the client-side cache on
            own_saves = request.param == "redis-cached-saves"  # keeping what saves wrote
            store = RedisStore.from_url(
                REDIS_URL, prefix=prefix, client_cache=cached, cache_own_saves=own_saves, **options
            )
            assert not cached or store.cache.wait_ready(5)
        else:
            store = cluster_store(request, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
        await store.aclose()  # in this test's event loop, which its connections belong to


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(make_store: Callable[..., Any], mode: str) -> Ops:
    return Ops(make_store(), mode)


def meta(
    now: float,
    *,
    idle: float | None = 60.0,
    deadline: float | None = None,
    sliding: bool = True,
    **fields: Any,
) -> Meta:
    """A new session's meta at ``now`` expiring after ``idle`` (capped by ``deadline``)."""
    expires = None if idle is None else now + idle
    if deadline is not None:
        expires = deadline if expires is None else min(expires, deadline)
    return Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=expires,
        deadline=deadline,
        sliding=sliding,
        **fields,
    )


def changes(now: float, **fields: Any) -> Changes:
    return Changes(updated_at=now, **fields)


async def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


# -- protocols -----------------------------------------------------------------------------


async def test_implements_every_protocol(make_store: Callable[..., Any]) -> None:
    raw = make_store()
    protocols = (SyncStore, AsyncStore, ManagedStore, AsyncManagedStore)
    protocols += (BlindWriteStore, AsyncBlindWriteStore)
    for protocol in (*protocols, RegistryStore, AsyncRegistryStore):
        assert isinstance(raw, protocol), protocol.__name__


# -- load, create ----------------------------------------------------------------------------


async def test_load_missing_is_none(store: Ops) -> None:
    assert await store.load("nope", now=time.time(), idle_seconds=60) is None


async def test_create_then_load_round_trips(store: Ops) -> None:
    now = time.time()
    data = {"cart": b"\x00\xff\x80raw", "": b"empty key", "clé": b"", "n": b"7"}
    made = meta(now, user="alice", email="a@example.com", app="shop", size_bytes=25)
    made.max_size_bytes, made.attribute_count = 50, 4  # (the data's measure, a larger max)
    await store.create("s1", data, made)
    loaded = await store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None
    assert loaded.data == data
    assert loaded.meta == made


async def test_create_empty_session_is_live(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {}, meta(now))
    loaded = await store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None and loaded.data == {}


async def test_load_slides_expiry_and_marks_activity(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60))
    loaded = await store.load("s1", now=now + 5, idle_seconds=60)
    assert loaded is not None
    assert loaded.meta.expires_at == now + 5 + 60
    assert loaded.meta.last_activity_at == now + 5
    assert loaded.meta.created_at == loaded.meta.updated_at == now
    stored = await store.get_meta("s1", now=now + 6)
    assert stored is not None
    assert (stored.expires_at, stored.last_activity_at) == (now + 65, now + 5)


async def test_load_never_slides_past_deadline(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60, deadline=now + 100))
    loaded = await store.load("s1", now=now + 50, idle_seconds=60)
    assert loaded is not None and loaded.meta.expires_at == now + 100


async def test_load_without_idle_timeout_keeps_only_the_deadline(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=None, deadline=now + 100))
    loaded = await store.load("s1", now=now + 1, idle_seconds=None)
    assert loaded is not None and loaded.meta.expires_at == now + 100
    await store.create("s2", {"a": b"1"}, meta(now, idle=None))
    loaded = await store.load("s2", now=now + 1, idle_seconds=None)
    assert loaded is not None and loaded.meta.expires_at is None


async def test_non_sliding_record_keeps_its_expiry(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=30, sliding=False))
    loaded = await store.load("s1", now=now + 10, idle_seconds=30)
    assert loaded is not None
    assert loaded.meta.expires_at == now + 30
    assert loaded.meta.last_activity_at == now + 10


# -- save ------------------------------------------------------------------------------------


async def test_save_writes_only_the_changed_keys(store: Ops) -> None:
    now = time.time()
    made = meta(now, size_bytes=6, max_size_bytes=6, attribute_count=3)
    await store.create("s1", {"a": b"1", "b": b"2", "c": b"3"}, made)
    change = changes(now + 1, set={"b": b"two", "d": b"4"}, removed=["c"], size_bytes=99)
    change.user, change.email = "bob", "b@example.com"
    assert await store.save("s1", change) is True
    loaded = await store.load("s1", now=now + 2, idle_seconds=60)
    assert loaded is not None
    assert loaded.data == {"a": b"1", "b": b"two", "d": b"4"}
    got = loaded.meta
    # the store's own measure (2 + 4 + 2 bytes, 3 keys), not the request's size_bytes
    assert (got.updated_at, got.size_bytes, got.attribute_count) == (now + 1, 8, 3)
    assert (got.user, got.email, got.created_at) == ("bob", "b@example.com", now)


async def test_tens_of_thousands_of_keys_in_one_call_are_kept(store: Ops) -> None:
    """More keys in one create, save or blind write than one SQL statement takes
    parameters (65,535 on PostgreSQL: three per key written)."""
    many = 22_000
    now = time.time()
    first = {f"a{i}": b"1" for i in range(many)}
    await store.create("wide", first, meta(now))
    second = {f"b{i}": b"2" for i in range(many)}
    change = changes(now + 1, set=second, removed=list(first))
    assert await store.save("wide", change) is True
    third = BlindWrite({f"c{i}": b"3" for i in range(many)}, now + 2, 60.0, 10_000_000)
    assert await store.write("wide", third) == "written"
    loaded = await store.load("wide", now=now + 3, idle_seconds=60)
    assert loaded is not None
    assert loaded.data == {**second, **third.set}
    assert loaded.meta.attribute_count == 2 * many


async def test_save_keeps_the_largest_size(store: Ops) -> None:
    now = time.time()
    made = meta(now, size_bytes=2, max_size_bytes=2, attribute_count=1)
    await store.create("s1", {"a": b"1"}, made)
    await store.save("s1", changes(now, set={"a": b"x" * 50}))
    await store.save("s1", changes(now, set={"a": b"y"}))
    got = await store.get_meta("s1", now=now)
    assert got is not None and (got.size_bytes, got.max_size_bytes) == (2, 51)
    assert got.attribute_count == 1


async def test_save_leaves_the_framework_keys_out_of_the_count(store: Ops) -> None:
    now = time.time()
    made = meta(now, size_bytes=2, max_size_bytes=2, attribute_count=1)
    await store.create("s1", {"a": b"1"}, made)
    internal = frozenset({"_flashes", "_permanent"})
    change = changes(now, set={"_flashes": b"f", "b": b"2"}, uncounted_keys=internal)
    assert await store.save("s1", change) is True
    got = await store.get_meta("s1", now=now)
    assert got is not None and (got.size_bytes, got.attribute_count) == (2 + 9 + 2, 2)
    gone = changes(now, removed=["_flashes", "a", "never"], uncounted_keys=internal)
    assert await store.save("s1", gone) is True
    got = await store.get_meta("s1", now=now)
    assert got is not None and (got.size_bytes, got.attribute_count) == (2, 1)


async def test_create_and_rotate_record_the_size_of_the_data_not_the_callers(
    store: Ops,
) -> None:
    """A record made through the API with sizes that are wrong (an import that left
    them 0) is recorded as its data measures: the listing shows it, and the cap holds
    against it (Redis moved the caller's 0 by each save, and let a 60 KB record grow)."""
    from sessionware.core import PERMANENT_KEY
    from sessionware.session import FLASH_KEY
    from sessionware.stores.base import UNCOUNTED_KEYS

    assert {FLASH_KEY, PERMANENT_KEY} == UNCOUNTED_KEYS  # (the frameworks' own keys)
    now = time.time()
    data = {"cart": b"x" * 100, "user": b"ann", "_flashes": b"f"}  # 104 + 7 + 9 bytes
    await store.create("s1", data, meta(now, size_bytes=0, max_size_bytes=0, attribute_count=0))
    got = await store.get_meta("s1", now=now)
    assert got is not None
    assert (got.size_bytes, got.max_size_bytes, got.attribute_count) == (120, 120, 2)
    with pytest.raises(SessionTooLarge):  # 120 + 2 + 30 = 152 > 150
        await store.save("s1", changes(now + 1, set={"b": b"y" * 30}, max_size_bytes=150))
    moved = meta(now, size_bytes=5, max_size_bytes=500, attribute_count=9)
    assert await store.rotate("s1", "s2", data, moved, require_live=True) is True
    got = await store.get_meta("s2", now=now)
    assert got is not None  # (a largest size above the data's is the caller's to keep)
    assert (got.size_bytes, got.max_size_bytes, got.attribute_count) == (120, 500, 2)


async def test_save_refuses_to_grow_past_the_cap(store: Ops) -> None:
    now = time.time()
    made = meta(now, size_bytes=11, max_size_bytes=11, attribute_count=1)
    await store.create("s1", {"a": b"x" * 10}, made)
    refused = changes(now + 1, set={"b": b"y" * 10}, max_size_bytes=20)  # 11 + 11 = 22 > 20
    with pytest.raises(SessionTooLarge) as caught:
        await store.save("s1", refused)
    assert caught.value.limit == 20 and "max_payload_bytes" in str(caught.value)
    loaded = await store.load("s1", now=now + 2, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"x" * 10}
    assert (loaded.meta.size_bytes, loaded.meta.updated_at) == (11, now)
    shrinking = changes(now + 3, set={"a": b"z" * 8}, max_size_bytes=5)  # over, but smaller
    assert await store.save("s1", shrinking) is True
    got = await store.get_meta("s1", now=now + 3)
    assert got is not None and (got.size_bytes, got.max_size_bytes) == (9, 11)
    exact = changes(now + 4, set={"b": b"y" * 9}, max_size_bytes=20)  # 9 + 10 = 19
    assert await store.save("s1", exact) is True


async def test_concurrent_saves_keep_the_recorded_size_and_count_true(
    make_store: Callable[..., Any], mode: str
) -> None:
    """50 requests that each loaded the same one-key record add one key apiece: each
    saw a size of 2 keys, but the record holds 51, and says so."""
    store = Ops(make_store(), mode)
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, size_bytes=2, attribute_count=1))
    saves = [
        store.save("s1", changes(now, set={f"k{i:02d}": b"v"}, size_bytes=6, max_size_bytes=10**6))
        for i in range(RACERS)
    ]
    assert await asyncio.gather(*saves) == [True] * RACERS
    loaded = await store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None and len(loaded.data) == RACERS + 1
    stored = sum(len(key.encode()) + len(value) for key, value in loaded.data.items())
    assert (loaded.meta.size_bytes, loaded.meta.attribute_count) == (stored, RACERS + 1)
    assert loaded.meta.max_size_bytes == stored


async def test_concurrent_saves_never_take_the_record_past_the_cap(
    make_store: Callable[..., Any], mode: str
) -> None:
    """20 requests each add a 100-byte value to a record capped at 1,000 bytes: each
    alone fits, together they would not. Those that fit are written; the others are
    refused (SessionTooLarge), and what is stored stays within the cap."""
    store = Ops(make_store(), mode)
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, size_bytes=2, attribute_count=1))

    async def add(i: int) -> object:
        change = changes(now, set={f"k{i:02d}": b"x" * 100}, size_bytes=105, max_size_bytes=1000)
        try:
            return await store.save("s1", change)
        except SessionTooLarge as refused:
            return refused

    outcomes = await asyncio.gather(*(add(i) for i in range(20)))
    written = [outcome for outcome in outcomes if outcome is True]
    refused = [outcome for outcome in outcomes if isinstance(outcome, SessionTooLarge)]
    assert (len(written), len(refused)) == (9, 11)  # 2 + 9 * 103 = 929; a tenth: 1,032
    loaded = await store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None and len(loaded.data) == 10
    stored = sum(len(key.encode()) + len(value) for key, value in loaded.data.items())
    assert stored == loaded.meta.size_bytes == 929 and loaded.meta.attribute_count == 10


async def test_save_can_clear_user_and_email(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, user="alice", email="a@example.com"))
    await store.save("s1", changes(now, set={"a": b"2"}))
    got = await store.get_meta("s1", now=now)
    assert got is not None and (got.user, got.email) == (None, None)
    assert await store.user_session_ids("alice", now=now) == []


async def test_device_is_kept_as_given_and_replaced_only_when_saved(store: Ops) -> None:
    now = time.time()
    first = '{"first":{"ua":"Firefox","ip":"10.0.0.1"},"last":{"ua":"Firefox","ip":"10.0.0.1"}}'
    await store.create("s1", {"a": b"1"}, meta(now, device=first))
    got = await store.get_meta("s1", now=now)
    assert got is not None and got.device == first
    await store.save("s1", changes(now, set={"a": b"2"}))  # device None: unchanged
    loaded = await store.load("s1", now=now + 1, idle_seconds=60)
    assert loaded is not None and loaded.meta.device == first
    await store.save("s1", changes(now + 1, device="moved \u00e9"))
    ((_, listed),), _ = await store.query(Query(), now=now + 1)
    assert listed.device == "moved \u00e9"
    await store.rotate("s1", "s2", {"a": b"2"}, meta(now, device="rotated"), require_live=True)
    got = await store.get_meta("s2", now=now + 1)
    assert got is not None and got.device == "rotated"


async def test_save_of_a_missing_record_writes_nothing(store: Ops) -> None:
    now = time.time()
    assert await store.save("ghost", changes(now, set={"a": b"1"})) is False
    assert await store.load("ghost", now=now, idle_seconds=60) is None
    assert await store.get_meta("ghost", now=now) is None
    assert await store.query(Query(), now=now) == ([], 0)


async def test_save_after_logout_does_not_resurrect(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now))
    await store.delete("s1")
    assert await store.save("s1", changes(now, set={"b": b"2"})) is False
    assert await store.get_meta("s1", now=now) is None
    assert await store.load("s1", now=now, idle_seconds=60) is None


async def test_save_after_revoke_does_not_resurrect(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now))
    assert await store.revoke("s1", actor="ops", now=now) is True
    assert await store.save("s1", changes(now, set={"b": b"2"})) is False
    assert await store.read_data("s1", now=now) is None
    got = await store.get_meta("s1", now=now)
    assert got is not None and got.status == REVOKED


async def test_save_after_expiry_does_not_resurrect(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=0.5))
    await wait_until(now + 0.55)
    assert await store.save("s1", changes(time.time(), set={"b": b"2"})) is False
    assert await store.load("s1", now=time.time(), idle_seconds=60) is None
    got = await store.get_meta("s1", now=time.time())
    assert got is not None and (got.status, got.ended_at) == (EXPIRED, now + 0.5)


# -- blind writes (keys set without a load) ----------------------------------------------------


def blind(now: float, cap: int = 1000, idle: float | None = 60.0, **values: bytes) -> BlindWrite:
    return BlindWrite(set=dict(values), now=now, idle_seconds=idle, max_size_bytes=cap)


async def test_write_goes_only_into_a_record_of_its_app(store: Ops) -> None:
    """``BlindWrite.app``: another app's live record (its cookie, sent to this app) is
    GONE and untouched; the default app's is named "default"; ``None`` is any app's."""
    now = time.time()
    await store.create("shop", {"a": b"1"}, meta(now, app="shop"))
    await store.create("plain", {"a": b"1"}, meta(now))
    for session_id, app in (("shop", "blog"), ("shop", "default"), ("plain", "shop")):
        written = BlindWrite({"b": b"2"}, now, 60.0, 1000, app)
        assert await store.write(session_id, written) == "gone", (session_id, app)
    loaded = await store.load("shop", now=now, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"1"}
    for session_id, app in (("shop", "shop"), ("plain", "default"), ("plain", None)):
        written = BlindWrite({"b": b"2"}, now, 60.0, 1000, app)
        assert await store.write(session_id, written) == "written", (session_id, app)


async def test_write_sets_keys_slides_and_counts(store: Ops) -> None:
    now = time.time()
    made = meta(now, idle=60, size_bytes=4, max_size_bytes=4, user="ann")
    made.attribute_count = 2
    await store.create("s1", {"a": b"1", "b": b"2"}, made)  # 2 entries of 2 bytes
    assert await store.write("s1", blind(now + 5, b=b"22", c=b"333")) == "written"
    loaded = await store.load("s1", now=now + 6, idle_seconds=60)
    assert loaded is not None
    assert loaded.data == {"a": b"1", "b": b"22", "c": b"333"}
    got = loaded.meta
    assert (got.size_bytes, got.max_size_bytes, got.attribute_count) == (2 + 3 + 4, 9, 3)
    assert (got.updated_at, got.created_at, got.user) == (now + 5, now, "ann")
    stored = await store.get_meta("s1", now=now + 6)
    assert stored is not None and stored.expires_at == now + 6 + 60  # slid by each call


async def test_write_slides_like_a_load(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60, deadline=now + 100))
    assert await store.write("s1", blind(now + 10, a=b"2")) == "written"
    got = await store.get_meta("s1", now=now + 10)
    assert got is not None
    assert (got.expires_at, got.last_activity_at, got.updated_at) == (now + 70, now + 10, now + 10)
    assert await store.write("s1", blind(now + 50, a=b"3")) == "written"
    got = await store.get_meta("s1", now=now + 50)
    assert got is not None and got.expires_at == now + 100  # never past the deadline


async def test_write_to_a_record_that_is_not_live_writes_nothing(store: Ops) -> None:
    now = time.time()
    assert await store.write("missing", blind(now, a=b"1")) == "gone"
    assert await store.read_data("missing", now=now) is None
    await store.create("revoked", {"a": b"1"}, meta(now))
    assert await store.revoke("revoked", actor="op", now=now) is True
    assert await store.write("revoked", blind(now + 1, a=b"2")) == "gone"
    got = await store.get_meta("revoked", now=now + 1)
    assert got is not None and got.status == REVOKED
    assert await store.read_data("revoked", now=now + 1) is None
    await store.create("out", {"a": b"1"}, meta(now))
    await store.delete("out")
    assert await store.write("out", blind(now + 1, a=b"2")) == "gone"
    assert await store.get_meta("out", now=now + 1) is None
    await store.create("short", {"a": b"1"}, meta(now, idle=0.3))
    await wait_until(now + 0.5)
    assert await store.write("short", blind(time.time(), a=b"2")) == "gone"
    assert await store.read_data("short", now=time.time()) is None


async def test_write_refuses_to_grow_past_the_cap(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"x" * 10}, meta(now, size_bytes=11, max_size_bytes=11))
    refused = blind(now + 1, cap=20, b=b"y" * 10)  # 11 + 11 = 22 > 20
    assert await store.write("s1", refused) == "too-large"
    loaded = await store.load("s1", now=now + 2, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"x" * 10}
    assert loaded.meta.size_bytes == 11
    shrinking = blind(now + 3, cap=5, a=b"z" * 8)  # over the cap, but smaller than before
    assert await store.write("s1", shrinking) == "written"
    got = await store.get_meta("s1", now=now + 3)
    assert got is not None and (got.size_bytes, got.max_size_bytes) == (9, 11)


async def test_concurrent_writes_of_different_keys_all_persist(
    make_store: Callable[..., Any], mode: str
) -> None:
    store = Ops(make_store(), mode)
    now = time.time()
    await store.create("s1", {}, meta(now))
    writes = [store.write("s1", blind(now, **{f"k{i}": b"v"})) for i in range(50)]
    assert set(await asyncio.gather(*writes)) == {"written"}
    loaded = await store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None and len(loaded.data) == 50
    assert loaded.meta.attribute_count == 50 and loaded.meta.size_bytes == 50 * 3 + 40


# -- rotate, delete --------------------------------------------------------------------------


async def test_rotate_moves_the_record(store: Ops) -> None:
    now = time.time()
    await store.create("old", {"a": b"1"}, meta(now, user="alice"))
    moved = meta(now + 1, user="alice")
    moved.created_at = now
    assert await store.rotate("old", "new", {"a": b"1", "b": b"2"}, moved, require_live=True)
    assert await store.load("old", now=now + 1, idle_seconds=60) is None
    assert await store.get_meta("old", now=now + 1) is None
    loaded = await store.load("new", now=now + 1, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"1", "b": b"2"}
    assert loaded.meta.created_at == now
    assert await store.user_session_ids("alice", now=now + 1) == ["new"]
    rows, total = await store.query(Query(), now=now + 1)
    assert [row[0] for row in rows] == ["new"] and total == 1


async def test_rotate_requiring_live_refuses_a_revoked_record(store: Ops) -> None:
    now = time.time()
    await store.create("old", {"a": b"1"}, meta(now, user="alice"))
    await store.revoke("old", actor="ops", now=now)
    moved = meta(now, user="alice")
    assert await store.rotate("old", "new", {"a": b"1"}, moved, require_live=True) is False
    assert await store.load("new", now=now, idle_seconds=60) is None
    assert await store.get_meta("new", now=now) is None
    old = await store.get_meta("old", now=now)
    assert old is not None and old.status == REVOKED
    assert await store.user_session_ids("alice", now=now) == []
    rows, total = await store.query(Query(), now=now)
    assert [row[0] for row in rows] == ["old"] and total == 1


async def test_rotate_refuses_a_record_written_since_it_was_loaded(store: Ops) -> None:
    """``unchanged_since``: the updated_at the rotating request loaded. A save by
    another request meanwhile leaves the record as it is (with that save's key) and
    the rotation refused; unchanged, it moves."""
    now = time.time()
    await store.create("old", {"a": b"1"}, meta(now, user="alice"))
    loaded = await store.load("old", now=now, idle_seconds=60)  # (a load writes no data)
    assert loaded is not None and loaded.meta.updated_at == now
    assert await store.save("old", changes(now + 0.5, set={"cart": b"2"}, user="alice"))
    moved = meta(now + 1, user="alice")
    refused = await store.rotate(
        "old", "new", {"a": b"1"}, moved, require_live=True, unchanged_since=now
    )
    assert refused is False
    assert await store.get_meta("new", now=now + 1) is None
    kept = await store.load("old", now=now + 1, idle_seconds=60)
    assert kept is not None and kept.data == {"a": b"1", "cart": b"2"}
    assert await store.user_session_ids("alice", now=now + 1) == ["old"]
    since = kept.meta.updated_at  # what a request loading it now would pass
    assert await store.rotate(
        "old", "new", {"a": b"1", "cart": b"2"}, moved, require_live=True, unchanged_since=since
    )
    assert await store.get_meta("old", now=now + 1) is None
    assert await store.user_session_ids("alice", now=now + 1) == ["new"]


async def test_rotate_requiring_live_refuses_a_missing_record(store: Ops) -> None:
    now = time.time()
    assert await store.rotate("gone", "new", {"a": b"1"}, meta(now), require_live=True) is False
    assert await store.get_meta("new", now=now) is None
    assert await store.query(Query(), now=now) == ([], 0)


async def test_rotate_without_requiring_live_creates_regardless(store: Ops) -> None:
    now = time.time()
    assert await store.rotate("gone", "new", {"a": b"1"}, meta(now), require_live=False)
    loaded = await store.load("new", now=now, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"1"}


async def test_delete_removes_the_record_and_its_index_entries(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, user="alice"))
    await store.delete("s1")
    assert await store.load("s1", now=now, idle_seconds=60) is None
    assert await store.get_meta("s1", now=now) is None
    assert await store.query(Query(), now=now) == ([], 0)
    assert await store.query(Query(user="alice"), now=now) == ([], 0)
    assert await store.user_session_ids("alice", now=now) == []
    await store.delete("s1")  # deleting what is gone is fine


async def test_delete_spares_a_revoked_tombstone(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now))
    await store.revoke("s1", actor="ops", now=now)
    await store.delete("s1")
    got = await store.get_meta("s1", now=now)
    assert got is not None and got.status == REVOKED


async def test_a_store_that_marks_says_why_a_live_record_left(store: Ops) -> None:
    """``MarkingStore``: a rotation of a live record leaves MOVED on the old id, a
    logout LOGGED_OUT, each for MARK_SECONDS; a refused rotation, an ended record and
    an id that never lived have none."""
    assert isinstance(store.store, MarkingStore)
    now = time.time()
    await store.create("old", {"a": b"1"}, meta(now))
    await store.create("out", {"a": b"1"}, meta(now))
    await store.create("ended", {"a": b"1"}, meta(now))
    await store.create("kept", {"a": b"1"}, meta(now))
    assert await store.moved_mark("old", now=now) is None  # live: no mark
    assert await store.save("kept", changes(now + 0.5, set={"b": b"2"}))
    assert not await store.rotate(
        "kept", "k2", {"a": b"1"}, meta(now + 1), require_live=True, unchanged_since=now
    )
    assert await store.rotate("old", "new", {"a": b"1"}, meta(now + 1), require_live=True)
    assert await store.rotate("never", "n2", {}, meta(now + 1), require_live=True) is False
    await store.delete("out")
    await store.revoke("ended", actor="ops", now=now + 1)
    await store.delete("ended")  # its tombstone stays: not a logout of a live record
    marks = {k: await store.moved_mark(k, now=now + 2) for k in ("old", "out", "ended", "kept")}
    assert marks == {"old": MOVED, "out": LOGGED_OUT, "ended": None, "kept": None}
    assert await store.moved_mark("never", now=now + 2) is None
    assert await store.moved_mark("new", now=now + 2) is None
    if keeps_time(store):  # Redis: the mark is a key of its own that the server expires
        left = [await store.store._arun(_pttl(store.store, i)) for i in ("old", "out")]
        assert all(MARK_SECONDS * 1000 - 5_000 < ms <= MARK_SECONDS * 1000 for ms in left), left
    else:
        assert await store.moved_mark("old", now=now + 1 + MARK_SECONDS + 1) is None


def _pttl(redis_store: Any, session_id: str) -> Any:
    """A flow reading how many ms the Redis key of ``session_id``'s mark has left."""
    from sessionware.stores.redis_flows import Call, roundtrip

    key = redis_store._flows._mark_key(session_id)
    (left,) = yield from roundtrip([Call(None, ("PTTL", key))])
    return left


# -- expiry ------------------------------------------------------------------------------------


# A store that keeps time itself (Redis' expiry) ends the record on the wall clock,
# whatever ``now`` the call passes: where a check needs the record alive, a stall of
# the machine past its expiry makes the attempt prove nothing (see tests/pacing.py).
# The other stores judge by the ``now`` they are given: no pace excuses them.


def keeps_time(store: Ops) -> bool:
    """Whether ``store`` ends records on the wall clock (Redis, in every deployment)."""
    from sessionware import RedisStore

    return isinstance(store.store, RedisStore)


async def test_expiry_is_exact(store: Ops) -> None:
    async def scenario() -> None:
        now, session_id = time.time(), secrets.token_hex(8)
        await store.create(session_id, {"a": b"1"}, meta(now, idle=1.0, sliding=False))
        loaded = await store.load(session_id, now=now + 0.999, idle_seconds=1.0)
        if loaded is None and keeps_time(store):
            excuse(now, 1.0, "from the creation to the load", loaded)
        assert loaded is not None
        await wait_until(now + 1.0)
        assert await store.load(session_id, now=now + 1.0, idle_seconds=1.0) is None

    await apaced(scenario)


async def test_idle_timeout_slides_with_use(store: Ops) -> None:
    async def scenario() -> None:
        now, session_id = time.time(), secrets.token_hex(8)
        await store.create(session_id, {"a": b"1"}, meta(now, idle=1.0))
        await wait_until(now + 0.5)
        slid = time.time()
        loaded = await store.load(session_id, now=slid, idle_seconds=1.0)
        if loaded is None:
            excuse(now, 1.0, "from the creation to the first load", loaded)
        assert loaded is not None
        await wait_until(now + 1.2)  # past the first expiry, within the slid one
        loaded = await store.load(session_id, now=time.time(), idle_seconds=1.0)
        if loaded is None:
            excuse(slid, 1.0, "from the first load to the second", loaded)
        assert loaded is not None

    await apaced(scenario)


async def test_deadline_ends_a_sliding_session(store: Ops) -> None:
    async def scenario() -> None:
        now, session_id = time.time(), secrets.token_hex(8)
        await store.create(session_id, {"a": b"1"}, meta(now, idle=60, deadline=now + 1.0))
        loaded = await store.load(session_id, now=now + 0.1, idle_seconds=60)
        if loaded is None and keeps_time(store):
            excuse(now, 1.0, "from the creation to the load", loaded)
        assert loaded is not None and loaded.meta.expires_at == now + 1.0
        await wait_until(now + 1.0)
        assert await store.load(session_id, now=time.time(), idle_seconds=60) is None

    await apaced(scenario)


# -- tombstones --------------------------------------------------------------------------------


async def test_an_expired_session_is_a_tombstone_for_the_retention(
    make_store: Callable[..., Any], mode: str
) -> None:
    async def scenario() -> None:
        store = Ops(make_store(retention_seconds=1.0), mode)  # a fresh one per attempt
        now = time.time()
        await store.create("s1", {"a": b"1"}, meta(now, idle=0.5, user="alice"))
        await wait_until(now + 0.55)
        with window(now, 1.5, "from the creation to the checks of the tombstone"):
            got = await store.get_meta("s1", now=time.time())
            assert got is not None and (got.status, got.ended_at) == (EXPIRED, now + 0.5)
            rows, total = await store.query(Query(status=EXPIRED), now=time.time())
            assert [row[0] for row in rows] == ["s1"] and total == 1
        assert await store.read_data("s1", now=time.time()) is None
        assert await store.user_session_ids("alice", now=time.time()) == []
        await wait_until(now + 0.5 + 1.0)
        assert await store.get_meta("s1", now=time.time()) is None
        assert await store.query(Query(), now=time.time()) == ([], 0)

    await apaced(scenario)


async def test_revoke_leaves_a_tombstone_for_the_retention(
    make_store: Callable[..., Any], mode: str
) -> None:
    async def scenario() -> None:
        store = Ops(make_store(retention_seconds=1.0), mode)  # a fresh one per attempt
        now = time.time()
        await store.create("s1", {"a": b"1"}, meta(now, user="alice"))
        assert await store.revoke("s1", actor="ops@example.com", now=now) is True
        assert await store.revoke("s1", actor="ops@example.com", now=now) is False
        assert await store.load("s1", now=now, idle_seconds=60) is None
        # Redis ends the tombstone on the wall clock, 1 s after ``now``
        with window(now, 1.0 if keeps_time(store) else math.inf, "from the revoke to the checks"):
            got = await store.get_meta("s1", now=now)
            assert got is not None
            rows, total = await store.query(Query(user="alice"), now=now)
            assert [row[1].status for row in rows] == [REVOKED] and total == 1
        assert (got.status, got.ended_at, got.revoked_by) == (REVOKED, now, "ops@example.com")
        await wait_until(now + 1.0)
        assert await store.get_meta("s1", now=time.time()) is None
        assert await store.query(Query(user="alice"), now=time.time()) == ([], 0)

    await apaced(scenario)


async def test_revoke_of_a_missing_session_is_false(store: Ops) -> None:
    assert await store.revoke("ghost", actor="ops", now=time.time()) is False


# -- read without activity -----------------------------------------------------------------


async def test_get_meta_and_read_data_do_not_mark_activity(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60))
    assert await store.read_data("s1", now=now + 5) == {"a": b"1"}
    got = await store.get_meta("s1", now=now + 5)
    assert got is not None
    assert (got.last_activity_at, got.expires_at, got.status) == (now, now + 60, ACTIVE)
    assert await store.read_data("ghost", now=now) is None
    assert await store.get_meta("ghost", now=now) is None


# -- query ---------------------------------------------------------------------------------


async def fill(store: Ops, now: float) -> dict[str, Meta]:
    """Six sessions: different users, emails, apps, activity; one revoked, one expired."""
    specs: list[tuple[str, dict[str, Any]]] = [
        ("a1", {"user": "alice", "email": "alice@example.com", "app": "shop"}),
        ("b2", {"user": "bob", "email": "BOB@Example.org", "app": "shop"}),
        ("c3", {"user": None, "email": None, "app": "blog"}),
        ("d4", {"user": "alice", "email": None, "app": "blog"}),
        ("e5", {"user": "carol", "email": "carol@example.com", "app": "shop"}),
        ("f6", {"user": "dave", "email": "dave@example.net", "app": "admin"}),
    ]
    for offset, (session_id, fields) in enumerate(specs):
        made = meta(now - 10 + offset, **fields)
        if session_id == "f6":
            made.expires_at = now + 0.5
        await store.create(session_id, {"k": b"v"}, made)
    await store.load("c3", now=now + 0.05, idle_seconds=60)  # c3 is now the most recent
    await store.revoke("b2", actor="ops", now=now)
    await wait_until(now + 0.55)  # f6 expires
    result = {}
    for session_id, _ in specs:
        got = await store.get_meta(session_id, now=time.time())
        assert got is not None
        result[session_id] = got
    return result


def expected(metas: dict[str, Meta], query: Query) -> tuple[list[str], int]:
    """The contract's listing, computed here independently of any store."""
    attr = {"id": None, "created": "created_at", "expires": "expires_at"}
    attr |= {"last_activity": "last_activity_at", "user": "user", "email": "email"}
    attr |= {"app": "app", "status": "status"}
    rows = []
    for session_id, m in metas.items():
        if query.status and m.status != query.status:
            continue
        if query.app and m.app != query.app:
            continue
        if query.user and m.user != query.user:
            continue
        fields = (session_id, m.user, m.email, m.app, m.status)
        if query.search and not any(query.search.lower() in f.lower() for f in fields if f):
            continue
        name = attr[query.sort]
        value = session_id if name is None else getattr(m, name)
        rows.append(((value is None, "" if value is None else value, session_id), session_id))
    rows.sort(reverse=query.descending)
    ids = [session_id for _, session_id in rows]
    return ids[query.offset : query.offset + query.limit], len(ids)


async def listed(store: Ops, query: Query) -> tuple[list[str], int]:
    rows, total = await store.query(query, now=time.time())
    return [session_id for session_id, _ in rows], total


async def test_query_filters_sorts_and_pages(store: Ops) -> None:
    metas = await fill(store, time.time())
    assert metas["b2"].status == REVOKED and metas["f6"].status == EXPIRED
    queries = [
        Query(),
        Query(descending=False),
        Query(offset=2, limit=2),
        Query(offset=5, limit=10),
        Query(offset=10),
        Query(limit=0),
        Query(status=ACTIVE),
        Query(status=REVOKED),
        Query(status=EXPIRED),
        Query(app="shop", sort="created", descending=False),
        Query(user="alice"),
        Query(user="alice", sort="id", descending=False),
        Query(user="nobody"),
        Query(search="EXAMPLE.COM"),
        Query(search="revoked"),
        Query(search="b"),
        Query(search="d4"),
        Query(search="blog", status=ACTIVE, limit=1),
    ]
    queries += [Query(sort=sort, descending=d) for sort in SORT_FIELDS for d in (True, False)]
    for query in queries:
        assert await listed(store, query) == expected(metas, query), query


async def test_a_search_ignores_case_beyond_ascii(store: Ops) -> None:
    """An operator finds Élodie by 'élodie' on every store (SQLite's own lower() knows
    ASCII alone)."""
    now = time.time()
    users = {"u1": "Élodie Dupont", "u2": "Иван Петров", "u3": "ÖZGÜR", "u4": "Ærø Ømer"}
    for session_id, user in users.items():
        await store.create(session_id, {"k": b"v"}, meta(now, user=user, email="E@X.ORG"))
    for search, found in [
        ("élodie", ["u1"]),
        ("ÉLODIE DUPONT", ["u1"]),
        ("петров", ["u2"]),
        ("Иван", ["u2"]),
        ("özgür", ["u3"]),
        ("ærø ø", ["u4"]),
        ("e@x.org", ["u1", "u2", "u3", "u4"]),
    ]:
        query = Query(search=search, sort="id", descending=False)
        assert await listed(store, query) == (found, len(found)), search


async def test_query_rows_carry_current_metadata(store: Ops) -> None:
    metas = await fill(store, time.time())
    rows, _ = await store.query(Query(limit=100), now=time.time())
    assert dict(rows) == metas


async def test_query_ties_are_broken_by_id(store: Ops) -> None:
    now = time.time()
    for session_id in ("m", "k", "z", "a"):
        await store.create(session_id, {}, meta(now, user="same"))
    assert await listed(store, Query()) == (["z", "m", "k", "a"], 4)
    assert await listed(store, Query(descending=False, limit=3)) == (["a", "k", "m"], 4)
    assert await listed(store, Query(sort="user", offset=1)) == (["m", "k", "a"], 4)


async def test_user_session_ids_lists_live_sessions_only(store: Ops) -> None:
    now = time.time()
    for session_id in ("s1", "s2", "s3", "s4"):
        await store.create(session_id, {"a": b"1"}, meta(now, user="alice"))
    await store.create("s5", {"a": b"1"}, meta(now, user="bob"))
    await store.create("s6", {"a": b"1"}, meta(now, user="alice", idle=0.1))
    await store.revoke("s2", actor="ops", now=now)
    await store.delete("s3")
    await store.save("s4", changes(now, set={"a": b"2"}, user="bob"))  # a new user
    await wait_until(now + 0.1)
    assert sorted(await store.user_session_ids("alice", now=time.time())) == ["s1"]
    assert sorted(await store.user_session_ids("bob", now=time.time())) == ["s4", "s5"]
    assert await store.user_session_ids("nobody", now=time.time()) == []


# -- set_expiry ----------------------------------------------------------------------------


async def test_set_expiry_fixes_the_expiry(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60))
    assert await store.set_expiry("s1", now + 500, now=now) is True
    loaded = await store.load("s1", now=now + 1, idle_seconds=60)
    assert loaded is not None
    assert (loaded.meta.expires_at, loaded.meta.sliding) == (now + 500, False)
    got = await store.get_meta("s1", now=now + 1)
    assert got is not None and got.expires_at == now + 500


async def test_set_expiry_can_shorten_and_end(store: Ops) -> None:
    async def scenario() -> None:
        now, session_id = time.time(), secrets.token_hex(8)
        await store.create(session_id, {"a": b"1"}, meta(now, idle=60, user="alice"))
        assert await store.set_expiry(session_id, now + 1.0, now=now) is True
        loaded = await store.load(session_id, now=now + 0.1, idle_seconds=60)
        if loaded is None and keeps_time(store):
            excuse(now, 1.0, "from the creation to the load", loaded)
        assert loaded is not None
        await wait_until(now + 1.0)
        assert await store.load(session_id, now=time.time(), idle_seconds=60) is None
        got = await store.get_meta(session_id, now=time.time())
        assert got is not None and (got.status, got.ended_at) == (EXPIRED, now + 1.0)
        assert await store.user_session_ids("alice", now=time.time()) == []

    await apaced(scenario)


async def test_set_expiry_none_makes_a_session_durable(store: Ops) -> None:
    now = time.time()
    await store.create("s1", {"a": b"1"}, meta(now, idle=60, deadline=now + 100, user="al"))
    assert await store.set_expiry("s1", None, now=now) is True
    loaded = await store.load("s1", now=now + 1, idle_seconds=60)
    assert loaded is not None and loaded.meta.expires_at is None
    assert await store.user_session_ids("al", now=now + 10**6) == ["s1"]
    assert await store.revoke("s1", actor="ops", now=now + 2) is True  # still revocable
    assert await store.user_session_ids("al", now=now + 2) == []


async def test_set_expiry_of_a_dead_session_is_false(store: Ops) -> None:
    now = time.time()
    assert await store.set_expiry("ghost", now + 10, now=now) is False
    await store.create("s1", {"a": b"1"}, meta(now))
    await store.revoke("s1", actor="ops", now=now)
    assert await store.set_expiry("s1", None, now=now) is False


# -- audit -----------------------------------------------------------------------------------


async def test_audit_is_newest_first(store: Ops) -> None:
    records = [AuditRecord(at=1000.0 + i, actor=f"op{i}", action="reveal", session_id="s1")
               for i in range(3)]  # fmt: skip
    records.append(AuditRecord(at=2000.5, actor="root", action="revoke", session_id=None,
                               reason="leaked ✓"))  # fmt: skip
    for record in records:
        await store.add_audit(record)
    assert await store.audit(limit=10) == records[::-1]
    assert await store.audit(limit=2) == records[:1:-1]
    assert await store.audit(limit=0) == []


async def test_audit_is_bounded(make_store: Callable[..., Any], mode: str) -> None:
    store = Ops(make_store(audit_limit=3), mode)
    for i in range(5):
        await store.add_audit(AuditRecord(float(i), actor="op", action="reveal", session_id=None))
    assert [record.at for record in await store.audit(limit=100)] == [4.0, 3.0, 2.0]


async def test_end_users_entries_never_push_an_operators_out(
    make_store: Callable[..., Any], mode: str
) -> None:
    """A user who signs in and ends sessions over and over ("my sessions"), or a client
    replaying a refresh token, fills a log of their own: the operators' entries stay."""
    store = Ops(make_store(audit_limit=3), mode)
    reveal = AuditRecord(1.0, actor="admin:ada", action="reveal", session_id="s1")
    await store.add_audit(reveal)
    # an operator's action is an operator's entry whatever its actor's name
    await store.add_audit(AuditRecord(2.0, actor="user:admin-7", action="export", session_id=None))
    for i in range(10):
        actor, action = ("user:mallory", "revoke") if i % 2 else (REUSE_ACTOR, "refresh-reuse")
        await store.add_audit(AuditRecord(10.0 + i, actor=actor, action=action, session_id=None))
    await store.add_audit(AuditRecord(30.0, actor="ops", action="ttl", session_id="s2"))
    kept = [(record.at, record.actor) for record in await store.audit(limit=100)]
    assert kept == [
        (30.0, "ops"),
        (19.0, "user:mallory"),
        (18.0, "sessionware:refresh-reuse"),
        (17.0, "user:mallory"),
        (2.0, "user:admin-7"),
        (1.0, "admin:ada"),
    ]
    assert [record.at for record in await store.audit(limit=2)] == [30.0, 19.0]
    for i in range(4):  # and the operators' own bound still holds
        await store.add_audit(AuditRecord(40.0 + i, actor="ops", action="ttl", session_id=None))
    operators = [r.at for r in await store.audit(limit=100) if r.actor == "ops"]
    assert operators == [43.0, 42.0, 41.0]


# -- the registry (session types) ------------------------------------------------------------


async def test_registry_put_get_list_delete(store: Ops) -> None:
    assert await store.registry_get("session-type", "cart") is None
    assert await store.registry_list("session-type") == {}
    assert await store.registry_put("session-type", "cart", b'{"v":1}') is True
    assert await store.registry_put("session-type", "user", b'{"v":2}') is True
    assert await store.registry_put("other-kind", "cart", b"elsewhere") is True
    assert await store.registry_get("session-type", "cart") == b'{"v":1}'
    assert await store.registry_list("session-type") == {"cart": b'{"v":1}', "user": b'{"v":2}'}
    assert await store.registry_put("session-type", "cart", b'{"v":3}') is True  # replaces
    assert await store.registry_get("session-type", "cart") == b'{"v":3}'
    assert await store.registry_delete("session-type", "cart") is True
    assert await store.registry_delete("session-type", "cart") is False
    assert await store.registry_list("session-type") == {"user": b'{"v":2}'}
    assert await store.registry_get("other-kind", "cart") == b"elsewhere"


async def test_registry_put_if_absent_never_overwrites(store: Ops) -> None:
    assert await store.registry_put("session-type", "cart", b"first", if_absent=True) is True
    assert await store.registry_put("session-type", "cart", b"second", if_absent=True) is False
    assert await store.registry_get("session-type", "cart") == b"first"


async def test_registry_put_replacing_writes_over_that_document_alone(store: Ops) -> None:
    """The compare-and-set a type's update relies on: a change or a delete that landed
    since the read makes the write a no-op (False), never a resurrection."""
    assert await store.registry_put("session-type", "cart", b"v2", replacing=b"v1") is False
    assert await store.registry_get("session-type", "cart") is None  # none: none created
    await store.registry_put("session-type", "cart", b"v1")
    assert await store.registry_put("session-type", "cart", b"v2", replacing=b"v0") is False
    assert await store.registry_put("session-type", "cart", b"v2", replacing=b"v1") is True
    assert await store.registry_get("session-type", "cart") == b"v2"
    assert await store.registry_put("session-type", "cart", b"v3", replacing=b"v1") is False
    await store.registry_delete("session-type", "cart")
    assert await store.registry_put("session-type", "cart", b"v3", replacing=b"v2") is False
    assert await store.registry_get("session-type", "cart") is None


async def test_registry_documents_are_not_sessions(store: Ops) -> None:
    await store.registry_put("session-type", "cart", b"{}")
    assert await store.load("cart", now=time.time(), idle_seconds=60) is None
    assert (await store.query(Query(), now=time.time()))[1] == 0
