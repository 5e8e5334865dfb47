"""SessionMiddleware specifics: autoload=False, websockets, headers, pass-through."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionware import ConfigurationError, MemoryStore, SessionMiddleware

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


def test_a_store_without_the_async_contract_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="async store contract"):
        SessionMiddleware(make_app(), secret_key="k", store=object())  # type: ignore[arg-type]


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


def test_installing_the_middleware_twice_is_a_clear_error() -> None:
    app = make_app()
    app.add_middleware(SessionMiddleware, secret_key="k")
    with client(app) as c:
        response = c.get("/use")
    assert response.status_code == 500  # raised on the first request, with the message below
    strict = TestClient(app, base_url="https://testserver")
    with pytest.raises(ConfigurationError, match="two sessionware SessionMiddleware"), strict:
        strict.get("/use")
