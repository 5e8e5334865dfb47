"""An ASGI app for tests that run a real server (``uvicorn --factory``) on a shared store.

``make_app()`` reads the store from the environment: ``SESSIONWARE_TEST_SQLITE``
(a database path), or ``SESSIONWARE_TEST_POSTGRES`` or ``SESSIONWARE_TEST_REDIS`` (a
URL; ``SESSIONWARE_TEST_CACHE=1`` turns on the client-side cache, ``keep`` with
``cache_own_saves=True``) and
``SESSIONWARE_TEST_PREFIX``. ``GET /incr`` adds one to the session's counter and
answers ``{"count": n, "pid": worker pid}``; ``GET /count`` only reads it (and
says the session's id and the cache's hits); ``GET /logout`` ends the session.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import SessionMiddleware


def _store() -> Any:
    if "SESSIONWARE_TEST_SQLITE" in os.environ:
        from sessionware import SQLiteStore

        return SQLiteStore(os.environ["SESSIONWARE_TEST_SQLITE"])
    if "SESSIONWARE_TEST_REDIS" in os.environ:
        from sessionware import RedisStore

        return RedisStore.from_url(
            os.environ["SESSIONWARE_TEST_REDIS"],
            prefix=os.environ["SESSIONWARE_TEST_PREFIX"],
            client_cache=os.environ.get("SESSIONWARE_TEST_CACHE") in ("1", "keep"),
            cache_own_saves=os.environ.get("SESSIONWARE_TEST_CACHE") == "keep",
        )
    from sessionware import PostgresStore

    return PostgresStore.from_url(
        os.environ["SESSIONWARE_TEST_POSTGRES"], prefix=os.environ["SESSIONWARE_TEST_PREFIX"]
    )


async def incr(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"count": request.session["count"], "pid": os.getpid()})


async def count(request: Request) -> JSONResponse:
    cache = getattr(STORE, "cache", None)
    return JSONResponse(
        {
            "count": request.session.get("count"),
            "pid": os.getpid(),
            "id": request.session.id,
            "hits": cache.hits if cache is not None else None,
        }
    )


async def logout(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({})


STORE: Any = None


def make_app() -> Starlette:
    global STORE
    STORE = _store()
    routes = [Route("/incr", incr), Route("/count", count), Route("/logout", logout)]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, store=STORE, secret_key="served-secret", secure=False)
    return app
