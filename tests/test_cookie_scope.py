"""A cookie opens only its own app's and type's sessions.

Two middlewares on one secret key and one store, with different ``app_id`` (or
``session_type``), each sign their cookies in a scope of their own: one's cookie,
sent to the other under that one's cookie name, is a stranger's. It must neither
open the other app's record (user 42 of the shop is not user 42 of the blog) nor
have keys written into it without a load (a blind write, WSGI's and Flask's
default). Runs on each shell and on memory and Redis.
"""

from __future__ import annotations

from typing import Any

import pytest

from sessionware import SessionManager
from sessionware.cookies import CookieSigner, cookie_scope

from .helpers import only_cookie, set_cookies
from .shells import SHELLS, memory_or_redis, shell_client

__all__ = ["memory_or_redis"]  # (the fixture, imported for pytest)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/put":
        session[params["key"]] = params["value"]
    return 200, {"data": dict(session)}, {}


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(memory_or_redis: Any) -> Any:
    return memory_or_redis


def cross(shell: str, store: Any, first: dict[str, Any], second: dict[str, Any]) -> None:
    """``first``'s cookie, sent to ``second`` under ``second``'s cookie name, opens
    nothing there, and a write with it there starts a session of ``second``'s own."""
    with shell_client(shell, handler, store, **first) as one:
        assert one.get("/put", params={"key": "userId", "value": "42"}).status_code == 200
        cookie = one.cookies["session"]
        with shell_client(shell, handler, store, **second) as other:
            only_cookie(other, cookie)
            read = other.get("/read")
            assert (read.status_code, read.json(), set_cookies(read)) == (200, {"data": {}}, [])
            write = other.get("/put", params={"key": "userId", "value": "7"})
            assert write.status_code == 200
            (new,) = set_cookies(write)
            assert new["value"] != cookie  # a session of its own
        assert one.get("/read").json() == {"data": {"userId": "42"}}  # nothing written into it


def test_an_apps_cookie_opens_nothing_in_another_app(shell: str, store: Any) -> None:
    cross(shell, store, {"app_id": "shop"}, {"app_id": "blog"})
    cross(shell, store, {"app_id": "shop"}, {})  # nor in the default app
    cross(shell, store, {}, {"app_id": "blog"})  # nor the default app's in a named one


def test_a_types_cookie_opens_nothing_under_another_type_or_none(shell: str, store: Any) -> None:
    types = SessionManager(store).types
    for tag in ("user-session", "admin-session"):
        types.create(tag=tag, name=tag, schema={"userId": "string"}, expiry=1, period="hour")
    cross(shell, store, {"session_type": "user-session"}, {"session_type": "admin-session"})
    cross(shell, store, {}, {"session_type": "user-session"})  # an untyped app's cookie
    cross(shell, store, {"session_type": "user-session"}, {})


def test_the_default_apps_cookies_are_signed_as_before_scopes() -> None:
    """Upgrading changes no cookie of an app that names no app_id or type."""
    assert cookie_scope("default", None) is None
    plain, scoped = CookieSigner("k" * 40), CookieSigner("k" * 40, scope="app:shop")
    token = "t" * 43
    assert CookieSigner("k" * 40).verify(plain.sign(token)) is not None
    assert scoped.verify(plain.sign(token)) is None
    assert plain.verify(scoped.sign(token)) is None
    assert scoped.with_keys(["j" * 40, "k" * 40]).verify(scoped.sign(token)) is not None
