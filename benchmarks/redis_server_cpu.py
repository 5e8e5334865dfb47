"""The Redis server's CPU per session operation: functions (FCALL) against scripts.

One session (3 keys, a device record) is loaded, saved (one key changed) and
written blind, 1,000 times per repetition, through a ``RedisStore`` that calls
its Lua code as Redis functions (``from_url``'s default on a single server)
and through one that sends scripts (``lean=False``: redis-py, EVALSHA). The
server's own accounting (``INFO commandstats``: microseconds spent in FCALL or
EVALSHA) divided by the calls gives the time per operation; repetitions
alternate between the two stores, and the median is reported. The shared
server's other clients add to the counts only if they run the same commands.

Keys go under this run's own prefix and are deleted after.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import redis

from sessionware import RedisStore, devices
from sessionware.cookies import new_token, public_id
from sessionware.stores.base import BlindWrite, Changes, Meta

from .redis_keys import delete_prefix
from .report import table

CALLS = 1000
REPS = 5
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def a_session(store: RedisStore) -> str:
    """A live 3-key session with a Chrome device record, written through ``store``."""
    now = time.time()
    session_id = public_id(new_token())
    device = devices.created(devices.current(CHROME, "203.0.113.7"))
    data = {"user_id": b"\xce\x00\x01\x86\xa0", "cart": b"\x92\xa5sku-1\xa5sku-2"}
    data["email"] = b"\xafu1@example.com"
    meta = Meta(now, now, now, now + 3600, user="100000", email="u1@example.com")
    meta.size_bytes, meta.attribute_count, meta.device = 60, 3, device
    store.create(session_id, data, meta)
    return session_id


def _operations(store: RedisStore, session_id: str) -> dict[str, Callable[[], Any]]:
    def load() -> Any:
        return store.load(session_id, now=time.time(), idle_seconds=3600.0)

    def save() -> Any:
        change = Changes(set={"cart": b"\x91\xa5sku-3"}, updated_at=time.time(), size_bytes=60)
        change.max_size_bytes, change.user, change.email = 65536, "100000", "u1@example.com"
        return store.save(session_id, change)

    def write() -> Any:
        return store.write(session_id, BlindWrite({"seen": b"\x01"}, time.time(), 3600.0, 65536))

    return {"load": load, "save": save, "write (blind)": write}


def _spent(admin: redis.Redis, command: str) -> tuple[int, int]:
    stats = admin.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def run(redis_url: str, prefix: str, report: Callable[[str], None]) -> None:
    admin = redis.Redis.from_url(redis_url)
    stores = {
        "functions (FCALL)": (RedisStore.from_url(redis_url, prefix=prefix + "f:"), "fcall"),
        "scripts (EVALSHA)": (
            RedisStore.from_url(redis_url, prefix=prefix + "s:", lean=False),
            "evalsha",
        ),
    }
    try:
        operations = {}
        for name, (store, _) in stores.items():
            operations[name] = _operations(store, a_session(store))
            for run_once in operations[name].values():  # load the code, warm up
                run_once()
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(REPS):
            for name, (_, command) in stores.items():
                for operation, run_once in operations[name].items():
                    calls0, usec0 = _spent(admin, command)
                    for _ in range(CALLS):
                        run_once()
                    calls1, usec1 = _spent(admin, command)
                    per_call = (usec1 - usec0) / max(1, calls1 - calls0)
                    samples.setdefault((name, operation), []).append(per_call)
        names = list(stores)
        columns = list(operations[names[0]])
        rows = [
            [name, *(f"{statistics.median(samples[(name, op)]):.1f}" for op in columns)]
            for name in names
        ]
        report(table(["Lua code run as", *(f"{op} (µs)" for op in columns)], rows))
    finally:
        for store, _ in stores.values():
            store.close()
        delete_prefix(redis_url, prefix)
