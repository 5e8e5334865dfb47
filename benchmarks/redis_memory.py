"""``python -m benchmarks --section memory``: the Redis memory one session costs.

2,000 sessions of 3 keys (a user id, a two-item cart, an email), each of its
own user and with the device record the middleware writes (a Chrome
User-Agent), are created through ``RedisStore.create``; then ``MEMORY USAGE key
SAMPLES 0`` (every element counted) is summed over each kind of key and divided
by the number of sessions: a session's own keys, and its share of the
management indexes; then again after one load of each (a request records its
last activity and refreshes the activity index). starsessions' equivalent is
the same 3 keys as one JSON string (its ``JsonSerializer``: ``json.dumps``)
under a 32-hex-digit id with a TTL, as its ``RedisStore`` writes it, set here
directly.

Every key goes under this run's own random prefix (``swm<8 hex digits>:``, as
long as RedisStore's default ``sessionware:``), and only those are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from sessionware import RedisStore, codec, devices
from sessionware.cookies import new_token, public_id
from sessionware.stores.base import Meta

from . import redis_server_cpu
from .redis_keys import delete_prefix
from .redis_server_cpu import CHROME
from .report import table

REDIS_URL = os.environ.get("SESSIONWARE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SESSIONS = 2000
IDLE = 14 * 24 * 3600.0  # a two-week sliding session
KINDS = ("data", "meta", "index act", "index end", "index info", "user zset", "other")


def _values(i: int) -> dict[str, Any]:
    return {"user_id": 100_000 + i, "cart": ["sku-1", "sku-2"], "email": f"u{i}@example.com"}


def _kind(key: str, prefix: str) -> str:
    rest = key[len(prefix) :]
    if rest.endswith("}:d"):
        return "data"
    if rest.endswith("}:m"):
        return "meta"
    for name in ("act", "end", "info"):
        if rest == "{index}:" + name:
            return "index " + name
    if rest.startswith("{index}:user:"):
        return "user zset"
    return "other"


def _usage(client: redis.Redis, prefix: str) -> dict[str, int]:
    """Bytes per kind of key under ``prefix`` (MEMORY USAGE, every element sampled)."""
    totals = dict.fromkeys(KINDS, 0)
    pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
    for raw in client.scan_iter(match=pattern, count=1000):
        key = raw.decode()
        totals[_kind(key, prefix)] += int(client.memory_usage(raw, samples=0) or 0)
    return totals


def sessionware_usage(
    client: redis.Redis, prefix: str, n: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes by kind of key once created, and again after one load of each session."""
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    device = devices.created(devices.current(CHROME, "203.0.113.7"))
    ids = [public_id(new_token()) for _ in range(n)]
    try:
        for i in range(n):
            now = time.time()
            values = _values(i)
            data = {key: codec.encode(key, value) for key, value in values.items()}
            size = sum(len(value) for value in data.values())
            meta = Meta(
                created_at=now,
                updated_at=now,
                last_activity_at=now,
                expires_at=now + IDLE,
                user=str(values["user_id"]),
                email=values["email"],
                size_bytes=size,
                max_size_bytes=size,
                attribute_count=len(data),
                device=device,
            )
            store.create(ids[i], data, meta)
        created = _usage(client, prefix)
        for session_id in ids:  # a request: last activity and the index refresh recorded
            store.load(session_id, now=time.time(), idle_seconds=IDLE)
        return created, _usage(client, prefix)
    finally:
        store.close()


def starsessions_usage(client: redis.Redis, prefix: str, n: int) -> int:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(prefix + secrets.token_hex(16), json.dumps(_values(i)), ex=int(IDLE))
    pipe.execute()
    return sum(_usage(client, prefix).values())


def run(n: int, report: Callable[[str], None]) -> dict[str, tuple[float, float]]:
    """Measure and report; bytes per session by kind (``"total"``, ``"starsessions"``),
    once created and after a load."""
    run_id = uuid.uuid4().hex[:8]  # prefixes as long as RedisStore's default, "sessionware:"
    ours, theirs = f"swm{run_id}:", f"sws{run_id}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        created, loaded = sessionware_usage(client, ours, n)
        starsessions = starsessions_usage(client, theirs, n)
    finally:
        delete_prefix(REDIS_URL, ours)
        delete_prefix(REDIS_URL, theirs)
        client.close()
    per = {k: (created[k] / n, loaded[k] / n) for k in KINDS if created[k] or loaded[k]}
    per["total"] = (sum(created.values()) / n, sum(loaded.values()) / n)
    per["starsessions"] = (starsessions / n, starsessions / n)
    labels = {"total": "**sessionware total**", "starsessions": "starsessions (one JSON string)"}
    rows = [
        [labels.get(k, f"sessionware {k}"), f"{new:,.0f}", f"{used:,.0f}"]
        for k, (new, used) in per.items()
    ]
    report(table(["key kind", "bytes per session, created", "after one load"], rows))
    return per


def section(settings: Any) -> None:
    """The ``memory`` section of ``python -m benchmarks``."""
    print("## Redis memory per session\n", flush=True)
    print(
        f"> {SESSIONS:,} sessions of 3 keys (user id, cart, email), each its own user, with a "
        "device record, created through `RedisStore.create`; `MEMORY USAGE key SAMPLES 0` "
        "summed per kind of key, divided by the sessions (indexes shared). starsessions: "
        "the same keys as its RedisStore writes them, one JSON string with a TTL. Both under a "
        "12-character key prefix, as long as sessionware's default.\n"
    )
    run(SESSIONS, print)
    print()
    print("## Redis server CPU per session operation\n", flush=True)
    print(
        f"> `INFO commandstats` (µs the server spent in FCALL or EVALSHA) over "
        f"{redis_server_cpu.CALLS:,} calls of each operation on one 3-key session, median of "
        f"{redis_server_cpu.REPS} interleaved repetitions: the Lua code as Redis functions "
        "(`from_url`'s default on a single server) and as scripts (`lean=False`). A GET or "
        "a SET, what starsessions sends, costs the server about 1 µs.\n"
    )
    redis_server_cpu.run(REDIS_URL, f"swc{uuid.uuid4().hex[:8]}:", print)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    args = parser.parse_args()
    run(args.sessions, print)


if __name__ == "__main__":
    main()
