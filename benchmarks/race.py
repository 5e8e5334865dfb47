"""The lost-update race: concurrent requests on one session, each setting its own key.

A client logs in, then ``n`` copies of its cookie jar each request
``/race/<i>`` at once; every handler reads the session, pauses
:data:`~benchmarks.scenarios.RACE_PAUSE_SECONDS`, then sets ``k<i>``. Reading
the session back shows how many of the ``n`` keys survived: a store that
rewrites the whole session on save keeps only the last writers' keys.
ASGI requests overlap on one event loop (``asyncio.gather``); WSGI requests
run on ``n`` threads released together by a barrier.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .driver_asgi import ASGIApp, AsgiClient
from .driver_wsgi import WSGIApp, WsgiClient
from .jar import Response

V = TypeVar("V")


def _survivors(body: str) -> int:
    return len(body.split(",")) if body else 0


def _check(responses: Sequence[Response]) -> None:
    failed = [r.status for r in responses if r.status != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} race requests failed, statuses {sorted(set(failed))}")


async def race_asgi(app: ASGIApp, n: int) -> int:
    """How many of ``n`` concurrently set keys one session holds afterwards (ASGI)."""
    owner = AsgiClient(app)
    await owner.get("/login")
    clients = [AsgiClient(app, owner.jar.copy()) for _ in range(n)]
    _check(await asyncio.gather(*(c.get(f"/race/{i}") for i, c in enumerate(clients))))
    return _survivors((await owner.get("/keys")).text)


def race_wsgi(app: WSGIApp, n: int) -> int:
    """How many of ``n`` concurrently set keys one session holds afterwards (WSGI, threads)."""
    owner = WsgiClient(app)
    owner.get("/login")
    start = threading.Barrier(n)

    def request(index: int) -> Response:
        client = WsgiClient(app, owner.jar.copy())
        start.wait()
        return client.get(f"/race/{index}")

    with ThreadPoolExecutor(max_workers=n) as pool:
        _check(list(pool.map(request, range(n))))
    return _survivors(owner.get("/keys").text)


def run_races(
    variants: Sequence[V], *, names: Callable[[V], str], race: Callable[[V], int], reps: int
) -> dict[str, list[int]]:
    """Survivor counts per variant name, one per repetition, variants interleaved."""
    results: dict[str, list[int]] = {names(v): [] for v in variants}
    for _ in range(reps):
        for variant in variants:
            results[names(variant)].append(race(variant))
    return results
