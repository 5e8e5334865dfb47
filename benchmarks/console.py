"""The session console's server time over many sessions on Redis.

    python -m benchmarks.console                  # 100,000 sessions, 9 repetitions
    python -m benchmarks.console --sessions 10000 --reps 5

Sessions are written through the store's public ``create`` (as in the
management section), under a fresh key prefix that is deleted afterwards. Each
repetition then times, round-robin and after ``gc.collect()``, the console's
pages called in-process through ASGI (a hand-made scope; from the call to the
last body byte, so routing, the store round trips, templates and the security
headers are all inside) next to the bare ``AsyncSessionManager.list`` call the
first page makes. The analytics page reads every session's metadata, a page of
1000 at a time, and a search makes the store read every candidate's metadata
(only the default listing is indexed): both are timed on their own, fewer
times. Prints a Markdown table of medians in milliseconds; a call that fails
(e.g. the store's socket timeout) is reported as failed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .manage import populate
from .redis_keys import delete_prefix, unavailable_reason

REDIS_URL = "redis://127.0.0.1:6379/0"


async def page(app: Any, path: str, query: str = "") -> tuple[int, int]:
    """GET ``path`` from the console as an admin; (status, body bytes)."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"bench"), (b"x-operator", b"bench")],
        "client": ("127.0.0.1", 1),
    }
    status, size = 0, 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1e3


async def run(sessions: int, reps: int, analytics_reps: int) -> None:
    from sessionware import AsyncSessionManager, RedisStore
    from sessionware.admin import AdminConsole, Operator

    prefix = f"swbench-console:{time.time_ns()}:"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        seconds = populate(store, sessions)
        manager = AsyncSessionManager(store)
        console = AdminConsole(store, authorize=lambda request: Operator("bench", "admin"))
        first = (await manager.list(page_size=1)).items[0].id
        for path, query in (("/", ""), ("/", "size=100"), ("/session", f"id={first}")):
            status, _ = await page(console, path, query)
            assert status == 200, (path, query, status)
        cells: dict[str, Callable[[], Awaitable[Any]]] = {
            "manager.list(page 1, 25 rows)": lambda: manager.list(page_size=25),
            "console page 1 (25 rows)": lambda: page(console, "/"),
            "console page 1 (100 rows)": lambda: page(console, "/", "size=100"),
            "console page 2 (25 rows)": lambda: page(console, "/", "page=2"),
            "console session detail": lambda: page(console, "/session", f"id={first}"),
        }
        times: dict[str, list[float]] = {name: [] for name in cells}
        names = list(cells)
        for rep in range(reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                times[name].append(await timed(cells[name]))
        slow: dict[str, Callable[[], Awaitable[Any]]] = {
            "console analytics": lambda: page(console, "/analytics"),
            "console search q=user42": lambda: page(console, "/", "q=user42"),
        }
        failed: dict[str, str] = {}
        for name, call in slow.items():
            label = f"{name} ({analytics_reps} runs)"
            try:
                times[label] = [await timed(call) for _ in range(analytics_reps)]
            except Exception as error:  # report it, keep the table
                failed[label] = f"{type(error).__name__}: {str(error)[:120]}"
        print(f"## Console server time: {sessions:,} sessions on Redis\n")
        print(f"Populated in {seconds:.1f} s. Medians of {reps} interleaved repetitions.\n")
        print("| call | median ms | min ms | max ms |\n|---|---:|---:|---:|")
        for name, values in times.items():
            print(
                f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} "
                f"| {max(values):.1f} |"
            )
        for name, reason in failed.items():
            print(f"| {name} | failed: {reason} | | |")
    finally:
        await store.aclose()
        store.close()
        delete_prefix(REDIS_URL, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--analytics-reps", type=int, default=3)
    args = parser.parse_args()
    reason = unavailable_reason(REDIS_URL)
    if reason:
        raise SystemExit(f"needs Redis at {REDIS_URL}: {reason}")
    asyncio.run(run(args.sessions, args.reps, args.analytics_reps))


if __name__ == "__main__":
    main()
