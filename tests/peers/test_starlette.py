"""Peer suite: the behaviours Starlette's tests/middleware/test_session.py checks.

Our own tests, run against sessionware on MemoryStore and RedisStore: set, read and
clear across requests, and the session cookie's attributes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import MemoryStore, SessionMiddleware

from ..helpers import set_cookies


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return

    from sessionware import RedisStore

    prefix = request.getfixturevalue("redis_prefix")
    yield RedisStore.from_url("redis://127.0.0.1:6379/0", prefix=prefix)


def make_client(store: Any, **options: Any) -> TestClient:
    async def view(request: Request) -> JSONResponse:
        return JSONResponse({"session": dict(request.session)})

    async def update(request: Request) -> JSONResponse:
        request.session.update(await request.json())
        return JSONResponse({"session": dict(request.session)})

    async def clear(request: Request) -> JSONResponse:
        request.session.clear()
        return JSONResponse({"session": dict(request.session)})

    app = Starlette(
        routes=[
            Route("/view", view),
            Route("/update", update, methods=["POST"]),
            Route("/clear", clear, methods=["POST"]),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, **options)
    return TestClient(app, base_url="https://testserver")


def test_set_read_and_clear_across_requests(store: Any) -> None:
    with make_client(store) as c:
        assert c.get("/view").json() == {"session": {}}
        assert c.post("/update", json={"some": "data"}).json() == {"session": {"some": "data"}}
        assert c.get("/view").json() == {"session": {"some": "data"}}
        response = c.post("/clear")
        assert response.json() == {"session": {}}
        assert c.get("/view").json() == {"session": {}}


def test_emptied_session_deletes_the_cookie(store: Any) -> None:
    with make_client(store) as c:
        c.post("/update", json={"some": "data"})
        (deleted,) = set_cookies(c.post("/clear"))
        assert deleted["max-age"] == "0" or "1970" in deleted.get("expires", "")


def test_cookie_path_max_age_domain_and_same_site(store: Any) -> None:
    with make_client(store, path="/", max_age=3600, domain="example.com", same_site="strict") as c:
        (cookie,) = set_cookies(c.post("/update", json={"a": 1}))
        assert cookie["path"] == "/"
        assert cookie["max-age"] == "3600"
        assert cookie["domain"] == "example.com"
        assert cookie["samesite"].lower() == "strict"
        assert cookie["httponly"] is True


def test_secure_flag_follows_the_option(store: Any) -> None:
    with make_client(store) as c:
        (cookie,) = set_cookies(c.post("/update", json={"a": 1}))
        assert cookie["secure"] is True
    with make_client(store, secure=False) as c:
        (cookie,) = set_cookies(c.post("/update", json={"a": 1}))
        assert cookie["secure"] is False


def test_reading_alone_sends_no_cookie(store: Any) -> None:
    with make_client(store) as c:
        assert set_cookies(c.get("/view")) == []
