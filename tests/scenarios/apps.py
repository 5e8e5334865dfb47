"""One adapter per framework: build the scenario app and a client for it.

``FRAMEWORKS[name](store, **options)`` returns a context manager yielding an
httpx-style client on ``https://testserver`` (session cookies are Secure).
Add a framework by adding an entry here.
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
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import SessionMiddleware, WSGISessionMiddleware
from sessionware.fastapi import SessionDep
from sessionware.flask import Sessionware

from . import spec

SECRET = "test-secret-key"
BASE_URL = "https://testserver"
ClientFactory = Callable[..., contextlib.AbstractContextManager[Any]]


@contextlib.contextmanager
def starlette_client(store: Any, **options: Any) -> Iterator[TestClient]:
    async def endpoint(request: Request) -> JSONResponse:
        status, body = spec.handle(
            request.path_params["name"], request.session, dict(request.query_params)
        )
        return JSONResponse(body, status_code=status)

    app = Starlette(routes=[Route("/{name}", endpoint, methods=["GET", "POST"])])
    options.setdefault("secret_key", SECRET)
    app.add_middleware(SessionMiddleware, store=store, **options)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


@contextlib.contextmanager
def fastapi_client(store: Any, **options: Any) -> Iterator[TestClient]:
    app = FastAPI()

    @app.api_route("/{name}", methods=["GET", "POST"])
    async def endpoint(name: str, request: Request, session: SessionDep) -> JSONResponse:
        assert session is request.session
        status, body = spec.handle(name, session, dict(request.query_params))
        return JSONResponse(body, status_code=status)

    options.setdefault("secret_key", SECRET)
    app.add_middleware(SessionMiddleware, store=store, **options)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


def _server_errors(app: Any) -> Any:
    """What a WSGI server does with an exception before the response starts: a 500."""

    def wrapper(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            return app(environ, start_response)  # type: ignore[no-any-return]
        except Exception:
            start_response("500 Internal Server Error", [("content-type", "text/plain")])
            return [b"server error"]

    return wrapper


@contextlib.contextmanager
def wsgi_client(store: Any, **options: Any) -> Iterator[httpx.Client]:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        name = environ["PATH_INFO"].lstrip("/")
        status, body = spec.handle(name, environ["sessionware.session"], params)
        data = json.dumps(body).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(data)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    options.setdefault("secret_key", SECRET)
    wrapped = _server_errors(WSGISessionMiddleware(app, store=store, **options))
    transport = httpx.WSGITransport(app=wrapped)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        yield client


@contextlib.contextmanager
def flask_client(store: Any, **options: Any) -> Iterator[httpx.Client]:
    app = flask.Flask("scenarios")

    @app.route("/<name>", methods=["GET", "POST"])
    def endpoint(name: str) -> tuple[Any, int]:
        status, body = spec.handle(name, flask.session, flask.request.args.to_dict())
        return flask.jsonify(body), status

    options.setdefault("secret_key", SECRET)
    Sessionware(app, store=store, **options)
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        yield client


FRAMEWORKS: dict[str, ClientFactory] = {
    "starlette": starlette_client,
    "fastapi": fastapi_client,
    "wsgi": wsgi_client,
    "flask": flask_client,
}
