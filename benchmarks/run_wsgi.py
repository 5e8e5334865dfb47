"""The WSGI section: Flask apps called in-process, threads only for the race."""

from __future__ import annotations

from importlib import metadata
from time import perf_counter
from typing import Any

from . import apps_wsgi, section
from .driver_wsgi import StartResponse, WSGIApp, WsgiClient
from .race import race_wsgi
from .redis_count import Counter
from .scenarios import Scenario, Variant
from .settings import Settings


def _noop_app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [])
    return [b"ok"]


class WsgiHarness:
    """Calls the WSGI callables directly on this thread."""

    def __init__(self) -> None:
        self.clients: dict[str, WsgiClient] = {}

    def batch(
        self, variant: Variant[WSGIApp], scenario: Scenario, n: int, counter: Counter | None
    ) -> float:
        client = WsgiClient(variant.app)
        if scenario.with_cookie:
            client.get("/login")
        path, jar, fresh = scenario.path, client.jar, not scenario.with_cookie
        failures = 0
        if counter is not None:
            counter.reset()
        start = perf_counter()
        for _ in range(n):
            if fresh:
                jar.clear()
            failures += client.get(path).status != 200
        elapsed = perf_counter() - start
        if failures:
            raise RuntimeError(f"{failures} of {n} requests to {path} failed")
        return elapsed

    def get(self, variant: Variant[WSGIApp], path: str, fresh: bool) -> str:
        if fresh or variant.name not in self.clients:
            self.clients[variant.name] = WsgiClient(variant.app)
        return self.clients[variant.name].get(path).text

    def race(self, variant: Variant[WSGIApp], n: int) -> int:
        return race_wsgi(variant.app, n)

    def floor(self, n: int) -> float:
        return self.batch(Variant("no-op", _noop_app), Scenario("untouched", False), n, None)

    def close(self, variant: Variant[WSGIApp]) -> None:
        variant.close()


def main(settings: Settings) -> None:
    title = f"WSGI: Flask {metadata.version('flask')}, in-process driver"
    section.run(title, WsgiHarness(), apps_wsgi.BUILDERS, settings)
