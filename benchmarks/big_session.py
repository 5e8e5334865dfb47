"""``python -m benchmarks.big_session``: a 60 KB session on Redis, sessionware against
starsessions, in-process Starlette (the ASGI driver of the main benchmark).

Each client first stores a session of 60,000 bytes of text (``blob``) plus a user
and a counter, then: ``read`` reads the user (the whole session is loaded by
both layers), ``write`` increments the counter (sessionware writes only that key;
starsessions writes the whole session back). ``sessionware-redis-cached`` has the
client-side cache (``client_cache=True, cache_own_saves=True``): a read is a hit, a
write one round trip that sends only the changed key. Variants alternate within each
repetition; the median of the repetitions is reported, with the ratio to
starsessions-redis. Each variant's keys are under this run's own prefix and are
deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from .driver_asgi import ASGIApp, AsgiClient
from .redis_keys import delete_prefix
from .report import table
from .settings import SECRET_KEY

REDIS_URL = os.environ.get("SESSIONWARE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BLOB = "x" * 60_000


def _app(middleware: list[Middleware]) -> ASGIApp:
    async def login(request: Request) -> PlainTextResponse:
        request.session.update({"user": "alice", "n": 0, "blob": BLOB})
        return PlainTextResponse("ok")

    async def read(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(request.session.get("user")))

    async def write(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    routes = [Route("/login", login), Route("/read", read), Route("/write", write)]
    app: ASGIApp = Starlette(routes=routes, middleware=middleware)
    return app


def _variants(prefix: str) -> dict[str, tuple[ASGIApp, Callable[[], Any]]]:
    from redis.asyncio import Redis
    from starsessions import SessionAutoloadMiddleware
    from starsessions import SessionMiddleware as StarsessionsMiddleware
    from starsessions.stores.redis import RedisStore as StarsessionsStore

    from sessionware import RedisStore, SessionMiddleware

    client = Redis.from_url(REDIS_URL)
    theirs = StarsessionsStore(connection=client, prefix=prefix + "starsessions:")
    ours = RedisStore.from_url(REDIS_URL, prefix=prefix + "sessionware:")
    cached = RedisStore.from_url(
        REDIS_URL, prefix=prefix + "cached:", client_cache=True, cache_own_saves=True
    )
    assert cached.cache is not None and cached.cache.wait_ready(5)
    star = [Middleware(StarsessionsMiddleware, store=theirs), Middleware(SessionAutoloadMiddleware)]
    sw = [Middleware(SessionMiddleware, secret_key=SECRET_KEY, store=ours)]
    swc = [Middleware(SessionMiddleware, secret_key=SECRET_KEY, store=cached)]

    async def close_cached() -> None:
        await cached.aclose()
        cached.close()

    return {
        "starsessions-redis": (_app(star), client.aclose),
        "sessionware-redis": (_app(sw), ours.aclose),
        "sessionware-redis-cached": (_app(swc), close_cached),
    }


async def _run(reps: int, requests: int) -> str:
    prefix = f"swbig{uuid.uuid4().hex[:8]}:"
    variants = _variants(prefix)
    clients = {name: AsgiClient(app) for name, (app, _) in variants.items()}
    try:
        for client in clients.values():
            assert (await client.get("/login")).status == 200
            for path in ("/read", "/write"):  # warm up; and check both keep the session
                assert (await client.get(path)).status == 200
            assert (await client.get("/read")).body == b"alice"
        samples: dict[tuple[str, str], list[float]] = {}
        names = list(clients)
        for rep in range(reps):
            for path in ("/read", "/write"):
                for offset in range(len(names)):
                    name = names[(rep + offset) % len(names)]
                    gc.collect()
                    start = time.perf_counter()
                    for _ in range(requests):
                        await clients[name].get(path)
                    elapsed = (time.perf_counter() - start) / requests * 1e6
                    samples.setdefault((name, path), []).append(elapsed)
        median = {key: statistics.median(values) for key, values in samples.items()}
        rows = []
        for name in names:
            cells = []
            for path in ("/read", "/write"):
                ratio = median[(name, path)] / median[("starsessions-redis", path)]
                cells.append(f"{median[(name, path)]:.1f} ({ratio:.2f}x)")
            rows.append([name, *cells])
        return table(["variant", "read, 60 KB session (µs)", "write one key (µs)"], rows)
    finally:
        for _, close in variants.values():
            await close()
        delete_prefix(REDIS_URL, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print("## A 60 KB session on Redis (in-process Starlette)\n")
    print(
        f"> median of {args.reps} interleaved repetitions of {args.requests} requests; "
        "ratio to starsessions-redis\n"
    )
    print(asyncio.run(_run(args.reps, args.requests)))


if __name__ == "__main__":
    main()
