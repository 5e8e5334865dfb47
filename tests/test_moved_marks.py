"""A request sent beside a login or logout, with the cookie from before it, on a store
that marks why a live record left (``stores.base.MarkingStore``: every store here).

Without a mark, such a request that writes finds no session and starts a new one,
whose cookie replaces the one the login set: the user is signed out. With one, it
answers 409 and sets no cookie; sent again, it carries the login's cookie. Every
test runs on each shell (Starlette, WSGI, Flask: a load-first write and a blind one)
and on memory, Redis and SQLite; requests are sent one after another in the order the
race would deliver them, so nothing here depends on timing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sessionware import MemoryStore
from sessionware.cookies import public_id
from sessionware.stores.base import MarkingStore

from .helpers import EndsBeforeSaving, only_cookie, set_cookies, token_of
from .shells import SHELLS, shell_client, store

__all__ = ["store"]  # (the fixture, imported for pytest: memory, Redis, SQLite)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/put":
        session[params["key"]] = params["value"]
    elif path == "/login":
        session.get("a")  # loaded, then the password is checked
        session.regenerate()
        session["user"] = params["user"]
    elif path == "/logout":
        session.clear()
    elif path == "/login-afresh":  # a login that drops what the visitor had (Flask's way)
        session.clear()
        session["user"] = params["user"]
    elif path == "/logout-flash":
        session.clear()
        session.flash("Signed out.")
    return 200, {"keys": sorted(session)}, {}


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def other_tab(shell: str, store: Any, cookie: str) -> Iterator[Any]:
    """A second client holding ``cookie``: a request the page sent before the
    login's (or logout's) response changed the browser's cookie."""
    with shell_client(shell, handler, store) as tab:
        only_cookie(tab, cookie)
        yield tab


def test_the_stores_here_leave_marks(store: Any) -> None:
    assert isinstance(store, MarkingStore)


def test_a_write_sent_beside_a_login_answers_409_and_leaves_the_login_signed_in(
    shell: str, store: Any
) -> None:
    with shell_client(shell, handler, store) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        assert browser.get("/login", params={"user": "ann"}).status_code == 200
        after = browser.cookies["session"]
        assert after != before
        with other_tab(shell, store, before) as tab:
            read = tab.get("/read")  # a read beside it: the old id's page, no cookie
            assert (read.status_code, read.json(), set_cookies(read)) == (200, {"keys": []}, [])
            write = tab.get("/put", params={"key": "cart", "value": "2"})
            assert write.status_code == 409, write.text
            assert set_cookies(write) == []  # the login's cookie stays the browser's
            assert "again" in write.text
        again = browser.get("/put", params={"key": "cart", "value": "2"})  # sent again
        assert again.status_code == 200 and browser.cookies["session"] == after
        assert browser.get("/read").json() == {"keys": ["a", "cart", "user"]}


def test_a_write_sent_beside_a_logout_answers_409_then_starts_afresh(
    shell: str, store: Any
) -> None:
    with shell_client(shell, handler, store) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        assert browser.get("/logout").status_code == 200
        assert "session" not in browser.cookies
        with other_tab(shell, store, before) as tab:
            write = tab.get("/put", params={"key": "cart", "value": "2"})
            assert (write.status_code, set_cookies(write)) == (409, [])
        again = browser.get("/put", params={"key": "cart", "value": "2"})  # no cookie now
        assert again.status_code == 200 and browser.cookies["session"] != before
        assert browser.get("/read").json() == {"keys": ["cart"]}


@pytest.mark.parametrize("logout", ["logout", "logout-flash"])
def test_a_login_racing_a_logout_answers_409_rather_than_vanish(
    shell: str, store: Any, logout: str
) -> None:
    """The login loaded the session, then another request logged it out, by deleting
    it or, as the README's logout does, by clear() then a flash (a rotation that
    carries nothing, marked logged out all the same): moving it is refused rather than
    carry the data the user signed out of, and a 200 would say the user is signed in
    while no cookie came. Sent again, with the logout's cookie, it signs in."""
    ending = EndsBeforeSaving(store, logout)
    with shell_client(shell, handler, ending) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        ending.armed = True
        login = browser.get("/login", params={"user": "ann"})
        ending.armed = False
        assert (login.status_code, set_cookies(login)) == (409, [])
        browser.cookies.clear()  # what the logout's response did to the browser
        assert browser.get("/login", params={"user": "ann"}).status_code == 200
        assert browser.get("/read").json() == {"keys": ["user"]}


def test_the_login_form_sent_twice_never_leaves_the_user_signed_out_in_silence(
    shell: str, store: Any
) -> None:
    """The second submission came with the cookie from before the first's response
    (which the browser threw away with the second click). If it loaded after the first
    login moved the session, it signs in afresh; if it loaded before, it answers 409
    (sent again, it signs in afresh): never a 200 that leaves the user signed out."""
    with shell_client(shell, handler, store) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        assert browser.get("/login", params={"user": "ann"}).status_code == 200
        after = browser.cookies["session"]
        with other_tab(shell, store, before) as tab:
            second = tab.get("/login", params={"user": "ann"})
            (cookie,) = set_cookies(second)
            assert second.status_code == 200 and cookie["value"] not in (before, after)
    moving = EndsBeforeSaving(store, "login")
    with shell_client(shell, handler, moving) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        moving.armed = True  # another login moves the record before this one's does
        second = browser.get("/login", params={"user": "ann"})
        moving.armed = False
        # the browser threw the first response away with the second click: a 200 with
        # no cookie would leave the user signed out in silence; a 409 says send again
        assert (second.status_code, set_cookies(second)) == (409, [])
        again = browser.get("/login", params={"user": "ann"})  # the page reloaded
        (cookie,) = set_cookies(again)
        assert again.status_code == 200 and cookie["value"] != before
        assert browser.get("/read").json() == {"keys": ["user"]}  # signed in, afresh


@pytest.mark.parametrize(
    ("first", "again"),
    [("/login-afresh", "/login-afresh"), ("/logout-flash", "/logout-flash")],
)
def test_a_form_that_clears_the_session_sent_twice_does_its_work_again(
    shell: str, store: Any, first: str, again: str
) -> None:
    """A login written as clear() then set, or a logout that flashes, clicked twice: the
    second, with the cookie from before the first's response, wants nothing of the old
    record, so it does its work again (200, its cookie) rather than answer 409."""
    with shell_client(shell, handler, store) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        assert browser.get(first, params={"user": "ann"}).status_code == 200
        with other_tab(shell, store, before) as tab:
            second = tab.get(again, params={"user": "ann"})
            (cookie,) = set_cookies(second)
            assert second.status_code == 200 and cookie["value"] != before


def test_a_cookie_whose_session_simply_went_still_starts_a_new_one(shell: str, store: Any) -> None:
    """No mark (a revoked session, a restart, a record past its retention): a write
    starts a new session as before, rather than a 409 that would repeat for ever."""
    with shell_client(shell, handler, store) as browser:
        browser.get("/put", params={"key": "a", "value": "1"})
        before = browser.cookies["session"]
        assert store.revoke(public_id(token_of(before)), actor="ops", now=time.time())
        write = browser.get("/put", params={"key": "cart", "value": "2"})
        assert write.status_code == 200 and browser.cookies["session"] != before
        assert browser.get("/read").json() == {"keys": ["cart"]}
    with shell_client(shell, handler, MemoryStore()) as restarted:
        only_cookie(restarted, before)
        write = restarted.get("/put", params={"key": "cart", "value": "2"})
        (cookie,) = set_cookies(write)
        assert write.status_code == 200 and cookie["value"] != before
