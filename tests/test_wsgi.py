"""WSGISessionMiddleware specifics: laziness, PEP 3333 corners, headers, threads.

The core behaviours run on WSGI in ``tests/scenarios``; these are the shell's own.
"""

from __future__ import annotations

import inspect
import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.validate import validator

import httpx
import pytest

from sessionware import (
    ConfigurationError,
    MemoryStore,
    Session,
    StoreUnavailable,
    WSGISessionMiddleware,
)
from sessionware.core import SessionConfig, SessionOptions

from .helpers import CountingStore, set_cookies

Environ = dict[str, Any]


def counter(environ: Environ, start_response: Any) -> Iterable[bytes]:
    """``/incr`` counts per session, ``/read`` reads, ``/untouched`` ignores the session."""
    session: Session = environ["sessionware.session"]
    path = environ["PATH_INFO"]
    body: dict[str, Any] = {}
    if path == "/incr":
        session["n"] = session.get("n", 0) + 1
        body = {"n": session["n"]}
    elif path == "/read":
        body = {"n": session.get("n")}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Vary", "Accept-Encoding")])
    return [data]


def client(app: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://testserver")


def middleware(app: Any = counter, store: Any = None, **options: Any) -> WSGISessionMiddleware:
    return WSGISessionMiddleware(app, secret_key="k", store=store, **options)


def test_the_session_is_in_the_environ_and_loads_only_when_used() -> None:
    store = CountingStore(MemoryStore())
    with client(middleware(store=store)) as c:
        assert c.get("/incr").json() == {"n": 1}
        store.calls.clear()
        response = c.get("/untouched")  # a valid cookie, but the app never looks
        assert store.calls == []
        assert set_cookies(response) == []
        assert response.headers["vary"] == "Accept-Encoding"
        assert c.get("/read").json() == {"n": 1}
    assert store.names() == ["load"]


def test_vary_is_merged_into_the_apps_header() -> None:
    with client(middleware()) as c:
        response = c.get("/read")
    assert response.headers.get_list("vary") == ["Accept-Encoding, Cookie"]


def test_the_middleware_is_pep_3333_compliant() -> None:
    app = validator(middleware(validator(counter)))
    with client(app) as c:
        assert c.get("/incr").json() == {"n": 1}
        assert c.get("/incr").json() == {"n": 2}


def test_a_store_without_the_sync_contract_is_refused() -> None:
    class AsyncOnly:
        async def aload(self) -> None: ...

    with pytest.raises(ConfigurationError, match="sync store contract"):
        middleware(store=AsyncOnly())


def test_options_are_validated_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="same_site"):
        middleware(same_site="sometimes")
    with pytest.raises(TypeError, match="no_such_option"):  # as Python's own error would
        middleware(no_such_option=1)
    with pytest.raises(ConfigurationError, match=r"rolling \(use refresh_each_request=True"):
        middleware(rolling=True)


def test_session_options_list_every_build_option() -> None:
    built = set(inspect.signature(SessionConfig.build).parameters) - {"secret_key"}
    assert set(SessionOptions.__annotations__) == built


def test_autoload_false_still_loads_on_first_use() -> None:
    with client(middleware(autoload=False)) as c:
        c.get("/incr")
        assert c.get("/incr").json() == {"n": 2}


# -- failures -----------------------------------------------------------------------


def test_a_save_failure_replaces_the_response_with_a_503() -> None:
    store = CountingStore(MemoryStore(), fail={"create"})
    with client(middleware(store=store)) as c:
        response = c.get("/incr")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert "vary" not in response.headers  # the app's headers are gone with its body
    assert "session store" in response.text
    assert set_cookies(response) == []


def test_a_store_failure_before_the_first_byte_is_still_a_503() -> None:
    # PEP 3333: nothing is committed until the first body byte, so a 503 can still go out
    def late(environ: Environ, start_response: Any) -> Iterable[bytes]:
        environ["sessionware.session"]["a"] = 1
        start_response("200 OK", [])
        raise StoreUnavailable("the store failed after start_response")

    started: list[str] = []
    body = middleware(late)({"HTTP_COOKIE": ""}, lambda status, *rest: started.append(status))
    assert started == ["503 Service Unavailable"]
    assert b"session store" in b"".join(body)


def test_a_second_start_response_with_exc_info_passes_through() -> None:
    def recovering(environ: Environ, start_response: Any) -> Iterable[bytes]:
        environ["sessionware.session"]["a"] = 1
        start_response("200 OK", [])
        try:
            raise RuntimeError("rendering failed")
        except RuntimeError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"sorry"]

    status, _, data = call(middleware(recovering))
    assert (status, data) == ("500 Internal Server Error", b"sorry")


# -- apps that start their response only once iterated (PEP 3333 allows it) --------


def generator_app(environ: Environ, start_response: Any) -> Iterator[bytes]:
    session = environ["sessionware.session"]
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield str(session["n"]).encode()
    yield b"!"


def call(app: Any, cookie: str = "") -> tuple[str, list[tuple[str, str]], bytes]:
    """Drive ``app`` like a server: start_response may be called while iterating."""
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.update(status=status, headers=headers)
        return lambda data: None

    body = app({"HTTP_COOKIE": cookie, "PATH_INFO": "/"}, start_response)
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return seen["status"], seen["headers"], data


def test_a_generator_app_gets_its_session_saved() -> None:
    app = middleware(generator_app)
    status, headers, data = call(app)
    assert (status, data) == ("200 OK", b"1!")
    cookie = next(v for k, v in headers if k == "set-cookie").split(";")[0]
    assert call(app, cookie)[2] == b"2!"


def test_a_body_closed_before_it_is_read_closes_the_apps_and_says_the_change_was_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server (or an outer middleware) that gives up before the first chunk: the
    app's own iterable is closed all the same (PEP 3333), nothing is saved, and the
    dropped change is logged."""
    closed: list[bool] = []
    store = CountingStore(MemoryStore())

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"never read"

        def close(self) -> None:
            closed.append(True)

    def app(environ: Environ, start_response: Any) -> Body:
        environ["sessionware.session"]["cart"] = ["sku"]
        start_response("200 OK", [("content-type", "text/plain")])
        return Body()

    body = middleware(app, store=store)({"PATH_INFO": "/"}, lambda *args: None)
    with caplog.at_level("WARNING", logger="sessionware"):
        body.close()  # type: ignore[attr-defined]
        body.close()  # type: ignore[attr-defined]  # (a second close does nothing more)
    assert closed == [True]
    assert caplog.text.count("changes were not saved") == 1
    assert store.names() == []
    assert "closed the response before sending any of it" in caplog.text
    assert "changes were not saved" in caplog.text


def test_a_generator_app_whose_save_fails_answers_503() -> None:
    store = CountingStore(MemoryStore(), fail={"create"})
    status, _, data = call(middleware(generator_app, store=store))
    assert status.startswith("503")
    assert b"session store" in data and b"!" not in data


def test_a_generator_app_whose_load_fails_answers_503() -> None:
    store = CountingStore(MemoryStore())
    app = middleware(generator_app, store=store)
    cookie = next(v for k, v in call(app)[1] if k == "set-cookie").split(";")[0]
    store.fail = {"load"}
    status, headers, data = call(app, cookie)
    assert b"session store" in data
    assert status.startswith("503")
    assert not any(k == "set-cookie" for k, _ in headers)


# -- threads ------------------------------------------------------------------------


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_threaded(app: Any) -> tuple[str, Callable[[], None]]:
    """Serve ``app`` from a real threaded server on a free port: (url, stop)."""
    server = make_server("127.0.0.1", 0, app, ThreadingServer, QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return f"http://127.0.0.1:{server.server_port}", stop


def hammer(url: str, clients: int = 8, requests: int = 15) -> list[list[int]]:
    """Each client counts up in its own session, all at once; the counts each saw."""

    def run(_: int) -> list[int]:
        with httpx.Client(base_url=url) as c:
            return [c.get("/incr").json()["n"] for _ in range(requests)]

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(run, range(clients)))


def test_a_threaded_server_keeps_every_session_apart() -> None:
    store = MemoryStore()
    # secure=False: the test server is plain http, where clients drop Secure cookies
    url, stop = serve_threaded(middleware(store=store, secure=False))
    try:
        counts = hammer(url)
    finally:
        stop()
    assert counts == [list(range(1, 16))] * 8
    assert len(store) == 8


def _writes(key: str, environ_key: str = "sessionware.session") -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        sessions = environ.get("sessionware.sessions", {})
        session = sessions.get("checkout") if key == "cart" else environ[environ_key]
        session[key] = session.get(key, 0) + 1
        start_response("200 OK", [("content-type", "text/plain")])
        return [b"ok"]

    return app


def test_two_middlewares_on_one_cookie_are_a_clear_error_as_under_asgi() -> None:
    """The second session type of the README with cookie_name forgotten: each response
    carried two Set-Cookie of one name, and every request reset one of the sessions
    (users signed out, no error). ASGI refused it; WSGI and Flask now do too."""
    from sessionware import SessionManager

    store = MemoryStore()
    types = SessionManager(store).types
    types.create(name="Checkout", tag="checkout", schema={"cart": 0}, expiry=1, period="hours")
    inner = WSGISessionMiddleware(
        _writes("cart"), secret_key="k" * 40, store=store, session_type="checkout"
    )
    outer = WSGISessionMiddleware(inner, secret_key="k" * 40, store=store)
    refused = pytest.raises(ConfigurationError, match="use the cookie 'session' on this request")
    with httpx.Client(transport=httpx.WSGITransport(app=outer), base_url="https://t") as c, refused:
        c.get("/")
    named = WSGISessionMiddleware(
        _writes("cart"), secret_key="k" * 40, store=store, session_type="checkout",
        cookie_name="checkout",
    )  # fmt: skip
    outer = WSGISessionMiddleware(named, secret_key="k" * 40, store=store)
    with httpx.Client(transport=httpx.WSGITransport(app=outer), base_url="https://t") as c:
        assert [c.get("/").status_code for _ in range(3)] == [200] * 3
