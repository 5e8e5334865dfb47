"""RedisStore under faults the request path must survive: a wrong-typed index key,
a burst larger than the pool, a save that the client gave up on.

Faults that pause or stop a server use a throwaway one (``cluster.throwaway_server``),
never the shared server on 6379.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import ConfigurationError, RedisStore, SessionManager, SessionMiddleware

from ..conftest import REDIS_URL
from .cluster import HOST, client, cluster_store, shared_cluster, throwaway_server

BASE_URL = "https://testserver"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def session_app(store: Any) -> Starlette:
    """``/login`` names a user, ``/incr`` counts, ``/logout`` ends the session."""

    async def login(request: Request) -> JSONResponse:
        request.session["user"] = "alice"
        request.session.regenerate()
        return JSONResponse({})

    async def incr(request: Request) -> JSONResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    async def logout(request: Request) -> JSONResponse:
        request.session.clear()
        return JSONResponse({})

    routes = [Route("/login", login), Route("/incr", incr), Route("/logout", logout)]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, user_key="user")
    return app


# -- a wrong-typed index key ----------------------------------------------------------------


@pytest.fixture(params=["redis", "cluster"])
def store_and_raw(
    request: pytest.FixtureRequest, redis_prefix: str
) -> Iterator[tuple[RedisStore, Any]]:
    if request.param == "redis":
        store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
        yield store, redis.Redis.from_url(REDIS_URL)
        store.close()
    else:
        store = cluster_store(request)
        ports = shared_cluster(request.config)
        yield store, redis.RedisCluster(host=HOST, port=ports[0])


INDEX_KEYS = {"act": "zset", "end": "zset", "info": "hash", "user:alice": "zset"}


@pytest.mark.parametrize("name", sorted(INDEX_KEYS))
def test_a_wrong_typed_index_key_never_fails_a_session_request(
    store_and_raw: tuple[RedisStore, Any], name: str
) -> None:
    store, raw = store_and_raw
    key = f"{store.prefix}{{index}}:{name}"
    with TestClient(session_app(store), base_url=BASE_URL) as http:
        assert http.get("/incr").json() == {"n": 1}
        raw.delete(key)
        raw.sadd(key, "stray")  # the wrong type, where the index belongs
        assert http.get("/login").status_code == 200  # rotate: create's index half
        assert [http.get("/incr").json()["n"] for _ in range(3)] == [2, 3, 4]  # load, save
        raw.delete(key)
        raw.set(key, "stray")
        assert http.get("/incr").json() == {"n": 5}
        assert http.get("/logout").status_code == 200
        assert http.get("/incr").json() == {"n": 1}
        assert http.get("/login").status_code == 200
    assert raw.type(key).decode() in ("none", INDEX_KEYS[name])  # repaired, or not yet made
    live = SessionManager(store).user_sessions("alice")
    assert [info.user for info in live] == ["alice"]  # the last login is listed again


# -- a burst larger than the pool -----------------------------------------------------------


@pytest.mark.anyio
async def test_a_burst_of_200_requests_on_one_process_waits_for_connections(
    redis_prefix: str,
) -> None:
    # Generous timeouts: the point is that requests wait for a connection rather than
    # fail, not how fast a loaded test machine serves them.
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, socket_timeout=5, pool_timeout=20)
    app = session_app(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as first:
        cookie = (await first.get("/incr")).cookies["session"]

    async def one(with_cookie: bool) -> int:
        cookies = {"session": cookie} if with_cookie else {}
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, cookies=cookies
        ) as http:
            return (await http.get("/incr")).status_code

    statuses = await asyncio.gather(*(one(i % 2 == 0) for i in range(200)))
    await store.aclose()
    assert sorted(set(statuses)) == [200], {s: statuses.count(s) for s in set(statuses)}


def test_the_pool_options_are_validated() -> None:
    for bad in ({"max_connections": 0}, {"max_connections": True}, {"pool_timeout": -1}):
        with pytest.raises(ConfigurationError):
            RedisStore.from_url(REDIS_URL, **bad)


# -- a save the client gave up on ----------------------------------------------------------


def _stall(port: int, how: str) -> None:
    """Stall the throwaway server for 1.5 s: busy (DEBUG SLEEP, from a thread, as
    it blocks its caller), or CLIENT PAUSE of every client."""
    admin = client(port)
    if how == "busy":
        threading.Thread(target=admin.execute_command, args=("DEBUG", "SLEEP", "1.5")).start()
        time.sleep(0.1)  # let the sleep begin before the save is sent
    else:
        admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")


@pytest.mark.parametrize("how", ["busy", "paused"])
def test_a_save_answered_503_never_applies_later(how: str) -> None:
    with throwaway_server("--enable-debug-command", "yes") as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", socket_timeout=0.5)

        async def add(request: Request) -> JSONResponse:
            request.session["cart"] = [*request.session.get("cart", []), "item"]
            if request.query_params.get("stall"):
                _stall(port, how)
            return JSONResponse(request.session["cart"])

        app = Starlette(routes=[Route("/add", add)])
        app.add_middleware(SessionMiddleware, secret_key="k", store=store)
        with TestClient(app, base_url=BASE_URL) as http:
            assert http.get("/add").json() == ["item"]
            assert http.get("/add?stall=1").status_code == 503  # the client gave up
            time.sleep(2)  # the server is back, and has run whatever it had queued
            assert http.get("/add").json() == ["item", "item"]  # the retry: added once
        store.close()


@pytest.mark.parametrize("how", ["busy", "paused"])
@pytest.mark.parametrize("change", ["login", "logout", "first save"])
def test_a_login_logout_or_creation_answered_503_never_applies_later(how: str, change: str) -> None:
    """Only saves carried the deadline: a login answered 503 moved the session to an
    id its browser never got once Redis came back (the user signed out, the record an
    orphan listed as theirs), and a logout answered 503 logged out all the same."""
    with throwaway_server("--enable-debug-command", "yes") as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", socket_timeout=0.5)

        async def act(request: Request) -> JSONResponse:
            session = request.session
            if request.query_params.get("stall"):
                session.get("user")  # loaded (the load's reply sets the clock) ...
                _stall(port, how)  # ... then the store stalls before the save
            if request.url.path == "/login":
                session.regenerate()
                session["user"] = "ada"
            elif request.url.path == "/logout":
                session.clear()
            elif request.url.path == "/new":
                session["cart"] = ["item"]
            return JSONResponse(dict(session))

        app = Starlette(routes=[Route(path, act) for path in ("/login", "/logout", "/new", "/me")])
        app.add_middleware(SessionMiddleware, secret_key="k", store=store)
        manager = SessionManager(store)
        with TestClient(app, base_url=BASE_URL) as http:
            if change == "first save":
                http.get("/new")
                assert http.get("/me").json() == {"cart": ["item"]}  # (a load sets the clock)
                http.cookies.clear()  # a new visitor
                assert http.get("/new?stall=1").status_code == 503
            else:
                assert http.get("/login").json() == {"user": "ada"}
                path = "/login" if change == "login" else "/logout"
                assert http.get(f"{path}?stall=1").status_code == 503
            time.sleep(2)  # the server is back, and has run whatever it had queued
            live = manager.list(status="active").items
            if change == "first save":
                assert len(live) == 1  # the one made before, not the one answered 503
            else:
                assert http.get("/me").json() == {"user": "ada"}  # still signed in, as was
                assert len(live) == 1  # and no orphan listed as theirs
        store.close()


def test_a_refused_password_or_database_is_the_configurations_fault_in_the_urls_form() -> None:
    """The advice names the URL form the store was made from, and the failure is marked
    misconfigured (the command exits 2, not 3 "unreachable"); an outage is not."""
    from sessionware.stores.redis import _next_step

    refused = redis.AuthenticationError("invalid username-password pair")
    advice, misconfigured = _next_step(refused, sentinel=True)
    assert misconfigured and "redis+sentinel://:PASSWORD@host:port/service" in advice
    advice, misconfigured = _next_step(redis.ResponseError("ERR DB index is out of range"))
    assert misconfigured and "(redis://host:port/DB)" in advice
    advice, _ = _next_step(redis.ResponseError("ERR DB index is out of range"), sentinel=True)
    assert "(redis+sentinel://host:port/service/DB)" in advice
    assert _next_step(redis.ConnectionError("refused"))[1] is False
