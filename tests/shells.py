"""One app per shell around a framework-neutral handler, for tests that need their own.

``shell_client(kind, handler, store, **options)`` yields an httpx-style client on
``https://testserver`` for a real app of ``kind`` ("starlette", "wsgi" or
"flask") with sessionware installed. The app answers every path with
``handler(session, path, params)`` → ``(status, json_body, headers)``.
``store`` is a fixture giving a MemoryStore, then a RedisStore: import it into a
test module (or a conftest) to run its tests on both.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import MemoryStore, SessionMiddleware, WSGISessionMiddleware
from sessionware.flask import Sessionware

from .conftest import REDIS_URL

BASE_URL = "https://testserver"
SHELLS = ("starlette", "wsgi", "flask")
Handler = Callable[[Any, str, dict[str, str]], tuple[int, Any, dict[str, str]]]


@pytest.fixture(params=["memory", "redis", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh store of each kind (Redis: the test's own key prefix, cleaned up after;
    SQLite: a file in the test's temporary directory)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        from .stores.sql import sqlite_store

        yield sqlite_store(request)
        return
    from sessionware import RedisStore

    redis_store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield redis_store
    redis_store.close()


@pytest.fixture(params=["memory", "redis"])
def memory_or_redis(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh MemoryStore, then a RedisStore (the test's own key prefix)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from sessionware import RedisStore

    redis_store = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
    yield redis_store
    redis_store.close()


@contextlib.contextmanager
def shell_client(
    kind: str, handler: Handler, store: Any, base_url: str = BASE_URL, **options: Any
) -> Iterator[Any]:
    """A client for ``handler`` behind sessionware's ``kind`` shell on ``store``."""
    options.setdefault("secret_key", "test-secret-key")
    if kind == "starlette":

        async def endpoint(request: Request) -> JSONResponse:
            status, body, headers = handler(
                request.session, request.url.path, dict(request.query_params)
            )
            return JSONResponse(body, status, headers)

        app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
        app.add_middleware(SessionMiddleware, store=store, **options)
        with TestClient(app, base_url=base_url, raise_server_exceptions=False) as client:
            yield client
        return
    wsgi: Any
    if kind == "wsgi":

        def plain(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
            status, body, headers = handler(
                environ["sessionware.session"], environ["PATH_INFO"], params
            )
            start_response(
                f"{status} {HTTPStatus(status).phrase}",
                [("content-type", "application/json"), *headers.items()],
            )
            return [json.dumps(body).encode()]

        wsgi = WSGISessionMiddleware(plain, store=store, **options)
    elif kind == "flask":
        app_ = flask.Flask("shells")

        @app_.route("/", defaults={"path": ""}, methods=["GET", "POST"])
        @app_.route("/<path:path>", methods=["GET", "POST"])
        def view(path: str) -> Any:
            status, body, headers = handler(
                flask.session, flask.request.path, flask.request.args.to_dict()
            )
            return flask.jsonify(body), status, headers

        Sessionware(app_, store=store, **options)
        wsgi = app_
    else:
        raise ValueError(f"unknown shell {kind!r}; one of {SHELLS}")
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url=base_url) as client:
        yield client
