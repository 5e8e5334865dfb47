"""``python -m benchmarks.encryption``: what encryption at rest costs per request.

The same Starlette app under ``SessionMiddleware`` with and without
``encryption=Keyring(...)``, on MemoryStore and the real Redis, called
in-process (``driver_asgi``): a read of a 3-key session with a cookie, and a
write of one key. Variants take turns every 25 requests inside each repetition, so that load
from elsewhere hits them alike; the figures are medians of ``--reps``
repetitions of ``--requests`` requests, in µs per request.
Also prints the bytes a sealed value adds. Redis keys go under their own prefix
and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sessionware import Keyring, MemoryStore, RedisStore, SessionMiddleware

from .driver_asgi import AsgiClient
from .redis_keys import delete_prefix

REDIS_URL = os.environ.get("SESSIONWARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "benchmark-secret-key-0123456789abcdef"
CHUNK = 25  # requests timed per variant in turn, so that a burst of load hits all alike


def app(store: Any, keyring: Keyring | None) -> Any:
    async def login(request: Request) -> Response:
        request.session.update({"user_id": 42, "cart": ["sku-1", "sku-2"], "email": "a@b.c"})
        return PlainTextResponse("ok")

    async def read(request: Request) -> Response:
        return PlainTextResponse(str(request.session.get("user_id")))

    async def write(request: Request) -> Response:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse("ok")

    routes = [Route("/login", login), Route("/read", read), Route("/write", write)]
    return SessionMiddleware(
        Starlette(routes=routes), secret_key=SECRET, store=store, encryption=keyring
    )


async def timed(client: AsgiClient, path: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await client.get(path)
    return (time.perf_counter() - start) / n * 1e6


async def run(reps: int, requests: int, report: Callable[[str], None]) -> None:
    keyring = Keyring([os.urandom(32)])
    sealed_ring = Keyring([os.urandom(32)], sealed=True)
    prefix = f"swbench:enc:{uuid.uuid4().hex[:8]}:"
    stores = {"memory": MemoryStore(), "redis": RedisStore.from_url(REDIS_URL, prefix=prefix)}
    modes = (("plain", None), ("encrypted", keyring), ("sealed", sealed_ring))
    try:
        clients: dict[tuple[str, str], AsgiClient] = {}
        for store_name, store in stores.items():
            for mode, ring in modes:
                client = AsgiClient(app(store, ring))
                await client.get("/login")
                clients[(store_name, mode)] = client
        results: dict[tuple[str, str, str], list[float]] = {}
        chunk = min(CHUNK, requests)
        for rep in range(reps):
            for path in ("/read", "/write"):
                order = list(clients.items())
                order = order[rep % len(order) :] + order[: rep % len(order)]
                spent = dict.fromkeys(clients, 0.0)
                for _ in range(max(1, requests // chunk)):  # fine-grained interleaving
                    for variant, client in order:
                        spent[variant] += await timed(client, path, chunk)
                for (store_name, mode), total in spent.items():
                    value = total / max(1, requests // chunk)
                    results.setdefault((store_name, path, mode), []).append(value)
        report("| store | request | plain µs | encrypted µs | cost | sealed mode µs | cost |")
        report("|---|---|---:|---:|---:|---:|---:|")
        for store_name in stores:
            for path in ("/read", "/write"):
                plain = statistics.median(results[(store_name, path, "plain")])
                cells = [f"| {store_name} | {path[1:]} | {plain:.1f} |"]
                for mode in ("encrypted", "sealed"):
                    value = statistics.median(results[(store_name, path, mode)])
                    cells.append(f" {value:.1f} | {(value / plain - 1) * 100:+.1f}% |")
                report("".join(cells))
        plaintext = b"\xa5hello"
        added = len(keyring.seal("id", "key", plaintext)) - len(plaintext)
        report(f"\nBytes added per value: {added}")
    finally:
        redis_store = stores["redis"]
        assert isinstance(redis_store, RedisStore)
        redis_store.close()
        delete_prefix(REDIS_URL, prefix)


def section(settings: Any) -> None:
    """The ``encryption`` section of ``python -m benchmarks``."""
    print("## Encryption at rest: cost per request (in-process Starlette)\n", flush=True)
    print(
        f"> median of {settings.reps} interleaved repetitions of {settings.requests} requests; "
        "a 3-key session read with its cookie, and a one-key write\n"
    )
    asyncio.run(run(settings.reps, settings.requests, print))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.reps, args.requests, print))


if __name__ == "__main__":
    main()
