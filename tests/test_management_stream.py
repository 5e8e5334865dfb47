"""``iter_export``: every matching session, batch by batch, on every store (sync and async)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import (
    AsyncSessionManager,
    ConfigurationError,
    MemoryStore,
    SessionManager,
    management,
)
from sessionware.export import stream_document

from .cli.helpers import seed
from .conftest import REDIS_URL
from .stores.sql import SQL_STORES


@pytest.fixture(params=["memory", "redis", *SQL_STORES])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param in SQL_STORES:
        yield SQL_STORES[request.param](request)
        return
    from sessionware.stores.redis import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield store
    store.close()


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(management, "EXPORT_BATCH", 4)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("asynchronous", [False, True])
def test_sessions_used_while_it_runs_are_not_skipped(
    store: Any, asynchronous: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing is by last activity: sessions used after the first batch move to
    its front, over the offset still to read. Every session comes out all the same
    (a logout meanwhile is another matter: see ActivityScan)."""
    import asyncio
    import time

    ids = seed(store, 20)
    batches = 0
    query, aquery = store.query, store.aquery

    def use_some() -> None:
        nonlocal batches
        batches += 1
        if batches == 2:  # after the first batch: the three least recently used
            for session_id in ids[:3]:
                store.load(session_id, now=time.time() + 1, idle_seconds=None)

    def used_meanwhile(q: Any, *, now: float) -> Any:
        use_some()
        return query(q, now=now)

    async def aused_meanwhile(q: Any, *, now: float) -> Any:
        use_some()
        return await aquery(q, now=now)

    monkeypatch.setattr(store, "query", used_meanwhile)
    monkeypatch.setattr(store, "aquery", aused_meanwhile)
    if asynchronous:

        async def collect() -> list[Any]:
            manager = AsyncSessionManager(store)
            return [item async for item in manager.iter_export(include_metadata=True)]

        items = asyncio.run(collect())
    else:
        items = list(SessionManager(store).iter_export(include_metadata=True))
    assert {item["id"] for item in items} == set(ids)


@pytest.mark.parametrize("asynchronous", [False, True])
@pytest.mark.parametrize(
    ("after_batch", "deleted"),
    [(1, 3), (2, 8)],
    ids=["fewer-than-a-page", "more-than-it-looks-back-at-first"],
)
def test_sessions_ended_while_it_runs_skip_no_neighbour(
    store: Any,
    asynchronous: bool,
    after_batch: int,
    deleted: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A logout while an export runs shifts the rest of the listing back: with offsets
    alone, the next batch began past as many sessions, never read. Those ended here
    were read already (the newest): every session comes out, none twice."""
    import asyncio

    ids = seed(store, 20, ago=3600)  # last used an hour ago: the look at the front
    # at the end (for sessions used meanwhile) finds none of them
    batches = 0
    query, aquery = store.query, store.aquery
    progress: list[tuple[int, int]] = []

    def end_some() -> None:
        nonlocal batches
        batches += 1
        if batches == after_batch + 1:  # the newest, read in the batches before
            for session_id in ids[::-1][:deleted]:
                store.delete(session_id)

    inside: list[bool] = []  # (MemoryStore's aquery calls its query: count once)

    def ended_meanwhile(q: Any, *, now: float) -> Any:
        if not inside:
            end_some()
        return query(q, now=now)

    async def aended_meanwhile(q: Any, *, now: float) -> Any:
        end_some()
        inside.append(True)
        try:
            return await aquery(q, now=now)
        finally:
            inside.pop()

    monkeypatch.setattr(store, "query", ended_meanwhile)
    monkeypatch.setattr(store, "aquery", aended_meanwhile)
    options: dict[str, Any] = {"include_metadata": True, "progress": lambda *p: progress.append(p)}
    if asynchronous:

        async def collect() -> list[Any]:
            manager = AsyncSessionManager(store)
            return [item async for item in manager.iter_export(**options)]

        items = asyncio.run(collect())
    else:
        items = list(SessionManager(store).iter_export(**options))
    assert sorted(item["id"] for item in items) == ids
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert progress[-1][0] == 20, progress


def test_every_matching_session_across_batches(store: Any) -> None:
    ids = seed(store, 11, users=2)
    manager = SessionManager(store)
    manager.revoke(ids[3], actor="ops")
    seen: list[tuple[int, int]] = []
    items = list(
        manager.iter_export(
            user="user1", actor="ann", reason="audit", progress=lambda *p: seen.append(p)
        )
    )
    # user1: 1, 3, 5, 7, 9; 3 is revoked, so a data-only export leaves it out
    assert [item["payload"]["cart"][1] for item in items] == [9, 7, 5, 1]
    assert seen == [(4, 11), (8, 11), (11, 11)]
    entries = manager.audit_log(limit=10)
    exports = [e for e in entries if e.action == "export"]
    assert len(exports) == 1  # one entry for the whole export, not one per session
    assert exports[0].actor == "ann" and exports[0].session_id is None
    assert exports[0].reason == "every matching session (streamed, user=user1): audit"
    list(manager.iter_export(search="x, status=active", actor="ann"))  # free text, quoted
    assert manager.audit_log(limit=1)[0].reason == (
        "every matching session (streamed, search='x, status=active')"
    )

    everything = list(manager.iter_export(include_metadata=True))
    assert [item["id"] for item in everything] == ids[::-1]
    assert everything[7]["status"] == "revoked" and everything[7]["payload"] == {}


def test_export_to_audits_before_the_first_payload_and_after_the_sink(store: Any) -> None:
    seed(store, 6, users=2)
    manager = SessionManager(store)
    written: list[Any] = []
    assert manager.export_to(written.extend, user="user1", actor="ann", reason="why") == 3
    assert [item["payload"]["cart"][1] for item in written] == [5, 3, 1]

    def refuses(items: Any) -> None:
        raise OSError("cannot open the file")

    def stops_after_two(items: Any) -> None:
        next(items), next(items)
        raise BrokenPipeError

    with pytest.raises(OSError, match="cannot open"):
        manager.export_to(refuses, actor="bob")
    with pytest.raises(BrokenPipeError):
        manager.export_to(stops_after_two, actor="cy", app="shop")
    reasons = [(entry.actor, entry.reason) for entry in manager.audit_log()]
    assert reasons == [
        ("cy", "2 sessions (streamed, app=shop; interrupted)"),
        ("cy", "started (streamed, app=shop)"),  # bob's asked for none: no entry
        ("ann", "3 sessions (streamed, user=user1): why"),
        ("ann", "started (streamed, user=user1): why"),
    ]


def test_the_async_manager_has_export_to_with_the_same_audit_trail(store: Any) -> None:
    """The README gives AsyncSessionManager "the same methods, awaitable": it had no
    export_to."""
    import asyncio

    seed(store, 6, users=2)
    manager = AsyncSessionManager(store)
    written: list[Any] = []

    async def collect(items: Any) -> None:
        written.extend([item async for item in items])

    async def stops_after_two(items: Any) -> None:
        await anext(items), await anext(items)
        raise BrokenPipeError

    async def run() -> int:
        count = await manager.export_to(collect, user="user1", actor="ann", reason="why")
        with pytest.raises(BrokenPipeError):
            await manager.export_to(stops_after_two, actor="cy", app="shop")
        return count

    assert asyncio.run(run()) == 3
    assert [item["payload"]["cart"][1] for item in written] == [5, 3, 1]
    reasons = [(entry.actor, entry.reason) for entry in SessionManager(store).audit_log()]
    assert reasons == [
        ("cy", "2 sessions (streamed, app=shop; interrupted)"),
        ("cy", "started (streamed, app=shop)"),
        ("ann", "3 sessions (streamed, user=user1): why"),
        ("ann", "started (streamed, user=user1): why"),
    ]


def test_the_stream_is_one_export_document(store: Any) -> None:
    seed(store, 6)
    text = "".join(stream_document(SessionManager(store).iter_export(app="shop")))
    document = json.loads(text)
    assert len(document["items"]) == document["totalItems"] == document["pageSize"] == 6
    assert (document["page"], document["totalPages"]) == (0, 1)


def test_filters_are_checked_before_anything_is_read(store: Any) -> None:
    manager = SessionManager(store)
    with pytest.raises(ConfigurationError, match="no page or sort"):
        next(manager.iter_export(page=2))
    with pytest.raises(ConfigurationError, match="data-only export covers active"):
        next(manager.iter_export(status="revoked"))
    with pytest.raises(ConfigurationError, match="actor"):
        next(manager.iter_export(actor=" "))
    assert manager.audit_log(limit=5) == []


@pytest.mark.anyio
async def test_the_async_manager_streams_alike(store: Any) -> None:
    ids = seed(store, 9)
    manager = AsyncSessionManager(store)
    items = [item async for item in manager.iter_export(include_metadata=True, search="user2")]
    assert [item["id"] for item in items] == [ids[i] for i in (8, 5, 2)]


def test_analytics_counts_every_session_when_some_end_while_it_runs(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Analytics walks the listing as exports do: logouts after its first page
    skip none of the sessions after them."""
    from sessionware import analytics

    monkeypatch.setattr(analytics, "SCAN_PAGE", 4)
    ids = seed(store, 20, ago=3600)
    query, pages = store.query, [0]

    def ended_meanwhile(q: Any, *, now: float) -> Any:
        pages[0] += 1
        if pages[0] == 3:  # the 6 newest, counted on the first two pages: more than
            for session_id in ids[::-1][:6]:  # a page looks back at, at first
                store.delete(session_id)
        return query(q, now=now)

    monkeypatch.setattr(store, "query", ended_meanwhile)
    counted = SessionManager(store).analytics()
    assert counted.total == 20 and counted.by_status == {"active": 20}


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_walk_gives_every_session_that_stays_live_whatever_happens_meanwhile(
    kind: str, redis_prefix: str
) -> None:
    """Seeded random trials: between any two pages, sessions are logged out, used
    (one may be used again and again) and created; every session that lived through
    the walk comes out of it (the ActivityScan that exports and analytics share)."""
    import random
    import time

    from sessionware.stores.listing import ActivityScan

    for trial in range(150 if kind == "memory" else 15):
        rng = random.Random(trial)
        if kind == "memory":
            store: Any = MemoryStore()
        else:
            from sessionware.stores.redis import RedisStore

            store = RedisStore.from_url(REDIS_URL, prefix=f"{redis_prefix}{trial}:")
        try:
            ids = seed(store, 40, ago=3600)
            stayed, made = set(ids), 0
            scan, given = ActivityScan(time.time(), 4), set()
            while (page := scan.next_query()) is not None:
                rows, _ = store.query(page, now=time.time())
                given.update(session_id for session_id, _ in scan.fresh(rows))
                for _ in range(rng.randrange(7)):
                    live, roll = sorted(stayed), rng.random()
                    if roll < 0.3 and live:
                        gone = rng.choice(live)
                        store.delete(gone)
                        stayed.discard(gone)
                    elif 0.3 <= roll < 0.8 and live:
                        store.load(rng.choice(live), now=time.time(), idle_seconds=None)
                    elif roll >= 0.8:
                        made += 1
                        seed(store, 1, start=100 + made)  # (new: need not come out)
            assert stayed <= given, (trial, sorted(stayed - given))
        finally:
            if kind == "redis":
                store.close()
