"""What starsessions' suite checks, held by sessionware's ASGI middleware.

Follows alex-oleshkevich/starsessions ``tests/test_middleware.py``,
``test_session.py``, ``test_autoloading.py``, ``test_expiring_session.py``,
``test_rolling_session.py`` and ``test_metadata.py`` (read, not copied): empty,
unknown and existing sessions loaded into ``JSONResponse(session)``; the cookie
sent on create and expired on destroy (with its domain), the record removed;
no cookie for an initially empty session cleared; Max-Age, SameSite, Path,
Domain and Secure; a browser-session cookie; a timedelta lifetime; a bad cookie
name refused; an unsafe cookie value ignored; a store error never swallowed;
regenerating the id; loading on demand; a fixed versus a rolling expiry; the
created and last-access metadata. Store-level tests (backends) are covered by
``tests/stores/test_contract.py``. Differences kept by design are in the README.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from sessionware import ConfigurationError, SessionManager, SessionMiddleware
from sessionware.starlette import session

from ..helpers import CountingStore, only_cookie, set_cookies, token_of

Handler = Callable[[HTTPConnection], Any]


def client(store: Any, handler: Handler, **options: Any) -> TestClient:
    """A raw ASGI app (as starsessions' tests write them) behind sessionware."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope, receive)
        if not options.get("autoload", True):
            await session(connection).load()
        result = handler(connection)
        response = result if isinstance(result, Response) else JSONResponse(connection.session)
        await response(scope, receive, send)

    middleware = SessionMiddleware(app, secret_key="k", store=store, **options)
    return TestClient(middleware, base_url="https://testserver", raise_server_exceptions=False)


def show(connection: HTTPConnection) -> None:
    """Answer the session as JSON."""


def write(connection: HTTPConnection) -> None:
    connection.session["key"] = "value"


def destroy(connection: HTTPConnection) -> Response:
    connection.session.clear()
    return Response("")


def existing(store: Any, **options: Any) -> str:
    """A stored session holding ``{"key": "value"}``; its cookie value."""
    return str(set_cookies(client(store, write, **options).get("/"))[0]["value"])


def test_an_empty_session_loads_as_an_empty_dict(store: Any) -> None:
    assert client(store, show).get("/").json() == {}


def test_an_unknown_session_id_loads_empty_and_is_not_adopted(store: Any) -> None:
    c = client(store, show)
    only_cookie(c, "session_id")
    response = c.get("/")
    assert response.json() == {} and set_cookies(response) == []


def test_an_existing_session_loads(store: Any) -> None:
    c = client(store, show)
    only_cookie(c, existing(store))
    assert c.get("/").json() == {"key": "value"}


def test_a_cookie_is_sent_when_the_session_is_created(store: Any) -> None:
    response = client(store, write).get("/")
    assert set_cookies(response)[0]["value"]


def test_destroying_expires_the_cookie_with_its_domain_and_removes_the_record(
    store: Any,
) -> None:
    cookie = existing(store, domain="example.com")
    c = client(store, destroy, domain="example.com")
    only_cookie(c, cookie)
    header = c.get("/").headers["set-cookie"]
    assert "01 Jan 1970 00:00:00 GMT" in header and "Domain=example.com" in header
    assert SessionManager(store).reveal(_id(cookie), actor="test") == {}


def test_clearing_an_initially_empty_session_sends_no_cookie(store: Any) -> None:
    c = client(store, destroy)
    only_cookie(c, "session_id")
    assert "set-cookie" not in c.get("/").headers


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"max_age": 1}, "; Max-Age=1"),
        ({"max_age": dt.timedelta(seconds=60)}, "; Max-Age=60"),
        ({"same_site": "none"}, "; SameSite=None"),
        ({"path": "/admin"}, "; Path=/admin"),
        ({"domain": "example.com"}, "; Domain=example.com"),
        ({}, "; Secure"),
    ],
)
def test_cookie_attributes(store: Any, options: dict[str, Any], expected: str) -> None:
    assert expected in client(store, write, **options).get("/").headers["set-cookie"]


def test_without_max_age_the_cookie_is_session_only(store: Any) -> None:
    assert "max-age" not in client(store, write).get("/").headers["set-cookie"].lower()


@pytest.mark.parametrize("name", ["bad name; inject=1", "bad\r\nname"])
def test_an_invalid_cookie_name_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid cookie name"):
        SessionMiddleware(lambda *a: None, secret_key="k", cookie_name=name)


def test_an_unsafe_cookie_value_is_ignored(store: Any) -> None:
    c = client(store, show)
    response = c.get("/", headers={"cookie": "session=abc\r\nSet-Cookie: evil=1"})
    assert response.json() == {} and set_cookies(response) == []


def test_a_store_error_is_never_swallowed(store: Any) -> None:
    cookie = existing(store)
    failing = CountingStore(store, fail={"load"})
    c = client(failing, show)
    only_cookie(c, cookie)
    response = c.get("/")
    assert response.status_code == 503 and "store" in response.text


def test_regenerating_the_id_removes_the_old_record(store: Any) -> None:
    cookie = existing(store)

    def regenerate(connection: HTTPConnection) -> None:
        session(connection).regenerate()

    c = client(store, regenerate)
    only_cookie(c, cookie)
    (fresh,) = set_cookies(c.get("/"))
    assert token_of(fresh["value"]) != token_of(cookie)
    assert SessionManager(store).reveal(_id(fresh["value"]), actor="t") == {"key": "value"}
    only_cookie(c, cookie)
    assert client(store, show).get("/", headers={"cookie": f"session={cookie}"}).json() == {}


def test_a_session_not_loaded_on_demand_is_an_error_then_loads(store: Any) -> None:
    cookie = existing(store)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope, receive)
        if connection.url.path == "/load":
            await session(connection).load()
        try:
            body = {"session": dict(connection.session)}
        except Exception as error:
            body = {"error": type(error).__name__}
        await JSONResponse(body)(scope, receive, send)

    middleware = SessionMiddleware(app, secret_key="k", store=store, autoload=False)
    c = TestClient(middleware, base_url="https://testserver")
    only_cookie(c, cookie)
    assert c.get("/").json() == {"error": "SessionNotLoaded"}
    assert c.get("/load").json() == {"session": {"key": "value"}}


def test_a_fixed_lifetime_does_not_extend_while_a_rolling_one_does(store: Any) -> None:
    fixed = client(store, show, max_age=30, absolute_timeout=30, refresh_each_request=True)
    only_cookie(fixed, existing(store, max_age=30, absolute_timeout=30))
    rolling = client(store, show, max_age=30, refresh_each_request=True)
    only_cookie(rolling, existing(store, max_age=30))
    time.sleep(2.1)  # the cookie's whole-second timestamps move on
    first_fixed, first_rolling = (set_cookies(c.get("/"))[0] for c in (fixed, rolling))
    assert int(first_fixed["max-age"]) <= 28  # the deadline does not move
    assert first_rolling["max-age"] == "30"  # a rolling cookie restarts its lifetime


def test_metadata_keeps_creation_and_moves_last_access(store: Any) -> None:
    cookie = existing(store)
    manager = SessionManager(store)
    before = manager.get(_id(cookie))
    assert before is not None
    time.sleep(1.1)
    c = client(store, show)
    only_cookie(c, cookie)
    c.get("/")
    after = manager.get(_id(cookie))
    assert after is not None
    assert after.created_at == before.created_at
    assert after.last_activity_at > before.last_activity_at


def _id(cookie: str) -> str:
    from sessionware.cookies import public_id

    return public_id(token_of(cookie))


@pytest.mark.parametrize("used", ["load", "session_id", "regenerate_id", "is_loaded", "metadata"])
def test_starsessions_helpers_left_in_place_say_what_replaces_them(store: Any, used: str) -> None:
    """Swapping the middleware but not the helpers: starsessions' load_session,
    get_session_id, regenerate_session_id, is_loaded and get_session_metadata each use
    this attribute of scope["session_handler"]; a clear error naming sessionware's
    ways, not a bare KeyError."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        getattr(scope["session_handler"], used)  # what each helper does first
        await JSONResponse({})(scope, receive, send)

    wrapped = SessionMiddleware(app, secret_key="k", store=store)
    with pytest.raises(ConfigurationError, match=r"request\.session\.load\(\)"):
        TestClient(wrapped, base_url="https://testserver").get("/")


def test_the_helpers_placeholder_leaves_copies_and_probes_of_the_scope_alone(store: Any) -> None:
    """Tracing and debugging code deep-copies or probes the scope: that must not raise."""
    import copy

    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope["session_handler"]
        seen.append((hasattr(handler, "__deepcopy__"), getattr(handler, "__wrapped__", None)))
        copy.deepcopy({k: v for k, v in scope.items() if k == "session_handler"})
        await JSONResponse({})(scope, receive, send)

    wrapped = SessionMiddleware(app, secret_key="k", store=store)
    assert TestClient(wrapped, base_url="https://testserver").get("/").status_code == 200
    assert seen == [(False, None)]
