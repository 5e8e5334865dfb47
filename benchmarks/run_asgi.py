"""The ASGI section: Starlette apps driven in-process on one event loop."""

from __future__ import annotations

import asyncio
import inspect
from importlib import metadata
from time import perf_counter

from . import apps_asgi, section
from .driver_asgi import ASGIApp, AsgiClient, Receive, Scope, Send
from .race import race_asgi
from .redis_count import Counter
from .scenarios import Scenario, Variant
from .settings import Settings


async def _noop_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _batch(app: ASGIApp, scenario: Scenario, n: int, counter: Counter | None) -> float:
    client = AsgiClient(app)
    if scenario.with_cookie:
        await client.get("/login")
    path, jar, fresh = scenario.path, client.jar, not scenario.with_cookie
    failures = 0
    if counter is not None:
        counter.reset()
    start = perf_counter()
    for _ in range(n):
        if fresh:
            jar.clear()
        failures += (await client.get(path)).status != 200
    elapsed = perf_counter() - start
    if failures:
        raise RuntimeError(f"{failures} of {n} requests to {path} failed")
    return elapsed


class AsgiHarness:
    """Runs every coroutine on one event loop kept for the whole section."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clients: dict[str, AsgiClient] = {}

    def batch(
        self, variant: Variant[ASGIApp], scenario: Scenario, n: int, counter: Counter | None
    ) -> float:
        return self.loop.run_until_complete(_batch(variant.app, scenario, n, counter))

    def get(self, variant: Variant[ASGIApp], path: str, fresh: bool) -> str:
        if fresh or variant.name not in self.clients:
            self.clients[variant.name] = AsgiClient(variant.app)
        client = self.clients[variant.name]
        return self.loop.run_until_complete(client.get(path)).text

    def race(self, variant: Variant[ASGIApp], n: int) -> int:
        return self.loop.run_until_complete(race_asgi(variant.app, n))

    def floor(self, n: int) -> float:
        return self.batch(Variant("no-op", _noop_app), Scenario("untouched", False), n, None)

    def close(self, variant: Variant[ASGIApp]) -> None:
        result = variant.close()
        if inspect.isawaitable(result):
            self.loop.run_until_complete(result)


def main(settings: Settings) -> None:
    title = f"ASGI: Starlette {metadata.version('starlette')}, in-process driver"
    harness = AsgiHarness()
    try:
        section.run(title, harness, apps_asgi.BUILDERS, settings)
    finally:
        harness.loop.close()
