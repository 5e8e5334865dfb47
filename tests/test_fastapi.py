"""SessionDep: the session as a FastAPI dependency, with autoload on and off."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from starlette.testclient import TestClient

from sessionware import ConfigurationError, MemoryStore, MissingExtra, SessionMiddleware
from sessionware.fastapi import SessionDep

from .helpers import CountingStore, set_cookies


def make_app(store: Any = None, middleware: bool = True, **options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/incr")
    async def incr(session: SessionDep, request: Request) -> dict[str, Any]:
        assert session is request.session
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}

    @app.get("/sync-incr")
    def sync_incr(session: SessionDep) -> dict[str, Any]:
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}

    @app.get("/declared")
    async def declared(session: SessionDep) -> str:
        return "ok"

    @app.get("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"n": request.session.get("n")}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, session: SessionDep) -> None:
        await websocket.accept()
        await websocket.send_json({"n": session.get("n")})
        await websocket.close()

    if middleware:
        app.add_middleware(SessionMiddleware, secret_key="k", store=store, **options)
    return app


def client(app: FastAPI, raise_server_exceptions: bool = False) -> TestClient:
    return TestClient(
        app, base_url="https://testserver", raise_server_exceptions=raise_server_exceptions
    )


@pytest.mark.parametrize("autoload", [True, False])
@pytest.mark.parametrize("route", ["/incr", "/sync-incr"])
def test_session_dep_gives_a_loaded_session(autoload: bool, route: str) -> None:
    store = CountingStore(MemoryStore())
    with client(make_app(store, autoload=autoload)) as c:
        assert c.get(route).json() == {"n": 1}
        assert c.get(route).json() == {"n": 2}
    assert store.names() == ["create", "load", "save"]


def test_autoload_false_loads_only_for_handlers_that_declare_the_session() -> None:
    store = CountingStore(MemoryStore())
    with client(make_app(store, autoload=False)) as c:
        c.get("/incr")
        store.calls.clear()
        assert c.get("/raw").status_code == 500  # request.session unloaded: SessionNotLoaded
        assert store.calls == []
        c.get("/declared")
    assert store.names() == ["load"]


def test_declaring_the_session_without_using_it_adds_no_vary() -> None:
    with client(make_app()) as c:
        c.get("/incr")
        response = c.get("/declared")
    assert "vary" not in response.headers
    assert set_cookies(response) == []


def test_no_cookie_means_no_load_even_with_autoload_false() -> None:
    store = CountingStore(MemoryStore())
    with client(make_app(store, autoload=False)) as c:
        assert c.get("/declared").text == '"ok"'
    assert store.calls == []


def test_websockets_get_the_session_too() -> None:
    with client(make_app(autoload=False)) as c:
        value = set_cookies(c.get("/incr"))[0]["value"]
        with c.websocket_connect("/ws", headers={"cookie": f"session={value}"}) as ws:
            assert ws.receive_json() == {"n": 1}


def test_session_dep_without_the_middleware_says_what_to_add() -> None:
    with (
        client(make_app(middleware=False), raise_server_exceptions=True) as c,
        pytest.raises(ConfigurationError, match="add_middleware"),
    ):
        c.get("/declared")


def test_without_fastapi_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.delitem(sys.modules, "sessionware.fastapi")
    with pytest.raises(MissingExtra, match=r"sessionware\[fastapi\]"):
        importlib.import_module("sessionware.fastapi")
