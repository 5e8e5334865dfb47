"""Regressions from the first code review: each test reproduced a bug before its fix.

They cross modules (cookies and caches, codec and concurrency, WSGI commit
points), so they live together here rather than beside one module's tests.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    MemoryStore,
    SessionManager,
    SessionMiddleware,
    StoreUnavailable,
    WSGISessionMiddleware,
)
from sessionware.core import SessionConfig, plan
from tests.helpers import only_cookie, set_cookies

SECRET = "s3cret"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FailingStore(MemoryStore):
    def create(self, *args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("down")


def starlette_app(store: Any, routes: dict[str, Any], **options: Any) -> TestClient:
    app = Starlette(routes=[Route(p, h, methods=["GET", "POST"]) for p, h in routes.items()])
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store, **options)
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def other_worker_bytes(value_code: str, key: str = "tags") -> bytes:
    """How another worker (another hash seed) encodes ``value_code``: bytes that differ
    from this process's encoding whenever any worker's would."""
    import subprocess

    from sessionware import codec

    local = codec.encode(key, eval(value_code))
    root = ROOT
    for seed in range(20):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {root!r}); from sessionware import codec; "
                f"print(codec.encode({key!r}, {value_code}).hex())",
            ],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": str(seed)},
            check=True,
        ).stdout.strip()
        if bytes.fromhex(out) != local:
            return bytes.fromhex(out)
    return local


# --- 1. persistent-cookie refresh sends Set-Cookie(token) without Vary: Cookie ------------
def test_refresh_set_cookie_without_vary() -> None:
    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = "ada"
        return PlainTextResponse("ok")

    async def public(request: Request) -> PlainTextResponse:  # never touches the session
        return PlainTextResponse("public page", headers={"cache-control": "public, max-age=600"})

    c = starlette_app(store, {"/login": login, "/public": public}, max_age=100)
    c.post("/login")
    cookie = c.cookies["session"]
    # make the cookie look older than the refresh threshold (max(1, 100*0.01)+1 = 2s)
    time.sleep(2.1)
    only_cookie(c, cookie)
    r = c.get("/public")
    assert set_cookies(r), "expected the sliding refresh"
    assert "cookie" in r.headers.get("vary", "").lower(), (
        f"Set-Cookie carrying the session token on a public/cacheable response without Vary: "
        f"Cookie: {dict(r.headers)}"
    )


# --- 2. clear() after regenerate() stores an empty session instead of logging out ----------
def test_regenerate_then_clear_is_not_a_logout() -> None:
    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = "ada"
        return PlainTextResponse("ok")

    async def weird(request: Request) -> PlainTextResponse:
        request.session.regenerate()  # e.g. a login attempt started ...
        request.session.clear()  # ... then aborted: log out
        return PlainTextResponse("ok")

    c = starlette_app(store, {"/login": login, "/x": weird})
    c.post("/login")
    assert len(store) == 1
    r = c.post("/x")
    cookies = set_cookies(r)
    assert cookies and cookies[0].get("max-age") == "0", f"logout must expire the cookie: {cookies}"
    assert len(store) == 0, f"logout must delete the record; store holds {len(store)}"


def test_regenerate_on_an_empty_new_session_stores_an_empty_record() -> None:
    store = MemoryStore()

    async def h(request: Request) -> PlainTextResponse:
        request.session.regenerate()
        return PlainTextResponse("ok")

    c = starlette_app(store, {"/": h})
    r = c.get("/")
    assert not set_cookies(r) and len(store) == 0, "an empty new session is never stored"


# --- 3. streaming: writes after the response started cannot be saved; they must be loud ------
def test_writes_after_the_response_started_are_logged_not_silently_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()

    async def stream(request: Request) -> StreamingResponse:
        async def body():  # type: ignore[no-untyped-def]
            yield b"a"
            request.session["after_start"] = 1  # too late: Set-Cookie went out already
            yield b"b"

        request.session["before"] = 1
        return StreamingResponse(body())

    async def read(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    c = starlette_app(store, {"/s": stream, "/r": read})
    c.get("/s")
    assert c.get("/r").json() == {"before": 1}
    assert "'after_start' changed after the response started" in caplog.text


def test_a_regenerate_after_the_response_started_is_logged_and_changes_no_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Too late to save, it must neither pass silently nor leave a new id behind that
    no record will ever have."""
    store = MemoryStore()
    seen: list[Any] = []

    async def stream(request: Request) -> StreamingResponse:
        async def body():  # type: ignore[no-untyped-def]
            yield b"a"
            before = request.session.id
            request.session.regenerate()
            seen.append((before, request.session.id))
            yield b"b"

        request.session["before"] = 1
        return StreamingResponse(body())

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.session.id})

    c = starlette_app(store, {"/s": stream, "/id": whoami})
    c.get("/s")
    ((before, after),) = seen
    assert before == after == c.get("/id").json()["id"] is not None
    assert "regenerate() after the response started" in caplog.text


# --- 4. WSGI: start_response(200) then start_response(500, exc_info) still saves -----------
def test_wsgi_exc_info_500_after_200_saves() -> None:
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["sessionware.session"]["x"] = 1
        start_response("200 OK", [("content-type", "text/plain")])
        try:
            raise RuntimeError("rendering failed before the first byte")
        except RuntimeError:
            start_response("500 Internal Server Error", [], sys.exc_info())
            return [b"error"]

    mw = WSGISessionMiddleware(app, secret_key=SECRET, store=store)
    seen: list[str] = []
    body = mw({"HTTP_COOKIE": ""}, lambda s, h, e=None: seen.append(s))
    b"".join(body)
    assert seen[-1].startswith("500")
    assert len(store) == 0, "a 500 response saved the session"


# --- 5. WSGI: deferred generator that starts, gets replaced, and yields nothing -------------
def test_wsgi_deferred_replaced_empty_body() -> None:

    store = FailingStore()

    def app(environ: dict[str, Any], start_response: Any):  # type: ignore[no-untyped-def]
        environ["sessionware.session"]["x"] = 1
        start_response("204 No Content", [])
        return
        yield b""  # a generator that yields nothing

    mw = WSGISessionMiddleware(app, secret_key=SECRET, store=store)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(mw({}, lambda s, h, e=None: started.append((s, h))))
    status, headers = started[-1]
    assert status.startswith("503")
    length = int(dict(headers)["content-length"])
    assert len(body) == length, f"Content-Length {length} but body has {len(body)} bytes"


# --- 6. set encoding depends on hash seed: a pure read rewrites the key ---------------------
def test_reading_a_set_writes_it_back_across_processes() -> None:
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {ROOT!r});"
        "from sessionware import codec;"
        "print(codec.encode('k', {'alpha','beta','gamma','delta','epsilon'}).hex())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": str(seed)},
            check=True,
        ).stdout.strip()
        for seed in range(5)
    }
    assert len(outs) == 1, f"{len(outs)} different encodings of one set across 5 workers"


def test_read_only_set_access_causes_a_save() -> None:
    from sessionware.session import Session
    from sessionware.stores.base import Meta, StoredSession

    cfg = SessionConfig.build(secret_key=SECRET)
    # the bytes another worker (another hash seed) wrote: same set, other order
    other_worker = other_worker_bytes("{'gamma', 'alpha', 'beta'}")
    s = Session()
    s._id = "x" * 32
    s._token = "t" * 43
    s._fill(StoredSession({"tags": other_worker}, Meta(0, 0, 0, None)))
    _ = "alpha" in s["tags"]  # a pure read
    p = plan(cfg, s, now=1.0)
    assert p.method == "", f"a read-only request wrote {p.args[1].set if p.args else p}"


# --- 7. size accounting: a value shrunk in place still counts at its old size --------------
def test_size_false_positive_after_in_place_shrink() -> None:
    from sessionware.session import Session

    s = Session(max_payload_bytes=1000)
    s._pending = False
    s["cart"] = ["x" * 100] * 8  # ~ 800 bytes
    s["cart"].clear()  # now ~ 5 bytes
    s["note"] = "y" * 500  # real total ~ 515 bytes
    # raises SessionTooLarge: "would make the session 1323 bytes"


# --- 8. Flask flash(Markup(...)) — Flask's own flash with a Markup message -------------------
def test_flask_flash_markup() -> None:
    import flask
    from markupsafe import Markup

    from sessionware.flask import Sessionware

    app = flask.Flask(__name__)
    Sessionware(app, secret_key=SECRET, store=MemoryStore())

    @app.post("/")
    def index() -> str:
        flask.flash(Markup("<b>Welcome</b> back"))
        return "ok"

    r = app.test_client().post("/", base_url="https://localhost")
    assert r.status_code == 200, r.status_code


# --- 9. MemoryStore: logged-out/rotated records leave heap entries for the whole idle timeout --
def test_memorystore_heap_grows_with_churn() -> None:
    from sessionware.stores.base import Meta

    store = MemoryStore()
    now = time.time()
    for i in range(10_000):
        sid = f"{i:032x}"
        store.create(sid, {"k": b"\x01"}, Meta(now, now, now, now + 30 * 86400))
        store.delete(sid)  # logout
    assert len(store) == 0
    assert len(store._heap) < 1000, f"{len(store._heap)} heap entries for 0 records"


# --- 10. cookie candidate cap counts junk: 4 planted junk cookies hide the real one ---------
def test_junk_cookies_hide_the_valid_one() -> None:
    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = "ada"
        return PlainTextResponse("ok")

    async def me(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    c = starlette_app(store, {"/login": login, "/me": me})
    c.post("/login")
    good = c.cookies["session"]
    c.cookies.clear()
    junk = "; ".join("session=junk" for _ in range(4))
    r = c.get("/me", headers={"cookie": f"{junk}; session={good}"})
    assert r.json() == {"user": "ada"}


def test_a_dead_cookie_on_a_cacheable_page_gets_no_set_cookie() -> None:
    """Issue 10: a cookie it cannot use is left alone until the handler writes; a
    response that sets the cookie is never cacheable by a shared cache (issue 9)."""
    store = MemoryStore()

    async def login(request: Request) -> PlainTextResponse:
        request.session["user"] = "ada"
        return PlainTextResponse("ok", headers={"cache-control": "public, max-age=600"})

    async def public(request: Request) -> PlainTextResponse:
        return PlainTextResponse("public", headers={"cache-control": "public, max-age=600"})

    c = starlette_app(store, {"/login": login, "/public": public})
    first = c.post("/login")
    assert first.headers["cache-control"] == "max-age=600, no-store"
    assert "cookie" in first.headers["vary"].lower()
    SessionManager(store).revoke(next(iter(store._records)), actor="ops")
    r = c.get("/public")
    assert set_cookies(r) == []
    assert r.headers["cache-control"] == "public, max-age=600"  # nothing to protect
    again = c.post("/login")
    assert set_cookies(again)[0]["value"] and "no-store" in again.headers["cache-control"]


def test_read_only_set_access_loses_a_concurrent_update() -> None:
    """Worker A (other hash seed) only reads 'tags'; worker B adds a tag. A's save reverts B."""
    from sessionware import codec
    from sessionware.session import Session

    store = MemoryStore()
    cfg = SessionConfig.build(secret_key=SECRET)
    now = time.time()
    sid = "f" * 32
    # stored by a worker whose hash seed ordered the set differently
    raw = other_worker_bytes("{'gamma', 'alpha', 'beta'}")
    store.create(sid, {"tags": raw}, Meta(now, now, now, now + 100))

    def open_session() -> Session:
        s = Session()
        s._id, s._token = sid, "t" * 43
        s._fill(store.load(sid, now=time.time(), idle_seconds=100))
        return s

    a, b = open_session(), open_session()
    _ = "alpha" in a["tags"]  # A: read only
    b["tags"].add("delta")  # B: a real change
    from sessionware.core import run_plan

    run_plan(store, plan(cfg, b))
    run_plan(store, plan(cfg, a))  # A writes back its stale copy
    assert "delta" in codec.decode(store.read_data(sid, now=time.time())["tags"])


from sessionware.stores.base import Meta  # noqa: E402


def test_session_id_of_a_dead_record_before_load_wsgi() -> None:
    store = MemoryStore()
    ids: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        s = environ["sessionware.session"]
        if environ["PATH_INFO"] == "/login":
            s["user"] = "ada"
        else:
            ids.append(s.id)  # before any read
            ids.append(("after read", s.get("user"), s.id))
        start_response("200 OK", [])
        return [b""]

    mw = WSGISessionMiddleware(app, secret_key=SECRET, store=store)
    headers: list[Any] = []
    mw({"PATH_INFO": "/login"}, lambda s, h, e=None: headers.extend(h))
    cookie = next(v for k, v in headers if k == "set-cookie").split(";")[0]
    SessionManager(store).revoke(next(iter(store._records)), actor="ops")
    mw({"PATH_INFO": "/", "HTTP_COOKIE": cookie}, lambda s, h, e=None: None)
    assert ids[0] is None, f"id before load names a revoked session: {ids}"


def test_regenerate_keeps_stale_max_size() -> None:
    store = MemoryStore()

    async def small(request: Request) -> PlainTextResponse:
        request.session["a"] = 1
        return PlainTextResponse("ok")

    async def grow(request: Request) -> PlainTextResponse:
        request.session.regenerate()
        request.session["big"] = "x" * 5000
        return PlainTextResponse("ok")

    c = starlette_app(store, {"/s": small, "/g": grow})
    c.post("/s")
    c.post("/g")
    (meta,) = [r.meta for r in store._records.values()]
    assert meta.max_size_bytes >= meta.size_bytes, (meta.size_bytes, meta.max_size_bytes)


def test_wsgi_generator_app_raising_after_start_response_saves() -> None:
    store = MemoryStore()

    def app(environ: dict[str, Any], start_response: Any):  # type: ignore[no-untyped-def]
        environ["sessionware.session"]["x"] = 1
        start_response("200 OK", [("content-type", "text/plain")])
        raise RuntimeError("work after start_response failed, nothing was sent")
        yield b""

    mw = WSGISessionMiddleware(app, secret_key=SECRET, store=store)
    with pytest.raises(RuntimeError):
        b"".join(mw({}, lambda s, h, e=None: None))
    assert len(store) == 0, "the handler raised before sending a byte, yet the session was saved"
