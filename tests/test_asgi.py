"""SessionMiddleware specifics: autoload=False, websockets, headers, pass-through."""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionware import ConfigurationError, MemoryStore, SessionMiddleware
from sessionware.fastapi import SessionDep

from .helpers import CountingStore, set_cookies


def make_app(store: Any = None, **options: Any) -> Starlette:
    async def lazy(request: Request) -> JSONResponse:
        await request.session.load()
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    async def eager_use(request: Request) -> JSONResponse:
        return JSONResponse({"n": request.session.get("n")})

    async def vary(request: Request) -> PlainTextResponse:
        request.session.get("n")
        return PlainTextResponse("x", headers={"vary": "Accept-Encoding"})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"n": websocket.session.get("n")})
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/lazy", lazy),
            Route("/use", eager_use),
            Route("/vary", vary),
            WebSocketRoute("/ws", ws),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, **options)
    return app


def client(app: Starlette) -> TestClient:
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def test_autoload_false_loads_on_await_and_not_before() -> None:
    store = CountingStore(MemoryStore())
    with client(make_app(store, autoload=False)) as c:
        assert c.get("/lazy").json() == {"n": 1}
        assert c.get("/lazy").json() == {"n": 2}
        store.calls.clear()
        response = c.get("/use")  # uses the session without load(): a clear error, no I/O
        assert response.status_code == 500
        assert store.names() == []


def test_autoload_loads_before_the_handler() -> None:
    store = CountingStore(MemoryStore())
    with client(make_app(store)) as c:
        c.get("/lazy")
        store.calls.clear()
        assert c.get("/use").json() == {"n": 1}
    assert store.names() == ["load"]


def test_vary_is_merged_into_an_existing_header() -> None:
    with client(make_app()) as c:
        response = c.get("/vary")
    assert response.headers.get_list("vary") == ["Accept-Encoding, Cookie"]


def test_websockets_see_the_session() -> None:
    with client(make_app()) as c:
        value = set_cookies(c.get("/lazy"))[0]["value"]
        # the test client's jar does not send Secure cookies on websockets: send it by hand
        with c.websocket_connect("/ws", headers={"cookie": f"session={value}"}) as ws:
            assert ws.receive_json() == {"n": 1}


def _down_app() -> tuple[Starlette, Any, str]:
    """An app on a Redis that does not answer (127.0.0.1:1), and a cookie it accepts
    (signed with its key by the same app on a working store)."""
    from sessionware import RedisStore

    with client(make_app(MemoryStore())) as c:
        cookie = set_cookies(c.get("/lazy"))[0]["value"]
    down = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="swdown:", socket_timeout=0.2)
    return make_app(down), down, cookie


def _handshake(app: Any, path: str, cookie: str, extension: bool) -> list[dict[str, Any]]:
    """What ``app`` sends to a websocket handshake on ``path`` carrying ``cookie``, on a
    server with (or without) the ASGI ``websocket.http.response`` extension."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": path,
        "scheme": "wss",
        "headers": [(b"cookie", f"session={cookie}".encode())],
        "client": ("127.0.0.1", 5000),
        "extensions": {"websocket.http.response": {}} if extension else {},
    }
    anyio.run(app, scope, receive, send)
    return sent


@pytest.mark.parametrize("extension", [True, False], ids=["http response", "close"])
def test_a_websocket_is_refused_with_a_503_when_the_store_is_down(extension: bool) -> None:
    """Through the ASGI websocket.http.response extension, as over HTTP; a server
    without it gets a close before the handshake, never the app without a session."""
    app, down, cookie = _down_app()
    sent = _handshake(app, "/ws", cookie, extension)
    down.close()
    if not extension:
        assert sent == [{"type": "websocket.close", "code": 1013}]
        return
    start, body = sent
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 503)
    assert (b"retry-after", b"1") in start["headers"]
    assert body["type"] == "websocket.http.response.body" and b"session store" in body["body"]


def _refused_over_a_real_server(app: Any, cookie: str) -> int:
    """The status uvicorn answers a websocket handshake to ``/ws`` carrying ``cookie``."""
    import websockets.exceptions
    from websockets.sync.client import connect

    from .admin.conftest import Server

    server = Server(app)
    try:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            url = server.url.replace("http://", "ws://") + "/ws"
            with connect(url, additional_headers={"cookie": f"session={cookie}"}):
                pass
        return refused.value.response.status_code
    finally:
        server.stop()


def test_a_websocket_over_a_real_server_gets_the_503() -> None:
    app, down, cookie = _down_app()
    try:
        assert _refused_over_a_real_server(app, cookie) == 503
    finally:
        down.close()


def test_a_change_in_a_websocket_is_logged_never_silently_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def writes(websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.session["from_ws"] = True
        await websocket.send_json(sorted(websocket.session))
        await websocket.close()

    store = MemoryStore()
    app = make_app(store)
    app.router.routes.append(WebSocketRoute("/ws-write", writes))
    with client(app) as c:
        value = set_cookies(c.get("/lazy"))[0]["value"]
        with c.websocket_connect("/ws-write", headers={"cookie": f"session={value}"}) as ws:
            assert ws.receive_json() == ["from_ws", "n"]  # the handler sees its change
        assert c.get("/use").json() == {"n": 1}
    assert "changed in a websocket handler" in caplog.text and "'from_ws'" in caplog.text


def test_a_store_without_the_async_contract_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="async store contract") as caught:
        SessionMiddleware(make_app(), secret_key="k", store=object())  # type: ignore[arg-type]
    assert "it lacks aload, acreate, asave, arotate, adelete" in str(caught.value)

    class Half:  # a store being written: only loads so far
        async def aload(self) -> None: ...

    with pytest.raises(ConfigurationError, match=r"it lacks acreate, asave, arotate, adelete\)"):
        SessionMiddleware(make_app(), secret_key="k", store=Half())  # type: ignore[arg-type]


def test_a_store_from_another_library_or_a_url_is_refused_saying_what_to_pass() -> None:
    """The app migrating from starsessions kept its RedisStore (the same class name as
    ours), or passed a URL: the error names sessionware's stores, not the contract."""

    class RedisStore:  # starsessions' has the name, and load/save/remove, async
        __module__, __qualname__ = "starsessions.stores.redis", "RedisStore"

        async def load(self, session_id: str) -> None: ...

        async def save(self, session_id: str, data: bytes) -> None: ...

    theirs = RedisStore()
    with pytest.raises(ConfigurationError) as caught:
        SessionMiddleware(make_app(), secret_key="k", store=theirs)  # type: ignore[arg-type]
    assert "starsessions.stores.redis.RedisStore does not implement" in str(caught.value)
    assert "sessionware.RedisStore.from_url(url, prefix=...)" in str(caught.value)
    with pytest.raises(
        ConfigurationError, match=r"is a URL or path, not a store: pass a store object, RedisStore"
    ):
        SessionMiddleware(make_app(), secret_key="k", store="redis://127.0.0.1")  # type: ignore[arg-type]


def test_lifespan_passes_through() -> None:
    events: list[str] = []

    async def lifespan(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            events.append(message["type"])
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            events.append(message["type"])
            await send({"type": "lifespan.shutdown.complete"})

    with TestClient(SessionMiddleware(lifespan, secret_key="k")):  # type: ignore[arg-type]
        pass
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_no_set_cookie_for_untouched_sessions_with_a_cookie() -> None:
    with client(make_app()) as c:
        c.get("/lazy")
        response = c.get("/use")
    assert set_cookies(response) == []


def test_starlettes_own_session_middleware_beside_ours_is_a_clear_error() -> None:
    """Starlette's SessionMiddleware (or a library's, as SQLAdmin's login adds) left in
    the app: inside ours it wrote the session into a cookie the client can read, and
    its cookie of the same name replaced ours (signing users out); outside it failed
    with its own AttributeError. Both are refused on the requests they serve."""
    from starlette.middleware.sessions import SessionMiddleware as StarletteSessions
    from starlette.routing import Mount

    async def put(request: Request) -> JSONResponse:
        request.session["user"] = "alice"
        return JSONResponse({"user": request.session.get("user")})

    admin = Starlette(routes=[Route("/", put)])
    admin.add_middleware(StarletteSessions, secret_key="admin")  # what SQLAdmin's login adds
    site = Starlette(routes=[Route("/me", put), Mount("/admin", admin)])
    site.add_middleware(SessionMiddleware, secret_key="k" * 40, store=MemoryStore())
    with TestClient(site, base_url="https://testserver") as c:
        assert c.get("/me").json() == {"user": "alice"}  # the site's own pages work
        with pytest.raises(ConfigurationError, match=r"inside .*SQLAdmin.*middlewares = \[\]"):
            c.get("/admin/")
    outer = Starlette(routes=[Route("/me", put)])
    outer.add_middleware(SessionMiddleware, secret_key="k" * 40, store=MemoryStore())
    outer.add_middleware(StarletteSessions, secret_key="other")
    strict = TestClient(outer, base_url="https://testserver")
    with strict, pytest.raises(ConfigurationError, match="outside sessionware's"):
        strict.get("/me")


def test_installing_the_middleware_twice_is_a_clear_error() -> None:
    app = make_app()
    app.add_middleware(SessionMiddleware, secret_key="k")
    with client(app) as c:
        response = c.get("/use")
    assert response.status_code == 500  # raised on the first request, with the message below
    strict = TestClient(app, base_url="https://testserver")
    with pytest.raises(ConfigurationError, match="two sessionware SessionMiddleware"), strict:
        strict.get("/use")


def _lazy_socket_app(store: Any) -> Starlette:
    """A websocket handler that loads the session itself (autoload=False), before or
    after accepting, as FastAPI's SessionDep does before the handler runs."""

    async def before(websocket: WebSocket) -> None:
        await websocket.session.load()
        await websocket.accept()

    async def after(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.session.load()

    async def grouped(websocket: WebSocket) -> None:  # (a reader and a writer, say)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(websocket.session.load)

    app = Starlette(
        routes=[
            WebSocketRoute("/before", before),
            WebSocketRoute("/after", after),
            WebSocketRoute("/grouped", grouped),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, autoload=False)
    return app


@pytest.mark.parametrize("extension", [True, False], ids=["http response", "close"])
def test_a_store_failure_a_websocket_handler_leaves_uncaught_is_a_503_or_a_close(
    extension: bool,
) -> None:
    """Never the server's 500: before the handshake, the 503 autoload gives; after it,
    a close that says try again later (1013)."""
    _, down, cookie = _down_app()
    app = _lazy_socket_app(down)

    try:
        before = _handshake(app, "/before", cookie, extension)
        assert _handshake(app, "/grouped", cookie, extension) == before
        if extension:
            assert [m["type"] for m in before] == [
                "websocket.http.response.start",
                "websocket.http.response.body",
            ]
            assert before[0]["status"] == 503
        else:
            assert before == [{"type": "websocket.close", "code": 1013}]
        after = _handshake(app, "/after", cookie, extension)
        assert [m["type"] for m in after] == ["websocket.accept", "websocket.close"]
        assert after[1]["code"] == 1013
    finally:
        down.close()


def test_a_fastapi_session_dependency_on_a_websocket_with_the_store_down_gets_the_503() -> None:
    from fastapi import FastAPI

    _, down, cookie = _down_app()
    api = FastAPI()

    @api.websocket("/ws")
    async def ws(websocket: WebSocket, session: SessionDep) -> None:  # (module-level names:
        # FastAPI reads these annotations, which are strings here)
        await websocket.accept()
        await websocket.send_json({"n": session.get("n")})

    api.add_middleware(SessionMiddleware, secret_key="k", store=down, autoload=False)
    try:
        assert _refused_over_a_real_server(api, cookie) == 503
    finally:
        down.close()


class _SlowStore(MemoryStore):
    """A MemoryStore whose async load waits, as one over a network does."""

    async def aload(self, *args: Any, **kwargs: Any) -> Any:
        await anyio.sleep(0.05)
        return await super().aload(*args, **kwargs)


@pytest.mark.parametrize("key", ["n", "new"])
def test_two_loads_awaited_together_keep_what_the_request_changed_between_them(
    key: str,
) -> None:
    """Helpers that each ``await session.load()``, run together (``asyncio.gather``, a
    task group): the second load to finish took the store's record over what the
    request had changed since the first (a new key made the save a 500)."""
    store = _SlowStore()

    async def login(request: Request) -> PlainTextResponse:
        await request.session.load()
        request.session.update(user="ada", n=0)
        return PlainTextResponse("ok")

    async def both(request: Request) -> JSONResponse:
        session = request.session

        async def first() -> None:
            await session.load()
            session[key] = 1

        async def second() -> None:
            await anyio.sleep(0.01)
            await session.load()

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            group.start_soon(second)
        return JSONResponse(dict(session))

    async def me(request: Request) -> JSONResponse:
        await request.session.load()
        return JSONResponse(dict(request.session))

    app = Starlette(routes=[Route("/login", login), Route("/both", both), Route("/me", me)])
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, autoload=False)
    with client(app) as c:
        c.get("/login")
        expected = {"user": "ada", "n": 0, key: 1}
        assert c.get("/both").json() == expected
        assert c.get("/me").json() == expected


async def _lifespan(middleware: Any) -> list[dict[str, Any]]:
    """The lifespan of ``middleware`` as a server drives it: startup, then shutdown."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with contextlib.suppress(ConfigurationError):  # (raised too, for test clients: the
        await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    return sent  # messages sent are what a server sees)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_store_that_needs_asyncio_stops_a_trio_server_at_start_up(
    backend: str, tmp_path: Any
) -> None:
    """hypercorn -k trio: Starlette runs there, but every request with a session
    answered 500 ("no running event loop") while the start-up said nothing."""
    from sessionware import SQLiteStore

    class AppsOwnStore(SQLiteStore):  # (a subclass, in the app's own module)
        pass

    app = Starlette(routes=[])
    for store in (SQLiteStore(str(tmp_path / "s.db")), AppsOwnStore(str(tmp_path / "t.db"))):
        middleware = SessionMiddleware(app, secret_key="k" * 32, store=store)
        sent = anyio.run(_lifespan, middleware, backend=backend)
        kinds = [message["type"] for message in sent]
        if backend == "asyncio":
            assert kinds == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        else:
            assert kinds == ["lifespan.startup.failed"], type(store)
            told = sent[0]["message"]
            assert "runs on asyncio" in told and "hypercorn -k asyncio" in told
    # a MemoryStore needs no event loop of asyncio's: left to run where it is
    plain = SessionMiddleware(app, secret_key="k" * 32, store=MemoryStore())
    assert [m["type"] for m in anyio.run(_lifespan, plain, backend=backend)] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
