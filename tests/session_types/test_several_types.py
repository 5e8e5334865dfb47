"""Several types in one app: two middlewares, each with its own cookie and type,
both usable in one request through ``session_of(request, tag)``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import (
    SchemaViolation,
    SessionManager,
    SessionMiddleware,
    UnknownSessionType,
    WSGISessionMiddleware,
    session_of,
)
from sessionware.flask import Sessionware

from ..helpers import set_cookies
from ..shells import BASE_URL, SHELLS

SECRET = "test-secret-key"


def use_both(user: Any, checkout: Any, default: Any) -> dict[str, Any]:
    """One request's work with both sessions; what it saw."""
    visits = user.get("visits", 0) + 1
    user["userId"], user["visits"] = "u1", visits
    checkout["cartId"] = 40 + visits
    try:
        checkout["visits"] = 1  # a field of the other type only
    except SchemaViolation as error:
        refused = error.field
    try:
        session_of(default, "missing")
    except UnknownSessionType as error:
        unknown = str(error)
    return {
        "user": dict(user),
        "checkout": dict(checkout),
        "refused": refused,
        "unknown": unknown,
    }


@contextmanager
def app_client(shell: str, store: Any) -> Iterator[Any]:
    user = {"secret_key": SECRET, "store": store, "session_type": "user-session"}
    checkout = {**user, "session_type": "checkout-session", "cookie_name": "checkout"}
    if shell == "starlette":

        async def endpoint(request: Request) -> JSONResponse:
            seen = use_both(request.session, session_of(request, "checkout-session"), request)
            seen["same"] = request.session is session_of(request, "user-session")
            return JSONResponse(seen)

        app = Starlette(routes=[Route("/", endpoint)])
        app.add_middleware(SessionMiddleware, **checkout)  # inner
        app.add_middleware(SessionMiddleware, **user)  # outer: request.session
        from starlette.testclient import TestClient

        with TestClient(app, base_url=BASE_URL) as client:
            yield client
        return
    if shell == "wsgi":

        def plain(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            seen = use_both(
                session_of(environ, "user-session"),
                session_of(environ, "checkout-session"),
                environ,
            )
            seen["same"] = environ["sessionware.session"] is session_of(environ, "user-session")
            start_response("200 OK", [("content-type", "application/json")])
            return [json.dumps(seen).encode()]

        wsgi = WSGISessionMiddleware(WSGISessionMiddleware(plain, **checkout), **user)
    else:
        flask_app = flask.Flask("types")

        @flask_app.route("/")
        def view() -> Any:
            request = flask.request
            seen = use_both(flask.session, session_of(request, "checkout-session"), request)
            current = flask.session._get_current_object()  # type: ignore[attr-defined]
            seen["same"] = current is session_of(request, "user-session")
            return seen

        Sessionware(flask_app, **user)
        flask_app.wsgi_app = WSGISessionMiddleware(flask_app.wsgi_app, **checkout)  # type: ignore[method-assign]
        wsgi = flask_app
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url=BASE_URL) as client:
        yield client


@pytest.mark.parametrize("shell", SHELLS)
def test_two_typed_sessions_in_one_request(shell: str, any_store: Any) -> None:
    types = SessionManager(any_store).types
    types.create(
        name="User session",
        schema={"userId": "string", "visits": "integer"},
        selector="$Session{userId}",
        expiry=7,
        period="days",
    )
    types.create(name="Checkout session", schema={"cartId": "integer"}, expiry=1, period="hour")
    with app_client(shell, any_store) as client:
        first = client.get("/")
        assert first.status_code == 200, first.text
        cookies = {
            c["name"]: c for c in set_cookies(first, "session") + set_cookies(first, "checkout")
        }
        assert 604790 <= int(cookies["session"]["max-age"]) <= 604800
        assert 3590 <= int(cookies["checkout"]["max-age"]) <= 3600
        second = client.get("/").json()
    assert second["user"] == {"userId": "u1", "visits": 2}
    assert second["checkout"] == {"cartId": 42}
    assert second["refused"] == "visits"
    assert "'missing'" in second["unknown"] and "checkout-session" in second["unknown"]
    assert second["same"] is True
    listed = {row.app for row in SessionManager(any_store).list().items}
    assert listed == {"user-session", "checkout-session"}
