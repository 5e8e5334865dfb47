"""Lifecycle hooks over real requests, on every framework x every store.

One scripted visit (create, login, a revocation seen on load, expiry seen on
load, logout, refused cookies) must fire the hooks in order, with the public
ids, user, reason and actor; a failing hook is logged and loses nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from sessionware import SessionEvent, SessionHooks, SessionManager
from sessionware.cookies import CookieSigner, new_token, public_id

from ..helpers import set_cookies
from .apps import SECRET


class Recorder:
    """Hooks that record every event, some sync and some async, as apps mix them."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []

    def sync(self, event: SessionEvent) -> None:
        self.events.append(event)

    async def asynchronous(self, event: SessionEvent) -> None:
        self.events.append(event)

    def hooks(self) -> SessionHooks:
        return SessionHooks(
            on_created=self.asynchronous,
            on_rotated=self.sync,
            on_logout=self.asynchronous,
            on_revoked=self.sync,
            on_expired=self.asynchronous,
            on_refused=self.sync,
        )

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(e.kind, e.reason) for e in self.events]


def test_hooks_fire_in_order_over_a_visit(make_client: Any, store: Any) -> None:
    recorder = Recorder()
    manager = SessionManager(store)
    with make_client(hooks=recorder.hooks(), user_key="user_id", app_id="shop") as client:
        first = client.get("/put", params={"key": "a", "value": "1"})
        anonymous = client.get("/get", params={"key": "a"}).json()["id"]
        client.post("/login", params={"user": "ada"})
        logged_in = client.get("/get", params={"key": "a"}).json()["id"]
        manager.revoke(logged_in, actor="support:kim")
        assert client.get("/get", params={"key": "a"}).json()["value"] is None
        client.get("/put", params={"key": "a", "value": "2"})
        again = client.get("/get", params={"key": "a"}).json()["id"]
        assert manager.set_ttl(again, 1)
        time.sleep(1.5)
        client.get("/get", params={"key": "a"})
        client.get("/put", params={"key": "b", "value": "3"})
        client.post("/logout")
    assert first.status_code == 200
    # A dead cookie gets no Set-Cookie until the handler writes (issue 10), so each request
    # that still presents it reports the end again: the read, then the write.
    assert recorder.kinds() == [
        ("created", None),
        ("rotated", None),
        ("revoked", None),
        ("revoked", None),
        ("created", None),
        ("expired", None),
        ("expired", None),
        ("created", None),
        ("logout", None),
    ]
    created, rotated, revoked, _, _, expired, _, new, logout = recorder.events
    assert (created.session_id, created.app, created.user) == (anonymous, "shop", None)
    assert (rotated.session_id, rotated.previous_id, rotated.user) == (logged_in, anonymous, "ada")
    assert (revoked.session_id, revoked.actor, revoked.user) == (logged_in, "support:kim", "ada")
    assert expired.session_id == again
    assert logout.session_id == new.session_id


def test_a_logout_names_its_user_and_one_of_an_ended_session_is_no_logout(
    make_client: Any, store: Any
) -> None:
    """Every shell, the lazy ones too (WSGI, Flask: clear() deletes unread): the logout
    event names whose session ended; a logout sent with a session an operator revoked
    meanwhile reports the revocation, as a load would, not a logout it did not do."""
    recorder = Recorder()
    manager = SessionManager(store)
    with make_client(hooks=recorder.hooks(), user_key="user_id") as client:
        client.post("/login", params={"user": "ada"})
        client.post("/logout")
        client.post("/login", params={"user": "bob"})
        bobs = client.get("/get", params={"key": "a"}).json()["id"]
        manager.revoke(bobs, actor="support:kim")
        client.post("/logout")
    logouts = [(e.kind, e.user) for e in recorder.events if e.kind in ("logout", "revoked")]
    assert logouts == [("logout", "ada"), ("revoked", "bob")]
    assert recorder.events[-1].actor == "support:kim"


def test_a_logout_in_a_second_tab_is_no_second_logout(make_client: Any, store: Any) -> None:
    """Two tabs, one cookie: the second logout finds no record. The lazy shells (WSGI,
    Flask: clear() deletes unread) reported a second logout, of no user, and counted
    it; a load (ASGI) reports what it is: a cookie that named no session."""
    recorder = Recorder()
    with make_client(hooks=recorder.hooks(), user_key="user_id") as client:
        client.post("/login", params={"user": "ada"})
        cookie = client.cookies["session"]
        client.post("/logout")
        client.cookies["session"] = cookie  # the second tab, with the same cookie
        client.post("/logout")
    ended = [(e.kind, e.reason, e.user) for e in recorder.events if e.kind != "created"]
    assert ended == [("logout", None, "ada"), ("refused", "unknown", None)]


def test_refused_cookies_say_why(make_client: Any, store: Any) -> None:
    recorder = Recorder()
    valid = CookieSigner(SECRET).sign(new_token())  # signed by us, naming no session
    forged = CookieSigner("another key").sign(new_token())
    with make_client(hooks=recorder.hooks()) as client:
        for value in ("not-ours", forged, "x" * 400, valid):
            client.cookies.clear()
            client.get("/get", params={"key": "a"}, headers={"cookie": f"session={value}"})
    assert recorder.kinds() == [
        ("refused", "malformed"),
        ("refused", "bad_signature"),
        ("refused", "oversized"),
        ("refused", "unknown"),
    ]
    assert recorder.events[-1].session_id == public_id(valid.split(".")[0])
    assert [e.session_id for e in recorder.events[:3]] == [None, None, None]


def test_a_failing_hook_is_logged_and_loses_nothing(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: SessionEvent) -> None:
        raise RuntimeError("the hook's own bug")

    async def broken_async(event: SessionEvent) -> None:
        raise RuntimeError("the async hook's own bug")

    hooks = SessionHooks(on_created=broken, on_logout=broken_async)
    with caplog.at_level(logging.ERROR, "sessionware.hooks"), make_client(hooks=hooks) as client:
        response = client.get("/put", params={"key": "a", "value": "1"})
        assert response.status_code == 200 and set_cookies(response)
        assert client.get("/get", params={"key": "a"}).json()["value"] == "1"
        logout = client.post("/logout")
        assert logout.status_code == 200
    failures = [r for r in caplog.records if r.name == "sessionware.hooks"]
    assert [r.exc_info[1].args[0] for r in failures if r.exc_info and r.exc_info[1]] == [
        "the hook's own bug",
        "the async hook's own bug",
    ]
    assert "the created hook failed" in failures[0].getMessage()


def test_hooks_must_be_callables() -> None:
    with pytest.raises(ValueError, match="on_created must be a callable"):
        SessionHooks(on_created="log it")  # type: ignore[arg-type]
