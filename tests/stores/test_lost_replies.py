"""An operation whose reply is lost after Redis ran it, and that the client then sends
again (its rule for a dropped connection), must come out as if it ran once.

A login's rotation sent again found its old record gone (the first run moved it),
took that for "not live" and deleted the new record the first run made: the user
got a 200 and lost the session. An operator's revocation sent again reported "not
live" and was never audited. Every client path: the lean connection (sync and
asyncio) and redis-py (``lean=False``), through a proxy that cuts the connection
just before the reply (``lost_reply.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import (
    AsyncSessionManager,
    RedisStore,
    SessionManager,
    SessionTooLarge,
    StoreUnavailable,
)
from sessionware.stores.base import MOVED, REVOKED, BlindWrite, Changes, Meta

from ..conftest import REDIS_URL
from .lost_reply import lost_reply_proxy


def meta(now: float) -> Meta:
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 600)


@pytest.fixture(params=["lean", "redis-py"])
def lean(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "lean")


@contextlib.contextmanager
def through_proxy(prefix: str, lean: bool = True) -> Iterator[tuple[Any, RedisStore]]:
    """A RedisStore whose connection passes through a proxy that can lose a reply."""
    with lost_reply_proxy() as proxy:
        store = RedisStore.from_url(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, lean=lean)
        try:
            yield proxy, store
        finally:
            store.close()


def test_a_rotation_sent_again_after_its_reply_was_lost_keeps_the_session(
    lean: bool, redis_prefix: str
) -> None:
    with through_proxy(redis_prefix, lean) as (proxy, store):
        now = time.time()
        store.create("old", {"cart": b"3"}, meta(now))
        proxy.arm(b"take")
        moved = store.rotate(
            "old", "new", {"cart": b"3", "user": b"ann"}, meta(now), require_live=True
        )
        assert proxy.cuts == 1 and moved is True
        loaded = store.load("new", now=time.time(), idle_seconds=600)
        assert loaded is not None and loaded.data == {"cart": b"3", "user": b"ann"}
        assert store.load("old", now=time.time(), idle_seconds=600) is None
        assert store.moved_mark("old", now=time.time()) == MOVED
        # another request's login of the same old id is still told apart: refused
        assert not store.rotate("old", "other", {}, meta(now), require_live=True)
        assert store.load("other", now=time.time(), idle_seconds=600) is None


def test_a_rotation_sent_again_leaves_a_new_record_revoked_meanwhile_revoked(
    lean: bool, redis_prefix: str
) -> None:
    """Between the first run and the retry another request revokes the new session
    (a password change's revoke_user, refresh-token reuse): the retry must not write
    the record back over its tombstone, nor report the move done."""
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)  # straight to Redis
    try:
        with through_proxy(redis_prefix, lean) as (proxy, store):
            now = time.time()
            store.create("old", {"cart": b"3"}, meta(now))
            proxy.meanwhile = lambda: other.revoke("new", actor="ops", now=time.time())
            proxy.arm(b"take")
            assert store.rotate("old", "new", {"cart": b"3"}, meta(now), require_live=True) is False
            assert proxy.cuts == 1
            assert store.load("new", now=time.time(), idle_seconds=600) is None
            ended = store.get_meta("new", now=time.time())
            assert ended is not None and ended.status == REVOKED
    finally:
        other.close()


def test_a_create_sent_again_leaves_a_record_revoked_meanwhile_revoked(
    lean: bool, redis_prefix: str
) -> None:
    other = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)  # straight to Redis
    try:
        with through_proxy(redis_prefix, lean) as (proxy, store):
            proxy.meanwhile = lambda: other.revoke("s1", actor="ops", now=time.time())
            proxy.arm(b"create")
            store.create("s1", {"a": b"1"}, meta(time.time()))
            assert proxy.cuts == 1
            ended = store.get_meta("s1", now=time.time())
            assert ended is not None and ended.status == REVOKED
    finally:
        other.close()


def test_an_async_rotation_sent_again_keeps_the_session(lean: bool, redis_prefix: str) -> None:
    async def scenario(port: int, proxy: Any) -> None:
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix=redis_prefix, lean=lean)
        try:
            now = time.time()
            await store.acreate("old", {"cart": b"3"}, meta(now))
            proxy.arm(b"take")
            assert await store.arotate("old", "new", {"cart": b"3"}, meta(now), require_live=True)
            assert proxy.cuts == 1
            loaded = await store.aload("new", now=time.time(), idle_seconds=600)
            assert loaded is not None and loaded.data == {"cart": b"3"}
        finally:
            await store.aclose()

    with lost_reply_proxy() as proxy:
        asyncio.run(scenario(proxy.port, proxy))


def test_a_revocation_sent_again_is_reported_and_audited(lean: bool, redis_prefix: str) -> None:
    with through_proxy(redis_prefix, lean) as (proxy, store):
        store.create("s1", {"a": b"1"}, meta(time.time()))
        manager = SessionManager(store)
        proxy.arm(b"revoke")
        assert manager.revoke("s1", actor="ops@example.com") is True
        assert proxy.cuts == 1
        assert [(e.action, e.session_id) for e in manager.audit_log()] == [("revoke", "s1")]
        proxy.arm(b"LPUSH")  # the audit entry's own reply lost: still one entry
        manager.reveal("s1", actor="ops@example.com", reason="ticket 7")
        assert proxy.cuts == 2
        assert [e.action for e in manager.audit_log()] == ["reveal", "revoke"]
        assert [e.action for e in manager.audit_log(limit=2)] == ["reveal", "revoke"]
        assert [e.action for e in manager.audit_log(limit=1)] == ["reveal"]
        assert manager.revoke("s1", actor="ops@example.com") is False  # a second one


def test_an_async_revocation_sent_again_is_reported_and_audited(redis_prefix: str) -> None:
    async def scenario(port: int, proxy: Any) -> None:
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix=redis_prefix)
        try:
            await store.acreate("s1", {"a": b"1"}, meta(time.time()))
            manager = AsyncSessionManager(store)
            proxy.arm(b"revoke")
            assert await manager.revoke("s1", actor="ops@example.com") is True
            assert proxy.cuts == 1
            assert [e.session_id for e in await manager.audit_log()] == ["s1"]
        finally:
            await store.aclose()

    with lost_reply_proxy() as proxy:
        asyncio.run(scenario(proxy.port, proxy))


class _Driven:
    """RedisFlows driven against the real Redis one call at a time, so that a test can
    hold a call back past its deadline: what a slow node of a cluster, or a pause of
    one server between two pipelined calls, does."""

    def __init__(self, prefix: str, *, single_node: bool) -> None:
        import redis

        from sessionware.stores.redis_flows import RedisFlows
        from sessionware.stores.redis_scripts import INDEX, RECORD, SESSION

        self.client = redis.Redis.from_url(REDIS_URL)
        for script in (RECORD, INDEX, SESSION):
            self.client.script_load(script.source)
        self.prefix = prefix
        self.flows = RedisFlows(prefix, 3600, 100, single_node=single_node)
        self.flows.give_up_after = 0.4  # a deadline 0.2 s after each call is built
        seconds, micros = self.client.time()
        self.flows.clock_offset = seconds + micros / 1e6 - time.monotonic() - 0.01

    def run(self, step: Any, late: Any = lambda index, call: False) -> list[Any]:
        replies = []
        for index, call in enumerate(step):
            if late(index, call):
                time.sleep(0.3)
            replies.append(self.client.execute_command(*call.args))
        return replies

    def drive(self, flow: Any, step: Any = None, late: Any = lambda index, call: False) -> Any:
        step = next(flow) if step is None else step
        try:
            while True:
                step = flow.send(self.run(step, late))
        except StopIteration as done:
            return done.value

    def close(self) -> None:
        for key in self.client.scan_iter(f"{self.prefix}*"):
            self.client.delete(key)
        self.client.close()


def test_a_rotation_whose_new_record_came_too_late_and_reply_was_lost_keeps_the_session(
    redis_prefix: str,
) -> None:
    """Its take ran in time, its create just after the deadline (-2), and the reply
    was lost: sent again, the take answers "taken before" (3) and the create -2
    again, and the rotation returned False with the old record gone and no new one:
    the user signed out. The create is now sent once more with no deadline."""
    driven = _Driven(redis_prefix, single_node=True)
    try:
        now = time.time()
        driven.drive(driven.flows.create("old", {"k": b"v"}, meta(now)))
        flow = driven.flows.rotate("old", "new", {"k": b"v"}, meta(now + 1), True)
        step = next(flow)
        assert driven.run(step, lambda index, call: index == 1)[1] == -2  # reply lost
        assert driven.drive(flow, step) is True  # the retry redis-py sends, and on
        later = time.time()
        loaded = driven.drive(driven.flows.load("new", later, 600))
        assert loaded is not None and loaded.data == {"k": b"v"}
        assert driven.drive(driven.flows.get_meta("old", later)) is None
    finally:
        driven.close()


@pytest.mark.parametrize("old", ["gone", "live"])
def test_a_rotation_not_requiring_a_live_record_whose_new_one_came_too_late_still_makes_it(
    redis_prefix: str, old: str
) -> None:
    """A rotation with require_live=False (a login written after clear()): its take in
    time, its create just after the deadline (-2). With the old record gone already it
    returned True with no new record written, so the login was lost without an error."""
    driven = _Driven(redis_prefix, single_node=True)
    try:
        now = time.time()
        if old == "live":
            driven.drive(driven.flows.create("old", {"k": b"v"}, meta(now)))
        flow = driven.flows.rotate("old", "new", {"cart": b"1"}, meta(now + 1), False)
        assert driven.drive(flow, late=lambda index, call: index == 1) is True
        loaded = driven.drive(driven.flows.load("new", time.time(), 600))
        assert loaded is not None and loaded.data == {"cart": b"1"}
    finally:
        driven.close()


@pytest.mark.parametrize("change", ["logout", "login"])
def test_on_a_cluster_a_late_record_call_never_leaves_a_live_session_unlisted(
    redis_prefix: str, change: str
) -> None:
    """On a cluster a record's call and its index's run on two nodes, and one may be
    late alone: with a deadline on each, a logout answered 503 left its live session
    out of the user index for good (revoke_user never found it again), and a login
    likewise. There, these carry no deadline: the index follows the record."""
    driven = _Driven(redis_prefix, single_node=False)

    def record_late(index: int, call: Any) -> bool:
        return call.script is not None and call.script.name == "record"

    try:
        now = time.time()
        ada = dataclasses.replace(meta(now), user="ada")
        driven.drive(driven.flows.create("old", {"k": b"v"}, ada))
        if change == "logout":
            driven.drive(driven.flows.delete("old"), late=record_late)
        else:
            moved = dataclasses.replace(ada, updated_at=now + 1)
            flow = driven.flows.rotate("old", "new", {"k": b"v"}, moved, True)
            driven.drive(flow, late=record_late)
        later = time.time()
        found = {i: driven.drive(driven.flows.get_meta(i, later)) for i in ("old", "new")}
        live = {i for i, info in found.items() if info is not None and info.status == "active"}
        listed = set(driven.drive(driven.flows.user_session_ids("ada", later)))
        assert live == listed == ({"new"} if change == "login" else set()), (live, listed)
    finally:
        driven.close()


@pytest.mark.parametrize("refusal", ["too large", "too late"])
def test_on_a_cluster_a_refused_save_leaves_the_session_filed_under_its_user(
    redis_prefix: str, refusal: str
) -> None:
    """On a cluster a save's record and index calls run on two nodes at once: a save
    that changes the user and is refused (over the cap, or run after its deadline)
    moved the index to the new user while the record kept the old one, so that
    revoke_user of the old user missed a live session."""
    driven = _Driven(redis_prefix, single_node=False)

    def record_late(index: int, call: Any) -> bool:
        return refusal == "too late" and call.script is not None and call.script.name == "record"

    try:
        now = time.time()
        driven.drive(
            driven.flows.create("s1", {"a": b"1"}, dataclasses.replace(meta(now), user="ada"))
        )
        big = b"x" * (100 if refusal == "too large" else 1)
        change = Changes(set={"big": big}, user="bob", updated_at=now + 1, max_size_bytes=50)
        expected = SessionTooLarge if refusal == "too large" else StoreUnavailable
        with pytest.raises(expected):
            driven.drive(driven.flows.save("s1", change), late=record_late)
        later = time.time()
        info = driven.drive(driven.flows.get_meta("s1", later))
        assert info is not None and info.user == "ada"
        assert driven.drive(driven.flows.user_session_ids("ada", later)) == ["s1"]
        assert driven.drive(driven.flows.user_session_ids("bob", later)) == []
    finally:
        driven.close()


@pytest.mark.parametrize("kind", ["blind write", "create"])
def test_a_first_write_before_any_load_still_has_a_deadline(redis_prefix: str, kind: str) -> None:
    """The server's clock was learned from loads only: a worker whose first requests
    only wrote (a blind write, a new session) sent them with no deadline, so a write
    answered 503 (the server paused past the client's timeout) applied when it resumed."""
    driven = _Driven(redis_prefix, single_node=True)
    driven.flows.clock_offset = None  # a fresh process: nothing loaded yet
    try:
        now = time.time()
        if kind == "blind write":
            driven.drive(driven.flows.create("s1", {"a": b"1"}, meta(now)))
            driven.flows.clock_offset = None
            flow = driven.flows.write("s1", BlindWrite({"b": b"2"}, now, 600.0, 10_000))
        else:
            flow = driven.flows.create("s1", {"b": b"2"}, meta(now))
        with pytest.raises(StoreUnavailable, match="after its client had given up"):
            driven.drive(flow, late=lambda index, call: call.script is not None)
        loaded = driven.drive(driven.flows.load("s1", time.time(), 600))
        assert (loaded.data if loaded else {}).get("b") is None
    finally:
        driven.close()


@pytest.mark.parametrize("moment", [1, 2, 3])
def test_on_a_cluster_a_refused_saves_user_put_back_never_undoes_a_later_save(
    redis_prefix: str, moment: int
) -> None:
    """The put-back of a refused save's user index entry (ada -> bob refused) raced
    another request's accepted save (-> carl): writing ada back filed a live carl
    session under ada, so revoke_user("carl") missed it. The entry is put back only
    while it still names the refused user. The other save runs after call
    ``moment`` of the refused one's: its record call, its index call, its look at
    the record (before the put-back)."""
    driven = _Driven(redis_prefix, single_node=False)
    try:
        now = time.time()
        ada = dataclasses.replace(meta(now), user="ada")
        driven.drive(driven.flows.create("s1", {"a": b"1"}, ada))
        refused = Changes(
            set={"big": b"x" * 100}, user="bob", updated_at=now + 1, max_size_bytes=50
        )
        accepted = Changes(set={"n": b"1"}, user="carl", updated_at=now + 2, max_size_bytes=5000)
        flow, done = driven.flows.save("s1", refused), 0
        step = next(flow)
        with pytest.raises(SessionTooLarge):
            while True:
                replies = []
                for call in step:
                    replies.append(driven.client.execute_command(*call.args))
                    done += 1
                    if done == moment:
                        assert driven.drive(driven.flows.save("s1", accepted)) is True
                step = flow.send(replies)
        later = time.time()
        info = driven.drive(driven.flows.get_meta("s1", later))
        assert info is not None and info.user == "carl"
        listed = {
            user: driven.drive(driven.flows.user_session_ids(user, later))
            for user in ("ada", "bob", "carl")
        }
        assert listed == {"ada": [], "bob": [], "carl": ["s1"]}
    finally:
        driven.close()


@pytest.mark.parametrize(
    ("answer", "for_good"),
    [
        ("BUSY Redis is busy running a script.", False),
        ("LOADING Redis is loading the dataset in memory", False),
        ("this user has no permissions to run the 'eval' command", True),
        ("ERR unknown command 'EVAL', with args beginning with: ", True),
    ],
)
def test_the_clock_question_is_given_up_only_when_the_server_will_never_answer_it(
    redis_prefix: str, answer: str, for_good: bool
) -> None:
    """Any error gave it up for the life of the process: one BUSY on a worker's first
    write left every later write without a deadline."""
    import redis

    driven = _Driven(redis_prefix, single_node=True)
    driven.flows.clock_offset = None
    try:
        flow = driven.flows.create("s1", {"a": b"1"}, meta(time.time()))
        (question,) = next(flow)
        assert question.args[0] == "EVAL"
        step = flow.send([redis.ResponseError(answer)])  # the create goes on, undated
        assert driven.flows._no_clock is for_good
        driven.drive(flow, step)
        assert driven.drive(driven.flows.load("s1", time.time(), 600)) is not None
    finally:
        driven.close()
