"""What Flask's own session and flash tests check, held by sessionware's ``Sessionware``.

Follows pallets/flask ``tests/test_basic.py`` (``test_session_*``, ``test_flashes``,
``test_extended_flashing``) and ``tests/test_testing.py`` (``test_redirect_session``,
``test_session_transactions``), read, not copied: accessed/modified and ``Vary``,
the cookie path from ``APPLICATION_ROOT``, Flask's cookie settings on the set and
the delete, SameSite, a missing secret key, key fallbacks, ``session.permanent``
and its expiry, a change made in ``after_request``, special types, Vary merging,
flashing with categories and filters, the test client's session transactions.
Differences kept by design are listed in the README ("Differences from the peers").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import flask
import pytest
from markupsafe import Markup

from sessionware import ConfigurationError
from sessionware.flask import Sessionware

from ..helpers import set_cookies

App = Callable[..., flask.Flask]


@pytest.fixture
def make_app(store: Any) -> App:
    """``make_app(**config)``: a Flask app on ``store``, with sessionware installed."""

    def make(**config: Any) -> flask.Flask:
        app = flask.Flask(__name__)
        app.config.update({"SECRET_KEY": "test key", "TESTING": True, **config})
        app.extensions["peer_setup"] = lambda: Sessionware(app, store=store)
        return app

    return make


def install(app: flask.Flask) -> flask.testing.FlaskClient:
    app.extensions.pop("peer_setup")()
    return app.test_client()


HTTPS = {"base_url": "https://localhost"}


def test_accessed_and_modified_and_vary(make_app: App) -> None:
    app = make_app()
    seen: list[tuple[bool, bool]] = []

    @app.post("/")
    def do_set() -> str:
        flask.session["value"] = flask.request.form["value"]
        return "value set"

    @app.get("/")
    def do_get() -> str:
        return str(flask.session.get("value", "None"))

    @app.get("/nothing")
    def do_nothing() -> str:
        return ""

    @app.after_request
    def record(response: flask.Response) -> flask.Response:
        session = flask.session._get_current_object()  # type: ignore[attr-defined]
        seen.append((session.accessed, session.modified))
        return response

    client = install(app)
    assert "cookie" not in client.get("/nothing", **HTTPS).vary
    assert client.post("/", data={"value": "42"}, **HTTPS).text == "value set"
    response = client.get("/", **HTTPS)
    assert response.text == "42" and "cookie" in response.vary
    assert "cookie" not in client.get("/nothing", **HTTPS).vary
    assert seen == [(False, False), (True, True), (True, False), (False, False)]


def test_a_removed_key_or_a_flag_set_by_code_reads_as_modified(make_app: App) -> None:
    """As in Flask: ``pop`` and ``del`` mark the session modified, and code (or an
    extension) that sets ``session.modified = True`` reads it back."""
    app = make_app()
    seen: list[bool] = []

    @app.get("/set")
    def do_set() -> str:
        flask.session.update(a=1, b=2, c=3)
        return ""

    @app.get("/pop")
    def do_pop() -> str:
        return str(flask.session.pop("a"))

    @app.get("/del")
    def do_del() -> str:
        del flask.session["b"]
        return ""

    @app.get("/flag")
    def do_flag() -> str:
        flask.session.get("c")
        flask.session.modified = True
        return ""

    @app.get("/read")
    def do_read() -> str:
        return str(flask.session.get("c"))

    @app.after_request
    def record(response: flask.Response) -> flask.Response:
        seen.append(flask.session.modified)
        return response

    client = install(app)
    for path in ("/set", "/pop", "/del", "/flag", "/read"):
        assert client.get(path, **HTTPS).status_code == 200
    assert seen == [True, True, True, True, False]
    assert client.get("/read", **HTTPS).text == "3"


def test_the_cookie_path_follows_application_root(make_app: App) -> None:
    app = make_app(APPLICATION_ROOT="/foo")

    @app.route("/")
    def index() -> str:
        flask.session["testing"] = 42
        return "Hello World"

    response = install(app).get("/", "https://example.com:8080/foo")
    assert "path=/foo" in response.headers["set-cookie"].lower()


def test_flasks_cookie_settings_on_the_set_and_on_the_delete(make_app: App) -> None:
    app = make_app(
        SESSION_COOKIE_DOMAIN="example.com",  # Werkzeug's test client ignores ".example.com"
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_PARTITIONED=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
    )

    @app.route("/")
    def index() -> str:
        flask.session["testing"] = 42
        return "Hello World"

    @app.route("/clear")
    def clear() -> str:
        flask.session.pop("testing", None)  # the last key: the session ends
        return "Goodbye World"

    client = install(app)
    for path, prefix in (("/", "session="), ("/clear", "session=;")):
        cookie = client.get(path, "https://www.example.com/").headers["set-cookie"].lower()
        assert cookie.startswith(prefix), cookie
        assert "domain=example.com" in cookie and "path=/" in cookie and "secure" in cookie
        assert "httponly" not in cookie and "samesite=lax" in cookie and "partitioned" in cookie


@pytest.mark.parametrize(
    ("value", "sent"), [("Strict", "samesite=strict"), ("Lax", "samesite=lax")]
)
def test_the_samesite_setting(make_app: App, value: str, sent: str) -> None:
    app = make_app(SESSION_COOKIE_SAMESITE=value)
    app.add_url_rule("/", "index", lambda: flask.session.update(testing=42) or "")
    assert sent in install(app).get("/", **HTTPS).headers["set-cookie"].lower()


def test_an_invalid_samesite_is_refused(make_app: App) -> None:
    app = make_app(SESSION_COOKIE_SAMESITE="invalid")
    with pytest.raises(ValueError, match="same_site"):
        install(app)


def test_samesite_none_omits_the_attribute_through_sessionwares_option(make_app: App) -> None:
    app = make_app(SESSIONWARE_SAME_SITE=None)
    app.add_url_rule("/", "index", lambda: flask.session.update(testing=42) or "")
    assert "samesite" not in install(app).get("/", **HTTPS).headers["set-cookie"].lower()


def test_a_missing_secret_key_is_an_error(make_app: App) -> None:
    app = make_app(SECRET_KEY=None)
    with pytest.raises(ConfigurationError, match="secret key"):
        install(app)


def test_secret_key_fallbacks(make_app: App) -> None:
    app = make_app(SECRET_KEY="0 key", SECRET_KEY_FALLBACKS=["-1 key", "-2 key"])
    app.add_url_rule("/", "set", lambda: flask.session.update(a=1) or "", methods=["POST"])
    app.add_url_rule("/", "get", lambda: dict(flask.session), methods=["GET"])
    client = install(app)
    client.post("/", **HTTPS)
    assert client.get("/", **HTTPS).json == {"a": 1}
    app.secret_key = "? key"  # a key the cookie was never signed with: empty
    assert client.get("/", **HTTPS).json == {}
    app.secret_key, app.config["SECRET_KEY_FALLBACKS"] = "+1 key", ["0 key", "-1 key"]
    assert client.get("/", **HTTPS).json == {"a": 1}


def test_permanent_sessions_expire_after_the_permanent_lifetime(make_app: App) -> None:
    app = make_app(PERMANENT_SESSION_LIFETIME=dt.timedelta(days=3))
    permanent = {"value": True}

    @app.route("/")
    def index() -> str:
        flask.session["test"] = 42
        flask.session.permanent = permanent["value"]
        return ""

    app.add_url_rule("/test", "test", lambda: str(flask.session.permanent))
    client = install(app)
    assert set_cookies(client.get("/", **HTTPS))[0]["max-age"] == str(3 * 24 * 3600)
    assert client.get("/test", **HTTPS).data == b"True"
    permanent["value"] = False
    cookie = set_cookies(client.get("/", **HTTPS))[0]
    assert "max-age" not in cookie and "expires" not in cookie


def test_a_change_made_in_after_request_is_saved(make_app: App) -> None:
    app = make_app()

    @app.after_request
    def modify_session(response: flask.Response) -> flask.Response:
        flask.session["foo"] = 42
        return response

    app.add_url_rule("/", "index", lambda: repr(flask.session.get("foo")))
    client = install(app)
    assert client.get("/", **HTTPS).data == b"None"
    assert client.get("/", **HTTPS).data == b"42"


def test_special_types_come_back_as_stored(make_app: App) -> None:
    app = make_app()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    the_uuid = uuid.uuid4()
    stored = {
        "t": (1, 2, 3),
        "b": b"\xff",
        "m": Markup("<html>"),
        "u": the_uuid,
        "d": now,
        "t_tag": {" t": "not-a-tuple"},
        "di_t_tag": {" t__": "not-a-tuple"},
        "di_tag": {" di": "not-a-dict"},
    }
    app.add_url_rule("/set", "set", lambda: flask.session.update(stored) or ("", 204))

    @app.route("/check")
    def check() -> dict[str, bool]:
        s = flask.session
        return {k: s[k] == v and type(s[k]) is type(v) for k, v in stored.items()}

    client = install(app)
    client.get("/set", **HTTPS)
    assert client.get("/check", **HTTPS).json == dict.fromkeys(stored, True)


@pytest.mark.parametrize(
    ("permanent", "refresh", "sent_on_read"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_refresh_each_request_re_sends_only_a_permanent_cookie(
    make_app: App, permanent: bool, refresh: bool, sent_on_read: bool
) -> None:
    app = make_app(SESSIONWARE_REFRESH_EACH_REQUEST=refresh)  # see the README's differences

    @app.route("/bump")
    def bump() -> str:
        value = flask.session["foo"] = flask.session.get("foo", 0) + 1
        flask.session.permanent = permanent
        return str(value)

    app.add_url_rule("/read", "read", lambda: str(flask.session.get("foo", 0)))
    client = install(app)
    assert [client.get("/bump", **HTTPS).data for _ in range(3)] == [b"1", b"2", b"3"]
    response = client.get("/read", **HTTPS)
    assert response.data == b"3"
    assert bool(response.headers.get("set-cookie")) is sent_on_read


def test_vary_cookie_is_added_once_and_merged(make_app: App) -> None:
    app = make_app()
    app.add_url_rule("/set", "set", lambda: flask.session.update(test="test") or "")
    app.add_url_rule("/get", "get", lambda: flask.session.get("test") or "")
    app.add_url_rule("/getitem", "getitem", lambda: flask.session["test"])
    app.add_url_rule("/setdefault", "setdefault", lambda: flask.session.setdefault("test", "d"))
    app.add_url_rule("/clear", "clear", lambda: flask.session.clear() or "")
    app.add_url_rule("/no-vary-header", "none", lambda: "")

    @app.route("/vary-cookie-header-set")
    def vary_cookie_header_set() -> flask.Response:
        response = flask.Response()
        response.vary.add("Cookie")
        flask.session["test"] = "test"
        return response

    @app.route("/vary-header-set")
    def vary_header_set() -> flask.Response:
        response = flask.Response()
        response.vary.update(("Accept-Encoding", "Accept-Language"))
        flask.session["test"] = "test"
        return response

    client = install(app)
    for path, expected in [
        ("/set", "Cookie"),
        ("/get", "Cookie"),
        ("/getitem", "Cookie"),
        ("/setdefault", "Cookie"),
        ("/clear", "Cookie"),
        ("/vary-cookie-header-set", "Cookie"),
        ("/vary-header-set", "Accept-Encoding, Accept-Language, Cookie"),
    ]:
        response = client.get(path, **HTTPS)
        assert response.headers.get_all("Vary") == [expected], path
    assert "Vary" not in client.get("/no-vary-header", **HTTPS).headers


def test_flash_marks_the_session_modified(make_app: App) -> None:
    app = make_app()
    install(app)
    with app.test_request_context():
        assert not flask.session.modified
        flask.flash("Zap")
        flask.flash("Zip")
        assert flask.session.modified
        assert list(flask.get_flashed_messages()) == ["Zap", "Zip"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["Hello World", "Hello World", Markup("<em>Testing</em>")]),
        (
            {"with_categories": True},
            [
                ["message", "Hello World"],
                ["error", "Hello World"],
                ["warning", Markup("<em>Testing</em>")],
            ],
        ),
        ({"category_filter": ["message"], "with_categories": True}, [["message", "Hello World"]]),
        (
            {"category_filter": ["message", "warning"], "with_categories": True},
            [["message", "Hello World"], ["warning", Markup("<em>Testing</em>")]],
        ),
        (
            {"category_filter": ["message", "warning"]},
            ["Hello World", Markup("<em>Testing</em>")],
        ),
    ],
)
def test_extended_flashing(make_app: App, kwargs: dict[str, Any], expected: list[Any]) -> None:
    app = make_app()

    @app.route("/")
    def index() -> str:
        flask.flash("Hello World")
        flask.flash("Hello World", "error")
        flask.flash(Markup("<em>Testing</em>"), "warning")
        return ""

    @app.route("/test/")
    def test() -> Any:
        messages = flask.get_flashed_messages(**kwargs)
        kinds = [type(m if isinstance(m, str) else m[1]).__name__ for m in messages]
        return {"messages": list(messages), "kinds": kinds}

    client = install(app)
    client.get("/", **HTTPS)
    body = client.get("/test/", **HTTPS).json
    assert body["messages"] == [list(m) if isinstance(m, list) else m for m in expected]
    kinds = [type(m if isinstance(m, str) else m[1]).__name__ for m in expected]
    assert body["kinds"] == kinds  # Markup stays Markup


def test_a_redirect_keeps_the_session(make_app: App) -> None:
    app = make_app()

    @app.route("/redirect")
    def index() -> flask.Response:
        flask.session["redirect"] = True
        return flask.redirect("/target")  # type: ignore[return-value]

    @app.route("/target")
    def target() -> Any:
        flask.session["target"] = True
        return dict(flask.session)

    client = install(app)
    response = client.get("/redirect", follow_redirects=True, **HTTPS)
    assert response.json == {"redirect": True, "target": True}


def test_session_transactions(make_app: App) -> None:
    app = make_app()
    app.add_url_rule("/", "index", lambda: str(flask.session["foo"]))
    client = install(app)
    with client.session_transaction(**HTTPS) as sess:
        assert len(sess) == 0
        sess["foo"] = [42]
        assert len(sess) == 1
    assert client.get("/", **HTTPS).data == b"[42]"
    with client.session_transaction(**HTTPS) as sess:
        assert len(sess) == 1 and sess["foo"] == [42]
