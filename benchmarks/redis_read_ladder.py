"""``python -m benchmarks.redis_read_ladder``: where the time of one Redis read goes.

One live session (3 keys and a device record, created through ``RedisStore``) is
read over the asyncio path a Starlette or FastAPI app uses, and each rung of the
ladder adds one part of what ``RedisStore.aload`` does, so that the difference
between two rungs is that part's cost:

1. ``GET`` of a 200-byte value over the store's lean connection
   (``redis_wire.WireClient``): a round trip with nothing else in it;
2. ``GET`` of the meta record and ``HGETALL`` of the data: the load's two
   commands with no Lua;
3. the load's own ``FCALL`` and ``HGETALL``, with a quiet window (the
   client-side cache's: within it a load writes nothing), so the function only
   reads and judges the record;
4. the load's ``FCALL`` and ``HGETALL`` exactly as the store sends them: the
   function also slides the record (its header, both keys' expiry);
5. ``RedisStore.aload``: rung 4 plus building the call and parsing the reply;
6. ``aload`` against replies kept from a real call (no I/O at all): the
   store's Python alone;
7. ``GET`` through redis-py's asyncio client: the kind of round trip
   starsessions makes twice per read (a ``GET``, then a ``SET`` of the whole
   session, which it saves on every request that loaded it).

Rungs 3 and 4 send commands built before the timed loop, one per call with the
clock advancing, so that every call of rung 4 slides the record as a real
request would. Each round runs every rung once, in an order shuffled afresh
(seeded, so that runs repeat it); each cell is the median over rounds of wall
time and of this process's CPU (``time.process_time``) per call, and what a
rung adds to the one above is the median of that difference within each round
(drift shared by a round cancels). The server is shared: wall times carry its noise.

Keys: only under ``bench-ladder:<random>:``, unlinked at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from sessionware.stores.redis import RedisStore
from sessionware.stores.redis_wire import WireClient, wire_options

from .redis_keys import delete_prefix, server_version, unavailable_reason
from .redis_server_cpu import a_session
from .report import table

DEFAULT_URL = "redis://127.0.0.1:6379/0"
IDLE_SECONDS = 1800.0
RUNGS = (
    "1 GET, lean connection",
    "2 GET + HGETALL (no Lua)",
    "3 load FCALL, quiet (no writes) + HGETALL",
    "4 load FCALL + HGETALL, as sent",
    "5 RedisStore.aload",
    "6 aload's Python alone (no I/O)",
    "7 GET, redis-py asyncio",
)

Op = Callable[[], Awaitable[Any]]


class _Loads:
    """Load commands built ahead, one per call, the clock advancing 1 µs a call."""

    def __init__(self, store: RedisStore, session_id: str, quiet: float | None) -> None:
        self.store, self.session_id, self.quiet = store, session_id, quiet
        self.commands: list[list[tuple[Any, ...]]] = []

    def refill(self, calls: int) -> None:
        start = time.time()
        self.commands = [self._commands(start + i * 1e-6) for i in range(calls)][::-1]

    def _commands(self, now: float) -> list[tuple[Any, ...]]:
        flow = self.store._flows.load(self.session_id, now, IDLE_SECONDS, self.quiet)
        step = next(flow)
        flow.close()
        assert isinstance(step, list)
        return self.store._lean.commands(step)


async def _ladder(url: str, prefix: str) -> tuple[dict[str, Op], Callable[[int], None], Any]:
    """The rungs' operations, a function that prepares ``n`` calls of each, and a closer."""
    settings = wire_options(url, {"socket_timeout": 2.0, "socket_connect_timeout": 2.0})
    assert settings is not None, "the lean connection does not take this URL"
    wire = WireClient(settings)
    store = RedisStore.from_url(url, prefix=prefix)  # lean: the store's default
    offline = RedisStore.from_url(url, prefix=prefix)
    peer = redis.asyncio.Redis.from_url(url)
    session_id = a_session(store)  # (its own expiry; the loads slide it by IDLE_SECONDS)
    value_key = f"{prefix}get"
    await wire.execute([("SET", value_key, secrets.token_bytes(100).hex(), "EX", 600)])
    data_key, meta_key = store._flows._keys(session_id)[:2]
    if await store.aload(session_id, now=time.time(), idle_seconds=IDLE_SECONDS) is None:
        raise SystemExit("the session did not load: nothing to measure")

    # rung 6: a store whose connection answers from a reply kept from a real call
    kept: list[Any] = []
    offline_wire = offline._wire()
    assert offline_wire is not None, "the store did not take the lean connection"
    real_execute = offline_wire.execute

    async def keep(commands: list[tuple[Any, ...]]) -> list[Any]:
        replies = await real_execute(commands)
        kept[:] = replies
        return replies

    async def canned(commands: list[tuple[Any, ...]]) -> list[Any]:
        return kept

    offline_wire.execute = keep  # type: ignore[method-assign]
    await offline.aload(session_id, now=time.time(), idle_seconds=IDLE_SECONDS)
    offline_wire.execute = canned  # type: ignore[method-assign]

    quiet = _Loads(store, session_id, quiet=3600.0)
    sliding = _Loads(store, session_id, quiet=None)

    async def get() -> Any:
        return await wire.execute([("GET", value_key)])

    async def two() -> Any:
        return await wire.execute([("GET", meta_key), ("HGETALL", data_key)])

    async def quiet_load() -> Any:
        return await wire.execute(quiet.commands.pop())

    async def sliding_load() -> Any:
        return await wire.execute(sliding.commands.pop())

    async def aload() -> Any:
        return await store.aload(session_id, now=time.time(), idle_seconds=IDLE_SECONDS)

    async def python_alone() -> Any:
        return await offline.aload(session_id, now=time.time(), idle_seconds=IDLE_SECONDS)

    async def peer_get() -> Any:
        return await peer.get(value_key)

    def prepare(calls: int) -> None:
        quiet.refill(calls)
        sliding.refill(calls)

    async def close() -> None:
        offline_wire.execute = real_execute  # type: ignore[method-assign]
        await wire.aclose()
        await peer.aclose()
        await store.aclose()
        await offline.aclose()
        store.close()
        offline.close()

    ops = [get, two, quiet_load, sliding_load, aload, python_alone, peer_get]
    return dict(zip(RUNGS, ops, strict=True)), prepare, close


async def _check(ops: dict[str, Op], prepare: Callable[[int], None]) -> None:
    """Each rung does what it says: a value, a found session, a live load."""
    prepare(1)
    replies = {name: await op() for name, op in ops.items()}
    for name in RUNGS[2:4]:
        state = replies[name][0][0]
        if int(state) != 1 or not replies[name][1]:
            raise SystemExit(f"{name}: the load did not find the session: {replies[name]!r:.80}")
    for name in RUNGS[4:6]:
        if replies[name] is None:
            raise SystemExit(f"{name}: no session loaded")


async def measure(
    url: str, prefix: str, rounds: int, calls: int
) -> dict[str, list[tuple[float, float]]]:
    """Per rung, one (wall, CPU) pair in µs per call for every round."""
    ops, prepare, close = await _ladder(url, prefix)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in RUNGS}
    try:
        await _check(ops, prepare)
        prepare(20)
        for op in ops.values():  # warm-up
            for _ in range(20):
                await op()
        order, shuffle = list(RUNGS), random.Random(11).shuffle
        for _ in range(rounds):
            shuffle(order)  # no rung always follows the same one
            prepare(calls)
            for name in order:
                op = ops[name]
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    await op()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                results[name].append((wall / calls * 1e6, cpu / calls * 1e6))
    finally:
        await close()
    return results


def _spread(values: list[float]) -> str:
    """Interquartile range over median, in percent: how much the rounds disagreed."""
    if len(values) < 4:
        return "n/a"
    quartiles = statistics.quantiles(values, n=4)
    return f"{(quartiles[2] - quartiles[0]) / statistics.median(values) * 100:.0f}%"


def report(results: dict[str, list[tuple[float, float]]]) -> str:
    """The ladder as a table: each rung's wall time, what it adds to the rung above
    (rungs 2-5, one part each), the spread of its wall times, and the client's CPU."""
    rows = []
    for index, name in enumerate(RUNGS):
        walls = [w for w, _ in results[name]]
        wall, cpu = statistics.median(walls), statistics.median(c for _, c in results[name])
        added = ""
        if 1 <= index <= 4:  # the median of the per-round differences to the rung above
            above = [w for w, _ in results[RUNGS[index - 1]]]
            added = f"{statistics.median(a - b for a, b in zip(walls, above, strict=True)):+.1f}"
        rows.append([name, f"{wall:.1f}", added, _spread(walls), f"{cpu:.1f}"])
    headers = ["rung", "wall (µs)", "wall added", "spread (IQR)", "client CPU (µs)"]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--quick", action="store_true", help="about 2 s instead of about 15")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None, help="calls per rung per round")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    calls = args.calls or (200 if args.quick else 2000)
    reason = unavailable_reason(args.url)
    if reason is not None:
        print(f"skipped: {reason}")
        return 1
    prefix = f"bench-ladder:{secrets.token_hex(4)}:"
    print(f"Redis {server_version(args.url)} at {args.url}; Python {sys.version.split()[0]}")
    print(f"{rounds} interleaved rounds x {calls} calls per rung; medians over rounds\n")
    started = time.perf_counter()
    try:
        results = asyncio.run(measure(args.url, prefix, rounds, calls))
    finally:
        deleted = delete_prefix(args.url, prefix)
    print(report(results))
    print(f"\n({time.perf_counter() - started:.0f} s; {deleted} keys of {prefix} deleted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
