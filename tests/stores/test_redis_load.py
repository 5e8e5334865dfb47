"""RedisStore's load: the script judges and slides the record, an HGETALL in the same round
trip reads the data (a value never passes through Lua). Another client may act between
the two commands; these tests make it do so, on the real server, by running the load's
commands one by one and changing the session in between."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from sessionware import RedisStore
from sessionware.stores.base import Changes, Meta, StoredSession
from sessionware.stores.redis_flows import Call

from ..conftest import REDIS_URL


@pytest.fixture
def store(redis_prefix: str) -> Iterator[RedisStore]:
    made = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    yield made
    made.close()


@pytest.fixture
def raw() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def run(raw: redis.Redis, calls: list[Call]) -> list[Any]:
    """Each call on the server as redis-py sends it (an HGETALL comes back as a dict)."""
    replies: list[Any] = []
    for call in calls:
        try:
            try:
                replies.append(raw.execute_command(*call.args))
            except redis.exceptions.NoScriptError:
                assert call.script is not None
                raw.script_load(call.script.source)
                replies.append(raw.execute_command(*call.args))
        except redis.ResponseError as error:
            replies.append(error)
    return replies


def interleaved(store: RedisStore, raw: redis.Redis, session_id: str, between: Any) -> Any:
    """Load ``session_id`` with ``between()`` run after the script, before the HGETALL."""
    flow = store._flows.load(session_id, time.time(), 60)
    calls = next(flow)
    assert isinstance(calls, list) and calls[-1].args[0] == "HGETALL"
    first = run(raw, calls[:-1])
    between()
    last = run(raw, calls[-1:])
    with pytest.raises(StopIteration) as stopped:
        flow.send(first + last)
    return stopped.value.value


def created(store: RedisStore) -> str:
    now = time.time()
    meta = Meta(now, now, now, now + 60, size_bytes=2, max_size_bytes=2)
    store.create("s1", {"a": b"1"}, meta)
    return "s1"


def test_the_data_is_read_by_a_second_command_of_the_same_round_trip(
    store: RedisStore, raw: redis.Redis
) -> None:
    session_id = created(store)
    loaded = interleaved(store, raw, session_id, lambda: None)
    assert isinstance(loaded, StoredSession) and loaded.data == {"a": b"1"}


def test_a_session_ended_between_the_commands_loads_as_none(
    store: RedisStore, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = created(store)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        loaded = interleaved(store, raw, session_id, lambda: store.delete(session_id))
    assert loaded is None and not caplog.records  # ended, not corrupt
    assert store.load(session_id, now=time.time(), idle_seconds=60) is None


def test_a_save_between_the_commands_is_read(store: RedisStore, raw: redis.Redis) -> None:
    session_id = created(store)
    change = Changes(set={"a": b"2", "b": b"3"}, removed=[], updated_at=time.time(), size_bytes=4)
    loaded = interleaved(store, raw, session_id, lambda: store.save(session_id, change))
    assert loaded.data == {"a": b"2", "b": b"3"}


def test_a_data_key_of_the_wrong_type_is_corrupt(
    store: RedisStore, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = created(store)
    data_key = store._flows._keys(session_id)[0]

    def clobber() -> None:
        raw.delete(data_key)
        raw.set(data_key, "not a hash")

    with caplog.at_level(logging.WARNING, logger="sessionware"):
        loaded = interleaved(store, raw, session_id, clobber)
    assert loaded is None
    assert any("corrupt" in record.getMessage() for record in caplog.records)


def test_a_large_value_loads_whole(store: RedisStore) -> None:
    now = time.time()
    blob = b"\xd9" + bytes(range(256)) * 240  # 61 KB, every byte value
    meta = Meta(now, now, now, now + 60, size_bytes=len(blob) + 4, max_size_bytes=len(blob) + 4)
    store.create("big", {"blob": blob}, meta)
    for _ in range(2):  # the first load slides the record; the second reads the slid one
        loaded = store.load("big", now=time.time(), idle_seconds=60)
        assert loaded is not None and loaded.data == {"blob": blob}
