"""The soak's apps, served by real servers: ``uvicorn benchmarks.soak.apps:asgi`` and
``gunicorn benchmarks.soak.apps:wsgi``. The Redis URL comes from ``SOAK_REDIS_URL``.

``/add?item=<tag>`` appends ``tag`` to the session's cart and answers the cart;
``/cart`` answers it. Cookies are not ``Secure``: the soak speaks plain HTTP on
loopback.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import RedisStore, Session, SessionMiddleware, WSGISessionMiddleware

URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = "soak:"
OPTIONS: dict[str, Any] = {"secret_key": "soak-secret", "secure": False}


def _cart(session: Session, item: str | None) -> list[str]:
    if item is not None:
        session["cart"] = [*session.get("cart", []), item]
    return list(session.get("cart", []))


async def _asgi_endpoint(request: Request) -> JSONResponse:
    item = request.query_params.get("item") if request.url.path == "/add" else None
    return JSONResponse(_cart(request.session, item))


asgi = Starlette(routes=[Route("/add", _asgi_endpoint), Route("/cart", _asgi_endpoint)])
asgi.add_middleware(SessionMiddleware, store=RedisStore.from_url(URL, prefix=PREFIX), **OPTIONS)


def _wsgi_endpoint(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    item = query["item"][0] if environ["PATH_INFO"] == "/add" and "item" in query else None
    body = json.dumps(_cart(environ["sessionware.session"], item)).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]


wsgi = WSGISessionMiddleware(
    _wsgi_endpoint, store=RedisStore.from_url(URL, prefix=PREFIX), **OPTIONS
)
