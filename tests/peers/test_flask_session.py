"""What Flask-Session's suite checks, held by sessionware's ``Sessionware``.

Follows pallets-eco/flask-session ``tests/conftest.py`` (the ``app_utils`` flow
every backend test runs) and its per-backend tests (``test_redis.py`` and the
others: the value is stored server-side under the cookie's session), plus the
behaviours of its session interface those tests rely on (read, not copied): no
``Vary`` on a view that ignores the session, ``Vary: Cookie`` once it is read,
set/modify/delete, a browser-session cookie when not permanent, a regenerated
id, an unknown id never adopted, a deleted session's record and cookie removed,
a signed cookie that cannot be tampered with, and a second session layer refused.
Differences kept by design are in the README ("Differences from the peers").
"""

from __future__ import annotations

import time
from typing import Any

import flask
import pytest
from flask.sessions import SecureCookieSession, SessionInterface

from sessionware import ConfigurationError, SessionManager
from sessionware.cookies import plausible, public_id
from sessionware.flask import Sessionware, session

from ..helpers import set_cookies, token_of

HTTPS = {"base_url": "https://localhost"}


def create_app(store: Any, **config: Any) -> flask.Flask:
    """The peer's test app: set, modify, delete and get one value."""
    app = flask.Flask(__name__)
    app.config.update({"SECRET_KEY": "test key", **config})
    app.add_url_rule("/", "hello", lambda: "hello world")

    @app.post("/set")
    @app.post("/modify")
    def set_value() -> str:
        session["value"] = flask.request.form["value"]
        return "value set"

    @app.post("/delete")
    def delete() -> str:
        del session["value"]
        return "value deleted"

    @app.get("/get")
    def get() -> str:
        return str(session.get("value", "no value set"))

    @app.post("/regenerate")
    def regenerate() -> str:
        session.regenerate()
        return "regenerated"

    @app.post("/regenerate-by-interface")
    def regenerate_by_interface() -> str:
        app.session_interface.regenerate(session)  # type: ignore[attr-defined]
        return "regenerated"

    @app.post("/login")
    def login() -> str:  # code that records the session's id at login, as it changes
        before = session.sid
        app.session_interface.regenerate(session)  # type: ignore[attr-defined]
        return f"{before} {session.sid} {session.id}"

    @app.get("/sid")
    def sid() -> str:
        return f"{session.sid} {session.id}"

    @app.post("/regenerate-then-clear")
    def regenerate_then_clear() -> str:  # a logout after all: no new id to name
        session.regenerate()
        session.clear()
        return f"{session.sid} {session.id}"

    Sessionware(app, store=store)
    return app


def stored(store: Any, cookie_value: str) -> dict[str, Any]:
    """What the store holds for the session behind this cookie (never keyed by the cookie)."""
    return SessionManager(store).reveal(public_id(token_of(cookie_value)), actor="test")


def test_the_session_flow_and_vary(store: Any) -> None:
    client = create_app(store).test_client()
    assert client.get("/get", **HTTPS).data == b"no value set"
    assert "Vary" not in client.get("/", **HTTPS).headers
    assert client.post("/set", data={"value": "42"}, **HTTPS).data == b"value set"
    response = client.get("/get", **HTTPS)
    assert response.data == b"42" and response.headers["Vary"] == "Cookie"
    assert client.post("/modify", data={"value": "43"}, **HTTPS).data == b"value set"
    assert client.get("/get", **HTTPS).data == b"43"
    assert client.post("/delete", **HTTPS).data == b"value deleted"
    assert client.get("/get", **HTTPS).data == b"no value set"


def test_the_value_is_stored_server_side(store: Any) -> None:
    client = create_app(store).test_client()
    (cookie,) = set_cookies(client.post("/set", data={"value": "44"}, **HTTPS))
    assert stored(store, cookie["value"]) == {"value": "44"}
    assert plausible(cookie["value"])  # the cookie holds only a signed token: token.stamp.sig
    assert len(cookie["value"].split(".")[1]) <= 8  # a timestamp, no room for data


def test_a_session_that_is_not_permanent_has_a_browser_session_cookie(store: Any) -> None:
    client = create_app(store).test_client()
    (cookie,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    assert "max-age" not in cookie and "expires" not in cookie


def test_deleting_the_last_value_removes_record_and_cookie(store: Any) -> None:
    client = create_app(store).test_client()
    (cookie,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    (gone,) = set_cookies(client.post("/delete", **HTTPS))
    assert gone["value"] == "" and gone["max-age"] == "0"
    assert stored(store, cookie["value"]) == {}


@pytest.mark.parametrize("path", ["/regenerate", "/regenerate-by-interface"])
def test_regenerate_moves_the_data_to_a_new_id(store: Any, path: str) -> None:
    """Flask-Session's ``app.session_interface.regenerate(session)`` works as well."""
    client = create_app(store).test_client()
    (old,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    (new,) = set_cookies(client.post(path, **HTTPS))
    assert token_of(new["value"]) != token_of(old["value"])
    assert stored(store, new["value"]) == {"value": "1"} and stored(store, old["value"]) == {}


def test_regenerate_gives_the_new_sid_at_once(store: Any) -> None:
    """As Flask-Session does: the id read right after regenerate() is the one the
    session has from then on, so code that records it at login records a live id."""
    client = create_app(store).test_client()
    client.post("/set", data={"value": "1"}, **HTTPS)
    before_sid = client.get("/sid", **HTTPS).text.split()[0]
    before, after, stored_id = client.post("/login", **HTTPS).text.split()
    assert before == before_sid and after != before
    assert stored_id == before  # session.id names the record that exists until the save
    assert client.get("/sid", **HTTPS).text.split() == [after, after]
    assert SessionManager(store).get(after).status == "active"  # type: ignore[union-attr]
    assert SessionManager(store).get(before) is None


def test_a_regenerate_undone_by_clear_leaves_sid_as_id(store: Any) -> None:
    client = create_app(store).test_client()
    client.post("/set", data={"value": "1"}, **HTTPS)
    sid, stored_id = client.post("/regenerate-then-clear", **HTTPS).text.split()
    assert sid == stored_id != "None"


def test_a_refused_remember_me_leaves_no_new_sid() -> None:
    """Sessions off: ``permanent = True`` is refused, and nothing else changes."""
    from sessionware import SessionsDisabled

    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "test key"

    @app.get("/remember")
    def remember() -> str:
        with pytest.raises(SessionsDisabled):
            session.permanent = True
        return f"{session.sid} {session.id}"

    Sessionware(app, enabled=False)
    assert app.test_client().get("/remember", **HTTPS).text == "None None"


def test_sid_is_the_public_id_never_the_token(store: Any) -> None:
    client = create_app(store).test_client()
    (cookie,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    sid, same = client.get("/sid", **HTTPS).text.split()
    assert sid == same == public_id(token_of(cookie["value"]))
    assert token_of(cookie["value"]) not in sid


@pytest.mark.parametrize("value", ["unknown-id", "x" * 43 + ".AAAA.tampered"])
def test_an_unknown_or_tampered_id_is_never_adopted(store: Any, value: str) -> None:
    client = create_app(store).test_client()
    client.set_cookie("session", value, domain="localhost")
    assert client.get("/get", **HTTPS).data == b"no value set"
    (issued,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    assert token_of(issued["value"]) != token_of(value)


def test_reads_keep_the_stored_session_alive(store: Any) -> None:
    app = create_app(store, SESSIONWARE_IDLE_TIMEOUT=60)
    client = app.test_client()
    (cookie,) = set_cookies(client.post("/set", data={"value": "1"}, **HTTPS))
    manager = SessionManager(store)
    first = manager.get(public_id(token_of(cookie["value"])))
    time.sleep(1.1)
    client.get("/get", **HTTPS)
    later = manager.get(public_id(token_of(cookie["value"])))
    assert first is not None and later is not None
    assert later.expires_at is not None and first.expires_at is not None
    assert later.expires_at > first.expires_at


class FlaskSessionLike(SessionInterface):
    """Stands in for Flask-Session's interface (not installed in the test extra)."""


def test_a_second_session_layer_is_refused(store: Any) -> None:
    app = flask.Flask(__name__)
    app.config["SECRET_KEY"] = "k"
    app.session_interface = FlaskSessionLike()
    with pytest.raises(ConfigurationError, match="already has a session interface"):
        Sessionware(app, store=store)


def test_a_session_layer_set_up_after_sessionware_is_refused_not_followed(store: Any) -> None:
    """Flask-Session's Session(app) after Sessionware(app) replaces the interface: the
    first request says so, rather than every session quietly being Flask-Session's."""
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="k", TESTING=True)
    Sessionware(app, store=store)

    @app.get("/")
    def index() -> str:
        return "ok"

    assert app.test_client().get("/", **HTTPS).text == "ok"

    class Working(FlaskSessionLike):  # opens and saves sessions of its own
        def open_session(self, app: flask.Flask, request: flask.Request) -> SecureCookieSession:
            return SecureCookieSession()

        def save_session(self, *args: Any) -> None:
            pass

    app.session_interface = Working()  # what Session(app) does
    with pytest.raises(ConfigurationError, match="replaced after Sessionware"):
        app.test_client().get("/", **HTTPS)
