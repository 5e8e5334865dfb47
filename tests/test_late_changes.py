"""Changes no save can carry are never lost in silence: made after the response
started (a streaming body, a background task, code after ``yield`` in a FastAPI
dependency), in a websocket handler, or before an exception left the app.

An assignment warned already; these are the cases a trial found silent: a value
read before the response and changed in place after it, ``clear()`` (a logout that
leaves the user signed in), and an exception answered by a handler that runs
outside the middleware (Starlette's ``exception_handlers`` for ``Exception``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import fastapi
import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionware import MemoryStore, SessionMiddleware, WSGISessionMiddleware
from sessionware.flask import Sessionware
from sessionware.flask import session as flask_session

LATE = "changed in place after the response started"


def starlette_client(routes: list[Any], **options: Any) -> TestClient:
    async def login(request: Request) -> JSONResponse:
        request.session.update(user="ada", cart=["a"])
        return JSONResponse({})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    app = Starlette(routes=[Route("/login", login), Route("/me", me), *routes], **options)
    app.add_middleware(SessionMiddleware, secret_key="k", store=MemoryStore())
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def streamed(late: Any) -> Any:
    async def route(request: Request) -> StreamingResponse:
        session = request.session
        session.get("cart")  # read before the response: kept for the save

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            late(session)
            yield b"b"

        return StreamingResponse(body())

    return route


def in_background(late: Any) -> Any:
    async def route(request: Request) -> PlainTextResponse:
        request.session.get("cart")
        return PlainTextResponse("ok", background=BackgroundTask(late, request.session))

    return route


@pytest.mark.parametrize("where", [streamed, in_background])
def test_an_in_place_change_after_the_response_started_is_logged(
    where: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c = starlette_client([Route("/late", where(lambda s: s["cart"].append("late")))])
    c.get("/login")
    assert c.get("/late").status_code == 200
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}  # (it cannot be saved)
    assert f"session keys ['cart'] were {LATE}" in caplog.text


@pytest.mark.parametrize("where", [streamed, in_background])
def test_a_logout_after_the_response_started_is_logged(
    where: Any, caplog: pytest.LogCaptureFixture
) -> None:
    c = starlette_client([Route("/late", where(lambda s: s.clear()))])
    c.get("/login")
    c.get("/late")
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    assert "clear() after the response started" in caplog.text
    assert "its user stays signed in" in caplog.text


def test_an_in_place_change_or_logout_in_a_websocket_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.url.path == "/append":
            websocket.session["cart"].append("ws")
        else:
            websocket.session.clear()
        await websocket.send_text("done")
        await websocket.close()

    c = starlette_client([WebSocketRoute("/append", handler), WebSocketRoute("/out", handler)])
    c.get("/login")
    cookie = f"session={c.cookies['session']}"
    for path in ("/append", "/out"):
        with c.websocket_connect(path, headers={"cookie": cookie}) as ws:
            assert ws.receive_text() == "done"
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    assert "clear() in a websocket handler" in caplog.text
    assert "session keys ['cart'] were changed in place in a websocket handler" in caplog.text


def test_a_change_in_place_before_the_response_is_saved_and_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def early(request: Request) -> StreamingResponse:
        request.session["cart"].append("early")

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            request.session.get("cart")  # read, not changed

        return StreamingResponse(body())

    c = starlette_client([Route("/early", early)])
    c.get("/login")
    c.get("/early")
    assert c.get("/me").json() == {"user": "ada", "cart": ["a", "early"]}
    assert "changed in place" not in caplog.text


def cart_dependency(request: fastapi.Request) -> Iterator[list[str]]:
    items: list[str] = request.session["cart"]
    yield items
    items.append("after yield")  # runs once the response has gone


def test_a_change_after_yield_in_a_fastapi_dependency_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = fastapi.FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="k", store=MemoryStore())

    @app.get("/login")
    def login(request: fastapi.Request) -> dict[str, Any]:
        request.session.update(user="ada", cart=["a"])
        return {}

    @app.get("/cart")
    def read(items: Annotated[list[str], fastapi.Depends(cart_dependency)]) -> list[str]:
        return items

    @app.get("/me")
    def me(request: fastapi.Request) -> dict[str, Any]:
        return dict(request.session)

    c = TestClient(app, base_url="https://testserver")
    c.get("/login")
    assert c.get("/cart").json() == ["a"]
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    assert f"session keys ['cart'] were {LATE}" in caplog.text


@pytest.mark.parametrize("changed_by", ["the route", "the handler"])
def test_an_exception_answered_outside_the_middleware_is_logged(
    changed_by: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette runs a handler for ``Exception`` in ServerErrorMiddleware, outside
    every user middleware: its 400 never passes through the session's. What the route
    changed is said as the exception passes; what the handler changes itself (the
    catch-all that flashes "something went wrong", a clear()) as it is made."""

    async def any_error(request: Request, exc: Exception) -> JSONResponse:
        if changed_by == "the handler":
            request.session.flash("something went wrong")
            request.session.clear()
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def fails(request: Request) -> JSONResponse:
        if changed_by == "the route":
            request.session["note"] = "kept?"
        raise ValueError("bad input")

    c = starlette_client([Route("/fails", fails)], exception_handlers={Exception: any_error})
    c.get("/login")
    assert c.get("/fails").status_code == 400
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    if changed_by == "the route":
        assert "the app raised ValueError before its response started" in caplog.text
    else:
        left = "after the request's exception left the session middleware"
        assert f"changed {left}" in caplog.text and f"clear() {left}" in caplog.text


def test_wsgi_an_exception_and_a_late_change_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        session = environ["sessionware.session"]
        path = environ["PATH_INFO"]
        if path == "/login":
            session.update(user="ada", cart=["a"])
        elif path == "/fails":
            session["note"] = "kept?"
            raise ValueError("bad input")
        elif path == "/late":
            cart = session["cart"]
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"a"
            cart.append("late")
            yield b"b"
            return
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield repr(dict(session)).encode()

    c = httpx.Client(
        transport=httpx.WSGITransport(app=WSGISessionMiddleware(app, secret_key="k")),
        base_url="https://testserver",
    )
    c.get("/login")
    with pytest.raises(ValueError):
        c.get("/fails")
    assert "the app raised ValueError before its response started" in caplog.text
    c.get("/late")
    assert c.get("/me").text == "{'user': 'ada', 'cart': ['a']}"
    assert f"session keys ['cart'] were {LATE}" in caplog.text


@pytest.mark.parametrize("read", ["before", "in the body"])
def test_flask_a_change_in_a_streamed_body_is_logged(
    read: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A value read before the response, or first read in the streamed body (with
    ``stream_with_context``), and changed in place there."""
    app = flask.Flask(__name__)
    app.secret_key = "k"
    Sessionware(app)

    @app.route("/login")
    def login() -> str:
        flask_session.update(user="ada", cart=["a"])
        return "ok"

    @app.route("/late")
    def late() -> Any:
        cart = flask_session["cart"] if read == "before" else None

        @flask.stream_with_context
        def body() -> Iterator[str]:
            yield "a"
            (cart if cart is not None else flask_session["cart"]).append("late")
            yield "b"

        return flask.Response(body())

    @app.route("/me")
    def me() -> Any:
        return dict(flask_session)

    c = app.test_client()
    c.get("/login", base_url="https://localhost")
    response = c.get("/late", base_url="https://localhost")
    assert response.data == b"ab"
    response.close()  # (as a WSGI server does once the body is sent)
    assert c.get("/me", base_url="https://localhost").json == {"user": "ada", "cart": ["a"]}
    assert f"session keys ['cart'] were {LATE}" in caplog.text


@pytest.mark.parametrize("change", ["assign", "delete all"])
def test_a_late_assignment_or_deletion_is_said_once(
    change: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A value read before the response and assigned after it warned at the assignment
    and again when the app was done; deleting the last key after it warned for the key
    and again for the logout it makes."""

    async def late(request: Request) -> StreamingResponse:
        session = request.session
        session.get("cart")

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            if change == "assign":
                session["cart"] = ["b"]
            else:
                del session["user"]
                del session["cart"]  # the last key

        return StreamingResponse(body())

    c = starlette_client([Route("/late", late)])
    c.get("/login")
    c.get("/late")
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    said = [r.getMessage() for r in caplog.records if "sessionware: session key" in r.getMessage()]
    said += [r.getMessage() for r in caplog.records if "clear()" in r.getMessage()]
    assert len(said) == (1 if change == "assign" else 2), said


@pytest.mark.parametrize("change", ["clear", "write", "flash in errorhandler(500)"])
def test_flask_an_unhandled_exception_that_drops_a_change_is_logged(
    caplog: pytest.LogCaptureFixture, change: str
) -> None:
    """An exception Flask answers with its 500 (or its 500 handler's answer) saves
    nothing, a logout's clear() included, nor what the handler changed (a flash
    before a redirect): said, naming the view's exception."""
    app = flask.Flask("late")
    Sessionware(app, secret_key="test-secret-key", store=MemoryStore())
    if change.startswith("flash"):

        @app.errorhandler(500)
        def sorry(error: Exception) -> Any:
            flask.flash("Sorry, something went wrong", "error")
            return flask.redirect("/")

    @app.get("/login")
    def login() -> str:
        flask_session["user"] = "ada"
        return "ok"

    @app.get("/fails")
    def fails() -> str:
        if change == "clear":
            flask_session.clear()  # a logout whose page then fails
        elif change == "write":
            flask_session["note"] = "kept?"
        raise RuntimeError("boom")

    @app.get("/me")
    def me() -> dict[str, Any]:
        return dict(flask_session)

    client = app.test_client()
    client.get("/login", base_url="https://localhost")
    status = client.get("/fails", base_url="https://localhost").status_code
    assert status == (302 if change.startswith("flash") else 500)
    assert client.get("/me", base_url="https://localhost").get_json() == {"user": "ada"}
    assert "the request raised RuntimeError (in a view or a hook), so session" in caplog.text
    assert "whatever errorhandler(500) answers" in caplog.text
    assert "catch the error where it is raised" in caplog.text


def test_a_logout_in_a_websocket_with_no_stored_session_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With no session cookie (or a forged one) there is no stored session to keep:
    the warning said "the stored session None is not deleted and the user stays
    signed in"."""

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.session.clear()
        await websocket.send_text("done")
        await websocket.close()

    c = starlette_client([WebSocketRoute("/out", handler)])
    for cookie in ({}, {"cookie": "session=forged.1.x"}):
        with c.websocket_connect("/out", headers=cookie) as ws:
            assert ws.receive_text() == "done"
    assert "clear()" not in caplog.text


def test_a_logout_in_a_websocket_of_a_session_never_loaded_does_not_claim_it_is_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With autoload=False nothing read the store before clear(): the cookie's session
    may have ended already (revoked, logged out elsewhere), so the warning says so."""

    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        websocket.session.clear()
        await websocket.send_text("done")
        await websocket.close()

    async def login(request: Request) -> JSONResponse:
        request.session["user"] = "ada"
        return JSONResponse({})

    app = Starlette(routes=[Route("/login", login), WebSocketRoute("/out", handler)])
    app.add_middleware(SessionMiddleware, secret_key="k", store=MemoryStore(), autoload=False)
    c = TestClient(app, base_url="https://testserver")
    c.get("/login")
    with c.websocket_connect("/out", headers={"cookie": f"session={c.cookies['session']}"}) as ws:
        assert ws.receive_text() == "done"
    assert "(not loaded: if it is still stored) is not deleted" in caplog.text


def first_read_late(where: str) -> Any:
    """A route that reads nothing before its response; the value is first read, and
    changed in place, after it started."""

    def late(session: Any) -> None:
        session["cart"].append("late")
        session.setdefault("seen", []).append("x")  # (a new key: its assignment warns)

    async def streamed_route(request: Request) -> StreamingResponse:
        session = request.session

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            late(session)
            yield b"b"

        return StreamingResponse(body())

    async def background_route(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", background=BackgroundTask(late, request.session))

    return streamed_route if where == "streamed" else background_route


@pytest.mark.parametrize("where", ["streamed", "background"])
def test_a_value_first_read_after_the_response_started_and_changed_is_logged(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    c = starlette_client([Route("/late", first_read_late(where))])
    c.get("/login")
    assert c.get("/late").status_code == 200
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    assert f"session keys ['cart'] were {LATE}" in caplog.text
    assert "session key 'seen' changed after the response started" in caplog.text


def test_a_value_read_after_the_response_and_left_alone_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Any] = []
    c = starlette_client([Route("/late", in_background(lambda s: seen.append(s["cart"])))])
    c.get("/login")
    c.get("/late")
    assert seen == [["a"]]
    assert "changed" not in caplog.text


@pytest.mark.parametrize("how", ["first read in the body", "written blind"])
def test_wsgi_a_value_changed_in_place_in_the_body_is_logged(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A value first read in the body (the session loads there, after the save), or
    set without a load (a blind write, saved as the response starts) and changed in
    place in the body: the change is lost, and said."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        session = environ["sessionware.session"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/login":
            session.update(user="ada", cart=["a"])
        elif environ["PATH_INFO"] == "/late":
            cart = ["q"]
            if how == "written blind":
                session["cart"] = cart  # nothing loaded
            yield b"a"
            (session["cart"] if how.startswith("first") else cart).append("late")
            yield b"b"
            return
        yield repr(dict(session)).encode()

    c = httpx.Client(
        transport=httpx.WSGITransport(app=WSGISessionMiddleware(app, secret_key="k")),
        base_url="https://testserver",
    )
    c.get("/login")
    c.get("/late")
    kept = "['a']" if how.startswith("first") else "['q']"
    assert c.get("/me").text == "{'user': 'ada', 'cart': " + kept + "}"
    assert f"session keys ['cart'] were {LATE}" in caplog.text


def test_a_change_in_place_then_a_failure_in_a_streamed_body_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The body changes a value, then raises: the change is lost with the rest, and
    said (the WSGI shell said it; the ASGI one only for a body that ended well)."""

    async def route(request: Request) -> StreamingResponse:
        session = request.session
        session.get("cart")

        async def body() -> AsyncIterator[bytes]:
            yield b"a"
            session["cart"].append("late")
            raise RuntimeError("the stream broke")

        return StreamingResponse(body())

    c = starlette_client([Route("/late", route)])
    c.get("/login")
    assert c.get("/late").status_code == 200  # (the stream breaks after its start)
    assert c.get("/me").json() == {"user": "ada", "cart": ["a"]}
    assert f"session keys ['cart'] were {LATE}" in caplog.text
