"""Concurrent requests on one session, each adding a key, through the middleware.

Per-key writes merge them (every key survives), so the record's recorded size and
key count must come from what the store holds, not from one request's view, and
together they must not take it past ``max_payload_bytes``: the requests that would
are refused with a clear error (500 and a logged SessionTooLarge), never a 200 that
dropped the write. Every store, through the ASGI shell (asyncio) and the WSGI one
(threads). Each handler reads the session first, so the save is a loaded save (a
blind write is the other path, tested in the contract suite), and waits a moment
before answering, so that every request has loaded before any saves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import (
    MemoryStore,
    RedisStore,
    Session,
    SessionMiddleware,
    SessionTooLarge,
    WSGISessionMiddleware,
)
from sessionware.stores.base import Meta, Query

from ..conftest import REDIS_URL
from .sql import SQL_STORES

pytestmark = pytest.mark.anyio

BASE_URL = "https://testserver"
PAUSE_SECONDS = 0.05  # between a request's load and its save


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A fresh store of each kind on the shared servers (own prefix or schema)."""
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "redis":
        made = RedisStore.from_url(REDIS_URL, prefix=request.getfixturevalue("redis_prefix"))
        yield made
        made.close()
        await made.aclose()
    else:
        yield SQL_STORES[request.param](request)


@pytest.fixture(params=["asgi", "wsgi"])
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def asgi_app(store: Any, cap: int) -> Starlette:
    """``/seed`` starts a session; ``/add?key=&size=`` reads it, waits, adds a key."""

    async def seed(request: Request) -> JSONResponse:
        request.session["seed"] = "0"
        return JSONResponse({"id": None})

    async def add(request: Request) -> JSONResponse:
        found = len(request.session)  # a loaded session: its save is a save, not blind
        await asyncio.sleep(PAUSE_SECONDS)
        try:
            request.session[request.query_params["key"]] = "x" * int(request.query_params["size"])
        except SessionTooLarge:  # it loaded after enough others had saved: refused at once
            return JSONResponse({"found": found}, status_code=413)
        return JSONResponse({"found": found, "id": request.session.id})

    routes = [Route("/seed", seed), Route("/add", add)]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, max_payload_bytes=cap)
    return app


def wsgi_app(store: Any, cap: int) -> WSGISessionMiddleware:
    """:func:`asgi_app`'s two routes, on WSGI."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        session: Session = environ["sessionware.session"]
        query = dict(
            part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if part
        )
        if environ["PATH_INFO"] == "/seed":
            session["seed"] = "0"
            body: dict[str, Any] = {}
        else:
            body = {"found": len(session)}
            time.sleep(PAUSE_SECONDS)
            try:
                session[query["key"]] = "x" * int(query["size"])
            except SessionTooLarge:  # as in asgi_app
                start_response("413 Content Too Large", [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]
            body["id"] = session.id
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return WSGISessionMiddleware(app, secret_key="k", store=store, max_payload_bytes=cap)


async def add_concurrently(store: Any, shell: str, cap: int, count: int, size: int) -> list[int]:
    """Seed a session, then ``count`` concurrent requests each adding a ``size``-byte
    value under its own key; their statuses."""
    keys = [f"k{i:02d}" for i in range(count)]
    if shell == "asgi":
        transport = httpx.ASGITransport(app=asgi_app(store, cap))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            cookie = (await http.get("/seed")).headers["set-cookie"].split(";")[0]
            http.cookies.clear()  # every request sends exactly this cookie

            async def put(key: str) -> int:
                params = {"key": key, "size": str(size)}
                response = await http.get("/add", params=params, headers={"cookie": cookie})
                return response.status_code

            return list(await asyncio.gather(*(put(key) for key in keys)))
    app = wsgi_app(store, cap)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=BASE_URL) as http:
        cookie = http.get("/seed").headers["set-cookie"].split(";")[0]

    def put_wsgi(key: str) -> int:
        wsgi = httpx.WSGITransport(app=app)
        with httpx.Client(transport=wsgi, base_url=BASE_URL) as own:
            params = {"key": key, "size": str(size)}
            return own.get("/add", params=params, headers={"cookie": cookie}).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(put_wsgi, keys))


def the_record(store: Any) -> tuple[dict[str, bytes], Meta]:
    """The one live session's stored data and meta, as the management API reads them."""
    now = time.time()
    ((session_id, _),), total = store.query(Query(), now=now)
    assert total == 1
    data, meta = store.read_data(session_id, now=now), store.get_meta(session_id, now=now)
    assert data is not None and meta is not None
    return data, meta


def measured(data: dict[str, bytes]) -> int:
    return sum(len(key.encode()) + len(value) for key, value in data.items())


async def test_concurrent_additions_leave_the_recorded_size_and_count_true(
    store: Any, shell: str
) -> None:
    """50 requests, each having loaded the 1-key session, each add a key: all 51 keys
    are kept (per-key writes: 50 of 50), and the record says 51 keys and their true
    size, not the 2 keys and the size that one request saw."""
    statuses = await add_concurrently(store, shell, cap=65536, count=50, size=500)
    assert statuses == [200] * 50
    data, meta = the_record(store)
    assert len(data) == 51
    assert (meta.attribute_count, meta.size_bytes) == (51, measured(data))
    assert meta.max_size_bytes == measured(data)


async def test_concurrent_additions_cannot_take_the_session_past_the_cap(
    store: Any, shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    """20 requests each add a 600-byte value to a session capped at 4,000 bytes: each
    fits alone, together they would be three times the cap. The ones that fit are
    saved (200); the others answer 500 with SessionTooLarge logged, writing nothing
    (or, on a busy machine, one that loaded after enough others had saved is refused
    at its assignment: 413 from the handler). The stored session stays within the cap
    and its record says what it holds."""
    statuses = await add_concurrently(store, shell, cap=4000, count=20, size=600)
    assert set(statuses) <= {200, 413, 500} and 200 in statuses and len(set(statuses)) > 1
    data, meta = the_record(store)
    assert len(data) == 1 + statuses.count(200)  # no 200 whose write was dropped
    assert measured(data) <= 4000 and len(data) == 7  # 7 + 6 * 606 = 3,643; a 7th: 4,249
    assert (meta.attribute_count, meta.size_bytes) == (len(data), measured(data))
    refusals = [r for r in caplog.records if "could not be saved" in r.getMessage()]
    assert len(refusals) == statuses.count(500)
    assert all("max_payload_bytes" in str(r.exc_info[1]) for r in refusals if r.exc_info)
