"""``python -m benchmarks.tokens``: what a bearer request and the token calls cost.

The same Starlette app under ``SessionMiddleware``, once with cookies and once
with ``bearer=True`` and a token from ``SessionManager.generate``, on MemoryStore
and the real Redis, called in-process (``driver_asgi``): a read of a 3-key
session, and a write of one key. Variants alternate inside every repetition;
figures are medians of ``--reps`` repetitions of ``--requests`` requests, in µs.
Then the manager's ``generate``, ``decrypt`` and ``refresh`` (each refresh uses
the pair the previous one returned), in µs per call. Redis keys go under their
own prefix and are deleted at the end.
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

from sessionware import MemoryStore, RedisStore, SessionManager, SessionMiddleware

from .driver_asgi import AsgiClient
from .redis_keys import delete_prefix

REDIS_URL = os.environ.get("SESSIONWARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "benchmark-secret-key-0123456789abcdef"
PAYLOAD = {"userId": "user_123", "email": "a@b.c", "role": "member"}
USER_SESSION = {
    "name": "User session",
    "schema": {"userId": "string", "email": "string", "role": "string"},
    "selector": "$Session{userId}",
    "expiry": 7,
    "period": "days",
}


def app(store: Any, bearer: bool) -> Any:
    async def login(request: Request) -> Response:
        request.session.update(PAYLOAD)
        return PlainTextResponse("ok")

    async def read(request: Request) -> Response:
        return PlainTextResponse(str(request.session.get("userId")))

    async def write(request: Request) -> Response:
        request.session["role"] = "member" if request.session.get("role") != "member" else "x"
        return PlainTextResponse("ok")

    routes = [Route("/login", login), Route("/read", read), Route("/write", write)]
    return SessionMiddleware(
        Starlette(routes=routes), secret_key=SECRET, store=store, bearer=bearer
    )


async def timed(client: AsgiClient, path: str, n: int, extra: Any) -> float:
    start = time.perf_counter()
    for _ in range(n):
        response = await client.get(path, extra)
        assert response.status == 200, response
    return (time.perf_counter() - start) / n * 1e6


def per_call(call: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


def manager_costs(manager: SessionManager, reps: int, n: int) -> list[float]:
    """Median µs per generate, decrypt and refresh call over ``reps`` batches of ``n``."""
    calls: dict[str, list[float]] = {"generate": [], "decrypt": [], "refresh": []}
    pair = [manager.generate("user-session", PAYLOAD)]

    def generate() -> None:
        manager.generate("user-session", PAYLOAD)

    def decrypt() -> None:
        manager.decrypt(pair[0].token)

    def refresh() -> None:
        pair[0] = manager.refresh(pair[0].refresh_token)

    for _ in range(reps):
        for name, call in (("generate", generate), ("decrypt", decrypt), ("refresh", refresh)):
            calls[name].append(per_call(call, n))
    return [statistics.median(calls[name]) for name in ("generate", "decrypt", "refresh")]


async def run(reps: int, requests: int, report: Callable[[str], None]) -> None:
    prefix = f"swbench:tok:{uuid.uuid4().hex[:8]}:"
    stores = {"memory": MemoryStore(), "redis": RedisStore.from_url(REDIS_URL, prefix=prefix)}
    try:
        clients: dict[tuple[str, str], tuple[AsgiClient, Any]] = {}
        managers: dict[str, SessionManager] = {}
        for store_name, store in stores.items():
            manager = managers[store_name] = SessionManager(store, secret_key=SECRET)
            manager.types.create(**USER_SESSION)
            cookie_client = AsgiClient(app(store, bearer=False))
            await cookie_client.get("/login")
            clients[(store_name, "cookie")] = (cookie_client, None)
            token = manager.generate("user-session", PAYLOAD).token
            header = [(b"authorization", f"Bearer {token}".encode())]
            clients[(store_name, "bearer")] = (AsgiClient(app(store, bearer=True)), header)
        results: dict[tuple[str, str, str], list[float]] = {}
        for rep in range(reps):
            for path in ("/read", "/write"):
                order = list(clients.items())
                order = order[rep % len(order) :] + order[: rep % len(order)]
                for (store_name, mode), (client, extra) in order:
                    value = await timed(client, path, requests, extra)
                    results.setdefault((store_name, path, mode), []).append(value)
        report("| store | request | cookie µs | bearer µs | difference |")
        report("|---|---|---:|---:|---:|")
        for store_name in stores:
            for path in ("/read", "/write"):
                cookie = statistics.median(results[(store_name, path, "cookie")])
                bearer = statistics.median(results[(store_name, path, "bearer")])
                report(
                    f"| {store_name} | {path[1:]} | {cookie:.1f} | {bearer:.1f} | "
                    f"{(bearer / cookie - 1) * 100:+.1f}% |"
                )
        report("\n| store | generate µs | decrypt µs | refresh µs |")
        report("|---|---:|---:|---:|")
        for store_name, manager in managers.items():
            figures = manager_costs(manager, reps, requests // 4)
            report(f"| {store_name} | " + " | ".join(f"{f:.1f}" for f in figures) + " |")
    finally:
        redis_store = stores["redis"]
        assert isinstance(redis_store, RedisStore)
        redis_store.close()
        delete_prefix(REDIS_URL, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.reps, args.requests, print))


if __name__ == "__main__":
    main()
