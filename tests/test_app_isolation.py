"""A cookie opens only its own app's and type's sessions.

Two middlewares on one secret key and one store, with different ``app_id`` (or
``session_type``): one's cookie, sent to the other under that one's cookie name, is
a stranger's. Its record is another app's (``Meta.app``): it is neither opened there
(user 42 of the shop is not user 42 of the blog) nor written into without a load (a
blind write, WSGI's and Flask's default: the store checks the app in the same step).
Cookies themselves are signed alike, so that an upgrade or a rolling deploy keeps
everyone signed in. Runs on each shell and on memory, Redis and SQLite.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from sessionware import SessionManager
from sessionware.stores.base import GONE, WRITTEN, BlindWrite, Meta

from .helpers import only_cookie, set_cookies
from .shells import SHELLS, shell_client, store

__all__ = ["store"]  # (the fixture, imported for pytest: memory, Redis, SQLite)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/put":
        session[params["key"]] = params["value"]
    return 200, {"data": dict(session)}, {}


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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


def test_a_blind_write_names_its_app_and_leaves_another_apps_record_alone(store: Any) -> None:
    """The store's side of it (``BlindWrite.app``): another app's live record is GONE
    and unchanged; the record's own app, or a write naming none, writes."""
    now = time.time()
    store.create(
        "s1",
        {"a": b"1"},
        Meta(
            created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 600, app="shop"
        ),
    )
    store.create(
        "s2",
        {"a": b"1"},
        Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 600),
    )  # the default app

    def write(session_id: str, app: str | None) -> str:
        return str(store.write(session_id, BlindWrite({"b": b"2"}, time.time(), 600, 65536, app)))

    assert write("s1", "blog") == GONE and write("s1", "default") == GONE
    assert write("s2", "shop") == GONE
    assert store.load("s1", now=time.time(), idle_seconds=600).data == {"a": b"1"}
    assert write("s1", "shop") == WRITTEN and write("s2", "default") == WRITTEN
    assert write("s2", None) == WRITTEN
    assert store.load("s1", now=time.time(), idle_seconds=600).data == {"a": b"1", "b": b"2"}
