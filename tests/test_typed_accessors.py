"""The typed accessors the quick starts use, and a second session layer refused."""

from __future__ import annotations

import importlib
import sys

import flask
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import ConfigurationError, MemoryStore, MissingExtra, Session, SessionMiddleware
from sessionware.flask import Sessionware
from sessionware.starlette import session

SECRET = "typed-accessor-secret-key-0123456789"


def test_session_of_a_request_is_the_typed_session() -> None:
    async def login(request: Request) -> Response:
        s = session(request)
        s["user"] = "ada"
        s.regenerate()
        return JSONResponse({"same": s is request.session, "typed": isinstance(s, Session)})

    app = Starlette(routes=[Route("/login", login)])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=MemoryStore(), secure=False)
    assert TestClient(app).get("/login").json() == {"same": True, "typed": True}


def test_session_without_the_middleware_says_what_to_add() -> None:
    async def page(request: Request) -> Response:
        try:
            session(request)
        except ConfigurationError as error:
            return JSONResponse({"error": str(error)})
        return JSONResponse({})

    client = TestClient(Starlette(routes=[Route("/", page)]))
    assert "add_middleware(SessionMiddleware" in client.get("/").json()["error"]


def test_a_second_session_interface_on_a_flask_app_is_refused() -> None:
    app = flask.Flask(__name__)
    Sessionware(app, secret_key=SECRET)
    with pytest.raises(ConfigurationError, match="already has a session interface"):
        Sessionware(app, secret_key=SECRET)

    other = flask.Flask(__name__)

    class OtherInterface(flask.sessions.SessionInterface):
        pass

    other.session_interface = OtherInterface()
    with pytest.raises(ConfigurationError, match="OtherInterface"):
        Sessionware(other, secret_key=SECRET)


def test_without_starlette_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "starlette.requests", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "sessionware.starlette", raising=False)
    with pytest.raises(MissingExtra, match=r"pip install 'sessionware\[starlette\]'"):
        importlib.import_module("sessionware.starlette")
