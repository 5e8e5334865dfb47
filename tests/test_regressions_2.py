"""Regressions from the second code review: each test reproduced a bug before its fix.

The codec, cookie and store findings have their tests beside their modules'
(test_codec, test_cookies, the store contract); these cross the middleware.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import MemoryStore, SessionMiddleware, WSGISessionMiddleware

SECRET = "s3cret"


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_wsgi_an_empty_first_chunk_is_not_sent_before_start_response() -> None:
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        environ["sessionware.session"]["x"] = 1
        start_response("200 OK", [("content-type", "text/plain")])
        yield b""  # PEP 3333 lets an app yield an empty chunk first
        yield b"hello"

    server = make_server(
        "127.0.0.1",
        0,
        WSGISessionMiddleware(app, secret_key=SECRET, store=store, secure=False),
        handler_class=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/") as response:
            status, body = response.status, response.read()
            cookie = response.headers.get("set-cookie", "")
    finally:
        server.shutdown()
        server.server_close()
    assert (status, body) == (200, b"hello")  # wsgiref answered 500 before the fix
    assert cookie.startswith("session=") and len(store) == 1


def test_session_id_is_the_saved_record_after_the_response() -> None:
    store = MemoryStore()
    seen: dict[str, str | None] = {}

    def after(request: Request, name: str) -> BackgroundTask:
        return BackgroundTask(lambda: seen.__setitem__(name, request.session.id))

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = "ada"
        return PlainTextResponse("ok", background=after(request, "created"))

    async def relogin(request: Request) -> PlainTextResponse:
        request.session.regenerate()
        return PlainTextResponse("ok", background=after(request, "rotated"))

    async def logout(request: Request) -> PlainTextResponse:
        request.session.clear()
        return PlainTextResponse("ok", background=after(request, "deleted"))

    routes = [Route("/login", login), Route("/relogin", relogin), Route("/logout", logout)]
    app = Starlette(routes=routes)
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store)
    with TestClient(app, base_url="https://testserver") as client:
        client.get("/login")
        assert [seen["created"]] == list(store._records)  # was None: "not saved yet"
        client.get("/relogin")
        live = [sid for sid, record in store._records.items() if record.data is not None]
        assert [seen["rotated"]] == live  # was the old, deleted id
        client.get("/logout")
        assert seen["deleted"] is None
