"""An ASGI app for tests that run a real server (``uvicorn --factory``) on a shared store.

``make_app()`` reads the store from the environment: ``SESSIONWARE_TEST_SQLITE``
(a database path) or ``SESSIONWARE_TEST_POSTGRES`` and ``SESSIONWARE_TEST_PREFIX``.
``GET /incr`` adds one to the session's counter and answers
``{"count": n, "pid": worker pid}``; ``GET /count`` only reads it.
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
    from sessionware import PostgresStore

    return PostgresStore.from_url(
        os.environ["SESSIONWARE_TEST_POSTGRES"], prefix=os.environ["SESSIONWARE_TEST_PREFIX"]
    )


async def incr(request: Request) -> JSONResponse:
    request.session["count"] = request.session.get("count", 0) + 1
    return JSONResponse({"count": request.session["count"], "pid": os.getpid()})


async def count(request: Request) -> JSONResponse:
    return JSONResponse({"count": request.session.get("count"), "pid": os.getpid()})


def make_app() -> Starlette:
    app = Starlette(routes=[Route("/incr", incr), Route("/count", count)])
    app.add_middleware(SessionMiddleware, store=_store(), secret_key="served-secret", secure=False)
    return app
