"""What a request loses when another one ends its session between its load and its
save (a logout, a revocation): its answer is a 409 exactly when it lost work.

``EndsBeforeSaving`` ends the record at the save, with no threads or timing. Every
test runs on each shell (Starlette, WSGI, Flask) and store (memory, Redis, SQLite).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest

from sessionware import Keyring, SessionManager, WSGISessionMiddleware

from .helpers import EndsBeforeSaving, set_cookies
from .shells import SHELLS, shell_client, store

__all__ = ["store"]

K1, K2 = secrets.token_bytes(32), secrets.token_bytes(32)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/put":
        session[params["key"]] = params["value"]
    elif path == "/flash":
        session.flash(params["message"], params.get("category", "message"))
    elif path == "/flashes":
        popped = session.pop_flashes(params.get("category"))
        return 200, {"flashes": [m for _, m in popped]}, {}
    elif path == "/drop":
        session.get("a")  # loaded: a save, not a blind write
        del session[params["key"]]
    elif path == "/login":
        session.get("a")  # loaded, then the password is checked (meanwhile: "beside")
        session.regenerate()
        session["user"] = params["user"]
    elif path == "/login-clear":  # Flask's tutorial: clear(), then the user
        if params.get("read"):
            session.get("a")  # (else under WSGI: a rotation of the old id, never loaded)
        session.clear()
        session["user"] = params["user"]
    elif path == "/logout":
        session.get("a")  # loaded, then the page does its work (meanwhile: a login)
        session.clear()
        if "flash" in params:
            session.flash(params["flash"])
    elif path == "/cors":  # what a CORS middleware or flask-cors adds for an SPA
        session["n"] = session.get("n", 0) + 1
        return 200, {}, {**CORS, "x-app": "kept?", "vary": "Accept-Encoding, Origin"}
    return 200, {"keys": sorted(session)}, {}


CORS = {
    "access-control-allow-origin": "https://spa.example",
    "access-control-allow-credentials": "true",
}


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_login_over_a_write_made_meanwhile_answers_409_and_loses_neither(
    shell: str, store: Any
) -> None:
    """A request saves a key while a login is between its load and its regenerate():
    moving the data the login loaded to the new id would drop that key behind the
    other request's 200. The login answers 409 with no cookie; sent again, it moves
    the session with the key."""
    writing = EndsBeforeSaving(store, "write")
    with shell_client(shell, handler, writing) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        before = client.cookies["session"]
        writing.armed = True
        login = client.get("/login", params={"user": "ann"})
        writing.armed = False
        assert login.status_code == 409, login.text
        assert "set-cookie" not in login.headers and client.cookies["session"] == before
        assert client.get("/read").json() == {"keys": ["a", "beside"]}  # nothing lost
        again = client.get("/login", params={"user": "ann"})
        assert again.status_code == 200 and client.cookies["session"] != before
        assert client.get("/read").json() == {"keys": ["a", "beside", "user"]}


@pytest.mark.parametrize("flash", [None, "Signed out."])
def test_a_logout_that_a_login_overtook_answers_409_and_ends_nothing_silently(
    shell: str, store: Any, flash: str | None
) -> None:
    """A logout loaded the session; a login gave it a new id before the logout's
    delete (or its new session, with a flash) ran: the delete found nothing, and the
    signed-in session lives on under the cookie the login's response set. A 200 would
    tell the user they signed out; the 409 has them send it again with that cookie."""
    moving = EndsBeforeSaving(store, "login", once=True)
    with shell_client(shell, handler, moving) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        before = client.cookies["session"]
        moving.armed = True
        logout = client.get("/logout", params={} if flash is None else {"flash": flash})
        assert logout.status_code == 409, logout.text
        assert "set-cookie" not in logout.headers and client.cookies["session"] == before
    users = [s for s in SessionManager(store).list().items if s.status == "active"]
    assert len(users) == 1  # the login's session: alive, for its cookie's logout to end


@pytest.mark.parametrize("flash", [None, "Signed out."])
def test_a_logout_sent_with_the_cookie_a_login_replaced_answers_409(
    shell: str, store: Any, flash: str | None
) -> None:
    """The other order: the login finished first (the browser sent the logout before
    the login's response arrived), so the logout's cookie names no live record. A 200
    ended nothing while the user stays signed in under the login's cookie."""
    with shell_client(shell, handler, store) as client:
        before = moved_by_another_login(client, store)
        logout = client.get("/logout", params={} if flash is None else {"flash": flash})
        assert logout.status_code == 409, logout.text
        assert "set-cookie" not in logout.headers and client.cookies["session"] == before


def moved_by_another_login(client: Any, store: Any) -> str:
    """Give ``client`` a session, then move it to a new id as another request's login
    does (finished before the next request); the cookie from before."""
    client.get("/put", params={"key": "a", "value": "1"})
    (listed,) = SessionManager(store).list().items
    moving = EndsBeforeSaving(store, "login", once=True)
    moving.armed = True
    moving._end_once(listed.id)
    return str(client.cookies["session"])


@pytest.mark.parametrize("read", ["", "1"])
def test_a_login_written_as_clear_then_the_user_signs_in_afresh_after_another(
    shell: str, store: Any, read: str
) -> None:
    """Flask's tutorial logs in with clear() then the user: sent again after a login
    (or a regenerate) moved the session, it starts a new one, as before marks; only a
    logout (nothing or a flash after clear()) answers 409."""
    with shell_client(shell, handler, store) as client:
        before = moved_by_another_login(client, store)
        login = client.get("/login-clear", params={"user": "bob", "read": read})
        assert login.status_code == 200 and client.cookies["session"] != before
        assert client.get("/read").json() == {"keys": ["user"]}


def test_a_logout_alone_still_answers_200(shell: str, store: Any) -> None:
    with shell_client(shell, handler, store) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        assert client.get("/logout").status_code == 200
        assert client.get("/read").json() == {"keys": []}
    assert [s.status for s in SessionManager(store).list().items] == []


class StoreOfBefore:
    """A store written before ``rotate(..., unchanged_since=)``: its rotate takes only
    the arguments it always took, and its class says nothing of the check."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def rotate(self, old_id: str, new_id: str, data: Any, meta: Any, *, require_live: bool) -> Any:
        return self.store.rotate(old_id, new_id, data, meta, require_live=require_live)

    async def arotate(
        self, old_id: str, new_id: str, data: Any, meta: Any, *, require_live: bool
    ) -> Any:
        return await self.store.arotate(old_id, new_id, data, meta, require_live=require_live)

    def __getattr__(self, name: str) -> Any:
        if name == "ROTATE_CHECKS_CHANGES":
            raise AttributeError(name)
        return getattr(self.store, name)


def test_a_store_written_before_the_check_still_logs_in(shell: str, store: Any) -> None:
    with shell_client(shell, handler, StoreOfBefore(store)) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        before = client.cookies["session"]
        login = client.get("/login", params={"user": "ann"})
        assert login.status_code == 200 and client.cookies["session"] != before
        assert client.get("/read").json() == {"keys": ["a", "user"]}


@pytest.mark.parametrize("how", ["logout", "revoke"])
def test_a_read_that_only_seals_values_anew_loses_nothing(shell: str, store: Any, how: str) -> None:
    """Values sealed under an older key are sealed anew by the next save, even a
    read's; that save finding its record gone lost nothing the user did: 200."""
    with shell_client(shell, handler, store, encryption=Keyring([K1])) as old:
        old.get("/put", params={"key": "a", "value": "1"})
        cookie = old.cookies["session"]
    ending = EndsBeforeSaving(store, how)
    with shell_client(shell, handler, ending, encryption=Keyring([K2, K1])) as new:
        new.cookies.set("session", cookie)
        ending.armed = True
        read = new.get("/read")
        assert (read.status_code, read.json()) == (200, {"keys": ["a"]})
        ending.armed = False
        assert new.get("/read").json() == {"keys": []}  # the save did meet a gone record


@pytest.mark.parametrize("how", ["logout", "revoke"])
def test_reading_a_flash_of_a_session_that_ended_keeps_the_page(
    shell: str, store: Any, how: str
) -> None:
    """A flash read removes it: from a record that ended meanwhile, that loses nothing,
    and the page that showed it stands. A key the handler set is lost: 409."""
    ending = EndsBeforeSaving(store, how)
    with shell_client(shell, handler, ending) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        client.get("/flash", params={"message": "Saved."})
        ending.armed = True
        shown = client.get("/flashes")
        assert (shown.status_code, shown.json()) == (200, {"flashes": ["Saved."]})
        ending.armed = False
        client.cookies.clear()  # what the logout's response (or this one, revoked) did
        client.get("/put", params={"key": "a", "value": "1"})
        client.get("/flash", params={"message": "Saved."})  # category "message"
        client.get("/flash", params={"message": "Also.", "category": "info"})
        ending.armed = True
        shown = client.get("/flashes", params={"category": "info"})  # one category of two
        assert (shown.status_code, shown.json()) == (200, {"flashes": ["Also."]})
        ending.armed = False
        client.cookies.clear()
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        ending.armed = True
        assert client.get("/put", params={"key": "b", "value": "2"}).status_code == 409


def test_a_wsgi_app_that_writes_then_returns_an_iterator_gets_the_409_whole(
    store: Any,
) -> None:
    """The save runs at the app's first ``write()``; refused there, the 409's own body
    goes out under its own Content-Length, not the app's remaining chunks."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        session = environ["sessionware.session"]
        session["n"] = session.get("n", 0) + 1  # read first: a save, not a blind write
        write = start_response("200 OK", [("content-type", "text/plain")])
        write(b"first")

        def rest() -> Iterator[bytes]:
            yield b"second"

        return rest()

    ending = EndsBeforeSaving(store, "logout")
    wrapped = WSGISessionMiddleware(app, secret_key="test-secret-key", store=ending)
    with httpx.Client(transport=httpx.WSGITransport(app=wrapped), base_url="https://t") as client:
        client.get("/")  # a session
        ending.armed = True
        response = client.get("/")
    assert response.status_code == 409
    assert response.text.startswith("Conflict:")
    assert int(response.headers["content-length"]) == len(response.content)
    assert set_cookies(response) == []


def test_a_revoked_token_sessions_conflict_says_it_ended(
    shell: str, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sessionware import SessionManager

    from .token_support import SECRET, define_types

    manager = SessionManager(store, secret_key=SECRET)
    define_types(store)
    alice = {"userId": "alice", "email": "a@example.com", "role": "admin"}
    issued = manager.generate("user-session", alice)
    ending = EndsBeforeSaving(store, "revoke")
    with shell_client(shell, handler, ending, secret_key=SECRET, bearer=True) as client:
        ending.armed = True
        with caplog.at_level("WARNING", logger="sessionware"):
            response = client.get(
                "/put",
                params={"key": "role", "value": "x"},
                headers={"Authorization": f"Bearer {issued.token}"},
            )
    assert response.status_code == 409
    (warning,) = [r.getMessage() for r in caplog.records if "409" in r.getMessage()]
    assert "was revoked or expired before this request could save" in warning, warning
    assert issued.token not in response.text and issued.token not in warning


def test_a_409_keeps_the_apps_cors_headers_for_a_cross_origin_client(
    shell: str, store: Any
) -> None:
    """Without them a browser hides the answer from the page's script, which sees a
    network error rather than a 409 it can act on (send the request again)."""
    ending = EndsBeforeSaving(store, "logout")
    with shell_client(shell, handler, ending) as client:
        client.get("/cors")
        ending.armed = True
        response = client.get("/cors")
    assert response.status_code == 409
    assert {name: response.headers.get(name) for name in CORS} == CORS
    assert "x-app" not in response.headers  # the app's own headers go with its answer
    varies = {t.strip().lower() for t in response.headers["vary"].split(",")}
    assert "origin" in varies  # as the app's CORS layer said
    assert "accept-encoding" not in varies  # that one was about the app's body


@pytest.mark.parametrize(("how", "status"), [("revoke", 200), ("logout", 409)])
def test_a_key_removed_from_a_session_that_ended_is_no_loss(
    shell: str, store: Any, how: str, status: int
) -> None:
    """Revoked, the session's keys went with it: removing one lost nothing (its cookie
    is expired). Logged out or given a new id, the key may live on under the new
    id: its removal was lost, and the answer says so."""
    ending = EndsBeforeSaving(store, how)
    with shell_client(shell, handler, ending) as client:
        client.get("/put", params={"key": "a", "value": "1"})
        client.get("/put", params={"key": "b", "value": "2"})
        ending.armed = True
        response = client.get("/drop", params={"key": "b"})
    assert response.status_code == status, response.text
    assert [c["max-age"] for c in set_cookies(response)] == (["0"] if how == "revoke" else [])
