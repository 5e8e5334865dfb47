"""The in-process benchmark's apps, served by real servers for ``benchmarks.servers``.

``uvicorn --factory benchmarks.server_apps:asgi`` and ``gunicorn
'benchmarks.server_apps:wsgi()'`` build the variant named by ``BENCH_VARIANT``
(a name from ``apps_asgi.BUILDERS`` or ``apps_wsgi.BUILDERS``) with the run's key
prefix (``BENCH_RUN_ID``), so that a real server runs exactly the app the
in-process tables measure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

from .settings import parse_args

FLOOR = "floor: memory + one GET"
"""A variant of the real-server tables only: sessionware-memory's app, and before each
request one plain ``GET`` of a key over sessionware's lean Redis connection. It does
no store work at all, so it is what any layer that makes one round trip per request
could reach at best, with our in-process part: the floor under sessionware-redis."""


def _variant(builders: list[Any], section: str) -> Any:
    name = os.environ["BENCH_VARIANT"]
    settings, _ = parse_args(["--section", section, "--run-id", os.environ["BENCH_RUN_ID"]])
    settings = dataclasses.replace(settings, section=f"servers-{section}")
    wanted = "sessionware-memory" if name == FLOOR else name
    for variant_name, _redis, build in builders:
        if variant_name == wanted:
            app = build(settings).app
            if name == FLOOR:
                return _one_get(app, settings, asynchronous=section == "asgi")
            return app
    raise SystemExit(f"unknown variant {name!r}")


def _one_get(app: Any, settings: Any, *, asynchronous: bool) -> Any:
    """``app``, with one ``GET`` of a key under the run's prefix before each request."""
    from sessionware.stores.redis_wire import WireClient, wire_options
    from sessionware.stores.redis_wire_sync import SyncWireClient

    options = wire_options(settings.redis_url, {"socket_timeout": 5.0})
    assert options is not None
    command = [("GET", settings.prefix("floor") + "key")]
    if not asynchronous:
        sync_wire = SyncWireClient(options)

        def wsgi_app(environ: Any, start_response: Any) -> Any:
            sync_wire.execute(command)
            return app(environ, start_response)

        return wsgi_app
    wires: dict[Any, WireClient] = {}  # one connection per event loop, as RedisStore keeps

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            loop = asyncio.get_running_loop()
            wire = wires.get(loop)
            if wire is None:
                wire = wires[loop] = WireClient(options)
            await wire.execute(command)
        await app(scope, receive, send)

    return asgi_app


def asgi() -> Any:
    from .apps_asgi import BUILDERS

    return _variant(BUILDERS, "asgi")


def wsgi() -> Any:
    from .apps_wsgi import BUILDERS

    return _variant(BUILDERS, "wsgi")
