"""Cookie headers as real servers hand them over: smuggling, joined headers, control bytes.

The WSGI tests run behind real servers (wsgiref, Werkzeug's, gunicorn), each
sent raw HTTP/1.1 requests with exactly the ``Cookie`` headers under test, so
that the joining is the server's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import SessionMiddleware
from sessionware.cookies import cookie_jar, cookie_values

from .cookie_app import make_app
from .stores.cluster import free_ports

ROOT = Path(__file__).resolve().parent.parent
CONTROL_BYTES = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0"]


# -- the parser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        'other="x;session=ATTACKER"; session=VICTIM',
        'other="x; session=ATTACKER"; session=VICTIM',
        'other="x; session=ATTACKER; y="; session=VICTIM',
        'other="x;session=ATTACKER";session=VICTIM',
    ],
)
def test_a_quoted_value_of_another_cookie_never_yields_ours(header: str) -> None:
    assert cookie_values([header], "session") == ["VICTIM"]
    assert cookie_values([header], "session", joined=True) == ["VICTIM"]


def test_a_value_quoted_whole_loses_its_quotes_and_nothing_else_does() -> None:
    assert cookie_values(['session="abc"'], "session") == ["abc"]
    assert cookie_values(['session=abc"'], "session") == ['abc"']
    assert cookie_values(['session="a"b"; session=c'], "session") == ["c"]  # nothing closes it


@pytest.mark.parametrize(
    "other",
    [
        'pref="dark',  # a page's document.cookie = 'pref="dark'
        'pref="a"b"c',  # three quotes, not one quoted value
        'pref=""',  # an empty quoted value
        'pref="',  # a lone quote
    ],
)
def test_a_stray_quote_in_another_cookie_hides_nothing_after_it(other: str) -> None:
    """A quote in another cookie's value that no later pair closes used to hide every
    pair after it: the session cookie was never seen, and each request started a new
    session (found in Chromium with a page script's cookie)."""
    for header in (f"{other}; session=V", f'{other}; session=V; theme="x"'):
        assert cookie_values([header], "session") == ["V"], header
        assert cookie_values([header], "session", joined=True) == ["V"], header


def test_a_quoted_value_whose_closing_quote_is_escaped_runs_on() -> None:
    header = 'a="x\\"; session=FORGED; b=y"; session=V'  # a = "x\"; ...: not closed
    assert cookie_values([header], "session") == ["V"]
    assert cookie_values(['a="x\\\\"; session=V'], "session") == ["V"]  # "x\\": closed


def test_a_value_python_quoted_with_an_escaped_quote_hides_nothing() -> None:
    """What Starlette's ``set_cookie("last_search", 'the "matrix')`` makes the browser
    send back: one quoted value with an escaped quote in it."""
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    jar["last_search"] = 'the "matrix'
    sent = jar.output(header="").strip()  # last_search="the \"matrix"
    assert sent.count('"') == 3
    assert cookie_values([f"{sent}; session=V"], "session") == ["V"]


@pytest.mark.parametrize("control", CONTROL_BYTES)
def test_a_name_behind_a_control_byte_is_not_our_name(control: str) -> None:
    assert cookie_values([f"a=1; {control}session=V"], "session") == []
    assert cookie_values([f"{control}session=V"], "session", joined=True) == []
    assert cookie_values(["a=1;\t session=V "], "session") == ["V"]  # spaces and tabs are fine


def test_joined_headers_are_read_only_where_a_server_joins_them() -> None:
    assert cookie_values(["session=V, b=2"], "session", joined=True) == ["V"]
    assert cookie_values(["a=1, session=V"], "session", joined=True) == ["V"]
    assert cookie_values(["a=1,session=V"], "session", joined=True) == ["V"]  # wsgiref: no space
    assert cookie_values(["flag, session=V"], "session", joined=True) == ["V"]
    assert cookie_values(["a=1, session=V"], "session") == []  # ASGI gets headers apart


def test_a_joined_header_whose_first_part_holds_ours_too_keeps_both() -> None:
    """gunicorn joins ``Cookie: session=stale`` and ``Cookie: session=valid`` into one:
    the first is tried first, and the second after it (a stale one never hides it)."""
    joined = "session=STALE, session=VALID"
    assert cookie_values([joined], "session", joined=True) == ["STALE", "VALID"]
    assert cookie_values(["session=A, b=1, session=B; c=2"], "session", joined=True) == ["A", "B"]
    assert cookie_values([joined], "session") == ["STALE, session=VALID"]  # not joined: one value
    assert cookie_values(["__Host-s=A, __Host-s=B"], "__Host-s", joined=True) == ["A"]
    flagged = "flag, session=OLD, session=NEW"  # a bare-name cookie, then two headers of ours
    assert cookie_values([flagged], "session", joined=True) == ["OLD", "NEW"]


def test_a_comma_inside_another_value_never_outranks_a_real_cookie() -> None:
    header = "other=x, session=ATTACKER; session=VICTIM"
    assert cookie_values([header], "session", joined=True) == ["VICTIM", "ATTACKER"]
    host = "other=x, __Host-s=ATTACKER"  # a sibling domain cannot set __Host- cookies
    assert cookie_values([host], "__Host-s", joined=True) == []
    for name in ("__HOST-s", "__host-s", "__SECURE-s", "__secure-s"):  # any case, as browsers
        assert cookie_values([f"other=x, {name}=ATTACKER"], name, joined=True) == []


# -- real WSGI servers ---------------------------------------------------------------------


def _raw_get(port: int, cookies: list[str]) -> tuple[int, dict[str, Any], str | None]:
    """GET /incr with these Cookie headers, each sent as its own header line."""
    lines = ["GET /incr HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"Cookie: {value}" for value in cookies]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    cookie = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.lower() == "set-cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.strip())
            cookie = next(iter(jar.values())).value
    status = int(status_line.split()[1])
    return status, json.loads(body) if status == 200 else None, cookie


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serving(server: Any) -> Iterator[int]:
    """Run a ``serve_forever`` server on a thread; yield its port, shut it down after."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def _wsgiref(app: Any) -> contextlib.AbstractContextManager[int]:
    return _serving(make_server("127.0.0.1", 0, app, handler_class=_Quiet))


def _werkzeug(app: Any) -> contextlib.AbstractContextManager[int]:
    from werkzeug.serving import make_server as werkzeug_server

    return _serving(werkzeug_server("127.0.0.1", 0, app))


@contextlib.contextmanager
def _gunicorn(app: Any) -> Iterator[int]:
    (port,) = free_ports(1)
    env = {**os.environ, "SESSIONWARE_TEST_COOKIE": app.sessions.config.cookie.name}
    command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1"]
    child = subprocess.Popen(
        [*command, "tests.cookie_app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.1)
        yield port
    finally:
        child.terminate()
        child.wait(timeout=10)


SERVERS: dict[str, Callable[[Any], contextlib.AbstractContextManager[int]]] = {
    "wsgiref": _wsgiref,
    "werkzeug": _werkzeug,
    "gunicorn": _gunicorn,
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_repeated_cookie_headers_keep_the_session_behind_real_servers(server: str) -> None:
    with SERVERS[server](make_app()) as port:
        status, body, cookie = _raw_get(port, [])
        assert (status, body) == (200, {"n": 1}) and cookie
        assert _raw_get(port, ["a=1", f"session={cookie}"])[:2] == (200, {"n": 2})
        assert _raw_get(port, [f"session={cookie}", "b=2"])[:2] == (200, {"n": 3})
        assert _raw_get(port, ["a=1", f"session={cookie}", "b=2"])[:2] == (200, {"n": 4})


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_no_smuggled_cookie_behind_real_servers(server: str) -> None:
    with SERVERS[server](make_app()) as port:
        victim = _raw_get(port, [])[2]
        attacker = _raw_get(port, [])[2]
        _raw_get(port, [f"session={attacker}"])  # the attacker's session: n == 2
        smuggled = [
            f'other="x;session={attacker}"; session={victim}',
            f"other=x, session={attacker}; session={victim}",
        ]
        for n, header in enumerate(smuggled, start=2):
            assert _raw_get(port, [header])[:2] == (200, {"n": n}), header
        for control in ("\x0b", "\x0c", "\x1f"):  # gunicorn refuses the request (400)
            status, body, cookie = _raw_get(port, [f"a=1; {control}session={victim}"])
            assert status == 400 or ((status, body) == (200, {"n": 1}) and cookie != victim)


def test_a_host_prefixed_cookie_is_never_taken_from_another_value() -> None:
    with _wsgiref(make_app("__Host-s")) as port:
        attacker = _raw_get(port, [])[2]
        assert _raw_get(port, [f"other=x, __Host-s={attacker}"])[:2] == (200, {"n": 1})


# -- ASGI ---------------------------------------------------------------------------------


def test_no_smuggled_cookie_under_asgi() -> None:
    async def incr(request: Request) -> JSONResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    app = Starlette(routes=[Route("/incr", incr)])
    app.add_middleware(SessionMiddleware, secret_key="k", secure=False)
    with TestClient(app) as client:
        victim = client.get("/incr").cookies["session"]
        client.cookies.clear()
        attacker = client.get("/incr").cookies["session"]
        client.cookies.clear()
        header = f'other="x;session={attacker}"; session={victim}'
        assert client.get("/incr", headers={"cookie": header}).json() == {"n": 2}
        control = f"a=1; \x0bsession={victim}"
        assert client.get("/incr", headers={"cookie": control}).json() == {"n": 1}


@pytest.mark.parametrize(
    ("header", "joined", "expected"),
    [
        (
            "op=admin; flag; theme=dark mode",
            False,
            {"op": "admin", "theme": "dark mode"},
        ),
        ("op; op=admin", False, {"op": "admin"}),  # a bare name is no cookie of that name
        ("op; op=admin", True, {"op": "admin"}),
        ("op=viewer; op=admin", False, {"op": "viewer"}),  # the first of a name
        ('a="x; op=evil"; op=admin', False, {"op": "admin"}),  # (inside a quote: no cookie)
        # WSGI: a cookie after a comma never outranks one before it ...
        ("a=1,X=evil; X=good", True, {"a": "1", "X": "good"}),
        ('a="x, __Host-op=evil"; __Host-op=admin', True, {"a": "x", "__Host-op": "admin"}),
        ("a=1,__Host-op=admin; __Host-op=viewer", True, {"a": "1", "__Host-op": "viewer"}),
        # ... and opens a later header's cookies, but never a __Host-/__Secure- one
        ("theme=dark, op=admin", True, {"theme": "dark", "op": "admin"}),
        ("flag, op=admin", True, {"op": "admin"}),
        ("a=1, __Secure-op=admin", True, {"a": "1"}),
    ],
)
def test_the_consoles_cookie_jar_reads_pairs_as_the_session_cookie_is_read(
    header: str, joined: bool, expected: dict[str, str]
) -> None:
    assert cookie_jar(header, joined=joined) == expected
