"""What ``metrics=True`` costs on the Redis read path, ASGI and WSGI side by side.

    python -m benchmarks.metrics_cost [--reps 15] [--requests 1000]

Two apps per shell on the same Redis server, each under its own prefix: metrics
off and ``metrics=True`` (into a private registry); then the same on MemoryStore,
where the absolute cost per request stands out of the network's noise. A logged-in client reads one
key per request (``/read``: one load, no write). Repetitions are interleaved
(each times both variants, the starting one alternating, after ``gc.collect()``);
the table gives the median µs per request and the ratio. OpenTelemetry is kept
out of the process, so "off" is the unwrapped store.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import uuid
from typing import Any

sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # measure metrics alone

import redis  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from sessionware import (  # noqa: E402
    MemoryStore,
    RedisStore,
    SessionMiddleware,
    WSGISessionMiddleware,
)

from .driver_asgi import AsgiClient  # noqa: E402
from .driver_wsgi import WsgiClient  # noqa: E402
from .settings import DEFAULT_REDIS_URL, SECRET_KEY  # noqa: E402


async def _read(request: Request) -> PlainTextResponse:
    if request.url.path == "/login":
        request.session["user"] = "ada"
    return PlainTextResponse(str(request.session.get("user")))


def asgi_app(store: RedisStore, metrics: bool) -> Any:
    registry = CollectorRegistry() if metrics else None
    app = Starlette(routes=[Route("/read", _read), Route("/login", _read)])
    return SessionMiddleware(
        app, secret_key=SECRET_KEY, store=store, metrics=metrics, registry=registry
    )


def wsgi_app(store: RedisStore, metrics: bool) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["sessionware.session"]
        if environ["PATH_INFO"] == "/login":
            session["user"] = "ada"
        start_response("200 OK", [("content-type", "text/plain")])
        return [str(session.get("user")).encode()]

    registry = CollectorRegistry() if metrics else None
    return WSGISessionMiddleware(
        app, secret_key=SECRET_KEY, store=store, metrics=metrics, registry=registry
    )


async def asgi_batch(client: AsgiClient, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await client.get("/read")
    return time.perf_counter() - start


def wsgi_batch(client: WsgiClient, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        client.get("/read")
    return time.perf_counter() - start


async def measure(reps: int, requests: int, url: str | None) -> dict[tuple[str, str], list[float]]:
    """µs per request for each (shell, variant); ``url=None``: MemoryStore instead of Redis."""
    prefixes = [f"swbench:{uuid.uuid4().hex[:8]}:" for _ in range(4)]
    stores: list[Any] = (
        [MemoryStore() for _ in prefixes]
        if url is None
        else [RedisStore.from_url(url, prefix=p) for p in prefixes]
    )
    asgi = {m: AsgiClient(asgi_app(stores[m], m)) for m in (False, True)}
    wsgi = {m: WsgiClient(wsgi_app(stores[2 + m], m)) for m in (False, True)}
    for m in (False, True):
        await asgi[m].get("/login")
        wsgi[m].get("/login")
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for rep in range(reps):
            order = (False, True) if rep % 2 == 0 else (True, False)
            for metrics in order:
                gc.collect()
                seconds = await asgi_batch(asgi[metrics], requests)
                results.setdefault(("asgi", _name(metrics)), []).append(seconds / requests * 1e6)
            for metrics in order:
                gc.collect()
                seconds = wsgi_batch(wsgi[metrics], requests)
                results.setdefault(("wsgi", _name(metrics)), []).append(seconds / requests * 1e6)
            print(f"repetition {rep + 1}/{reps}", file=sys.stderr)
    finally:
        if url is not None:
            _delete(url, prefixes)
            for store in stores:
                store.close()
    return results


def _delete(url: str, prefixes: list[str]) -> None:
    client = redis.Redis.from_url(url)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.unlink(*keys)


def _name(metrics: bool) -> str:
    return "metrics=True" if metrics else "off"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args()
    print(f"Read path (/read, logged in), median of {args.reps} x {args.requests}\n")
    print("| store | shell | off (µs) | metrics=True (µs) | cost |")
    print("|---|---|---|---|---|")
    for label, url in (("redis", args.redis_url), ("memory", None)):
        results = asyncio.run(measure(args.reps, args.requests, url))
        for shell in ("asgi", "wsgi"):
            off = statistics.median(results[(shell, "off")])
            on = statistics.median(results[(shell, "metrics=True")])
            cost = f"{on - off:+.1f} µs, {(on / off - 1) * 100:+.1f}%"
            print(f"| {label} | {shell} | {off:.1f} | {on:.1f} | {cost} |")


if __name__ == "__main__":
    main()
