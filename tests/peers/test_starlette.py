"""What Starlette's own session suite checks, held by sessionware.

Follows encode/starlette ``tests/middleware/test_session.py`` (read, not copied):
the session viewed, updated and cleared through ``JSONResponse(request.session)``;
a session past its lifetime reads empty; a Secure cookie is not kept over http;
the cookie's Path for a mounted app, its Domain, its Max-Age or none, CHIPS'
Partitioned; a bogus cookie is an empty session, not an error. Differences kept
by design are listed in the README ("Differences from the peers").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionware import SessionMiddleware

from ..helpers import set_cookies


async def view_session(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def update_session(request: Request) -> JSONResponse:
    request.session.update(await request.json())
    return JSONResponse({"session": request.session})


async def clear_session(request: Request) -> JSONResponse:
    request.session.clear()
    return JSONResponse({"session": request.session})


async def session_over_websocket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"session": websocket.session})
    await websocket.close()


ROUTES = [
    Route("/view_session", view_session),
    Route("/update_session", update_session, methods=["POST"]),
    Route("/clear_session", clear_session, methods=["POST"]),
    WebSocketRoute("/ws", session_over_websocket),
]


@pytest.fixture
def client_for(store: Any) -> Iterator[Any]:
    """``client_for(base_url=..., **options)``: a client of the app on ``store``."""
    clients: list[TestClient] = []

    def make(base_url: str = "https://testserver", **options: Any) -> TestClient:
        middleware = Middleware(SessionMiddleware, secret_key="example", store=store, **options)
        client = TestClient(Starlette(routes=ROUTES, middleware=[middleware]), base_url=base_url)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_view_update_and_clear_through_json_response(client_for: Any) -> None:
    client = client_for(max_age=dt.timedelta(days=14))
    assert client.get("/view_session").json() == {"session": {}}
    response = client.post("/update_session", json={"some": "data"})
    assert response.json() == {"session": {"some": "data"}}
    assert set_cookies(response)[0]["max-age"] == str(14 * 24 * 3600)
    assert client.get("/view_session").json() == {"session": {"some": "data"}}
    assert client.post("/clear_session").json() == {"session": {}}
    assert client.get("/view_session").json() == {"session": {}}


def test_a_session_past_its_lifetime_reads_empty(client_for: Any) -> None:
    client = client_for(idle_timeout=1)
    assert client.post("/update_session", json={"some": "data"}).json() == {
        "session": {"some": "data"}
    }
    time.sleep(1.6)  # the cookie is replayed as is: the server decides it has expired
    response = client.get("/view_session")
    assert response.json() == {"session": {}}
    assert set_cookies(response) == []


def test_a_secure_cookie_is_not_kept_over_plain_http(client_for: Any) -> None:
    plain, secure = client_for(base_url="http://testserver"), client_for()
    assert plain.post("/update_session", json={"some": "data"}).json()["session"] == {
        "some": "data"
    }
    assert plain.get("/view_session").json() == {"session": {}}  # the client never sends it
    assert secure.post("/update_session", json={"some": "data"}).status_code == 200
    assert secure.get("/view_session").json() == {"session": {"some": "data"}}
    assert secure.post("/clear_session").json() == {"session": {}}
    assert secure.get("/view_session").json() == {"session": {}}


def test_a_mounted_apps_cookie_carries_its_path(store: Any) -> None:
    inner = Starlette(
        routes=ROUTES,
        middleware=[Middleware(SessionMiddleware, secret_key="example", store=store, path="/sub")],
    )
    app = Starlette(routes=[Mount("/sub", app=inner)])
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/sub/update_session", json={"some": "data"})
        assert response.status_code == 200
        assert set_cookies(response)[0]["path"] == "/sub"
        assert client.get("/sub/view_session").json() == {"session": {"some": "data"}}


def test_a_bogus_cookie_is_an_empty_session(client_for: Any) -> None:
    client = client_for()
    client.post("/update_session", json={"some": "data"})
    client.cookies.clear()
    client.cookies.set("session", "invalid")
    response = client.get("/view_session")
    assert response.status_code == 200 and response.json() == {"session": {}}


def test_without_max_age_the_cookie_lasts_the_browser_session(client_for: Any) -> None:
    client = client_for(max_age=None)
    response = client.post("/update_session", json={"some": "data"})
    assert "max-age" not in set_cookies(response)[0] and "expires" not in set_cookies(response)[0]
    client.cookies.clear()  # the browser closed
    assert client.get("/view_session").json() == {"session": {}}


def test_the_domain_attribute(client_for: Any) -> None:
    response = client_for(domain=".example.com").post("/update_session", json={"some": "data"})
    assert "; Domain=.example.com" in response.headers["set-cookie"]


def test_the_partitioned_attribute(client_for: Any) -> None:
    response = client_for(partitioned=True).post("/update_session", json={"some": "data"})
    assert "; Partitioned" in response.headers["set-cookie"]


def test_the_session_is_readable_over_a_websocket(client_for: Any) -> None:
    client = client_for()
    client.post("/update_session", json={"some": "data"})
    with client.websocket_connect("wss://testserver/ws") as websocket:  # Secure: wss
        assert websocket.receive_json() == {"session": {"some": "data"}}
