"""The Flask integration's own behaviour (the core behaviours run on Flask in tests/scenarios)."""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import flask
import httpx
import pytest

from sessionware import (
    ConfigurationError,
    MemoryStore,
    MissingExtra,
    RedisStore,
    SQLiteStore,
    StoreUnavailable,
    WSGISessionMiddleware,
)
from sessionware.cookies import CookieSigner
from sessionware.flask import FlaskSession, Sessionware, SessionwareInterface, session

from .helpers import CountingStore, set_cookies
from .test_wsgi import hammer, serve_threaded


def make_app(**config: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(config)

    @app.route("/incr")
    def incr() -> dict[str, Any]:
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}

    @app.route("/read")
    def read() -> dict[str, Any]:
        return {"n": session.get("n"), "id": session.id}

    @app.route("/untouched")
    def untouched() -> str:
        flask.session  # noqa: B018 - touching the proxy is not using the session
        return "ok"

    @app.route("/flash/<category>/<message>")
    def flash(category: str, message: str) -> str:
        flask.flash(message, category)
        return "ok"

    @app.route("/messages")
    def messages() -> Any:
        return flask.jsonify(flask.get_flashed_messages(with_categories=True))

    @app.route("/pop")
    def pop() -> Any:
        return flask.jsonify(session.pop_flashes())

    @app.route("/session-flash/<message>")
    def session_flash(message: str) -> str:
        session.flash(message, "warning")
        return "ok"

    @app.route("/login/<user>")
    def login(user: str) -> dict[str, Any]:
        session.regenerate()
        session["user"] = user
        return {"new": session.new}

    @app.route("/logout")
    def logout() -> str:
        session.clear()
        return "ok"

    @app.route("/nested/<item>")
    def nested(item: str) -> dict[str, Any]:
        session.setdefault("cart", {"lines": []})["lines"].append(item)
        session.modified = True  # the Flask idiom: accepted, and not needed
        return session["cart"]  # type: ignore[no-any-return]

    @app.route("/boom")
    def boom() -> str:
        session["boom"] = 1
        raise RuntimeError("view failed")

    return app


@pytest.fixture
def store() -> CountingStore:
    return CountingStore(MemoryStore())


@pytest.fixture
def app(store: CountingStore) -> flask.Flask:
    app = make_app()
    Sessionware(app, secret_key="k", store=store)
    return app


@pytest.fixture
def client(app: flask.Flask) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="https://testserver") as c:
        yield c


def cookie_name_of(response: httpx.Response, name: str) -> list[str]:
    return [c["value"] for c in set_cookies(response, name)]


# -- laziness ---------------------------------------------------------------------


def test_a_view_that_never_uses_the_session_costs_nothing(
    client: httpx.Client, store: CountingStore
) -> None:
    client.get("/incr")
    store.calls.clear()
    response = client.get("/untouched")  # a valid cookie, and flask.session touched
    assert response.text == "ok"
    assert store.calls == []
    assert set_cookies(response) == []
    assert "vary" not in response.headers


def test_a_request_whose_cookie_a_login_took_answers_409_with_permanent_set_early() -> None:
    """Flask's idiom ``session.permanent = True`` in ``before_request`` set on a session
    whose cookie a login had just taken (a second tab, an XHR in flight) counted as a
    login itself: the request answered 200 with a new, empty session's cookie, signing
    the user out and losing the cart. It is no login: 409, no cookie."""
    app = make_app()

    @app.before_request
    def make_permanent() -> None:
        session.permanent = True

    Sessionware(app, secret_key="k", store=MemoryStore(), secure=False, user_key="user")
    with app.test_client() as browser:
        assert browser.get("/incr").status_code == 200  # a cart before signing in
        before = browser.get_cookie("session")
        assert before is not None
        assert browser.get("/login/alice").status_code == 200
        after = browser.get_cookie("session")
        assert after is not None and after.value != before.value  # rotated at login
        late = app.test_client()
        late.set_cookie("session", before.value)
        answer = late.get("/incr")
        assert answer.status_code == 409
        assert answer.headers.get_all("Set-Cookie") == []
        assert browser.get("/read").json["n"] == 1  # still signed in, with the cart
        fresh = app.test_client().get("/incr")  # a session with no cookie is made as ever
        assert fresh.status_code == 200 and fresh.headers.get_all("Set-Cookie")


@pytest.mark.parametrize(("action", "status"), [("write", 409), ("login", 409)])
def test_a_login_racing_an_in_flight_request_leaves_the_cookie_alone(
    action: str, status: int
) -> None:
    """A view that loaded the session before a login gave it a new id (another request
    of the page, or the login form sent twice) saves to an id that is gone: its
    response sends no cookie, so the login's stays and the user stays signed in; it
    answers 409 (send it again), never a 200 that did not happen."""
    loaded, release = threading.Event(), threading.Event()
    app = make_app()

    @app.route("/slow")
    def slow() -> str:
        count = session.get("n", 0)
        loaded.set()
        release.wait(10)
        if action == "login":  # the same login, sent twice
            session.regenerate()
            session["user"] = "alice"
        else:
            session["n"] = count + 1
        return "ok"

    Sessionware(app, secret_key="k", store=MemoryStore(), secure=False)
    url, stop = serve_threaded(app)
    try:
        with httpx.Client(base_url=url) as browser:
            assert browser.get("/incr").status_code == 200  # a session before signing in
            before = browser.cookies["session"]
            answers: list[httpx.Response] = []
            other = threading.Thread(
                target=lambda: answers.append(httpx.get(url + "/slow", cookies={"session": before}))
            )
            other.start()
            assert loaded.wait(10)
            assert browser.get("/login/alice").status_code == 200
            release.set()
            other.join(10)
            (answer,) = answers
            assert answer.status_code == status
            assert set_cookies(answer) == []  # neither expired nor renewed nor replaced
            assert browser.cookies["session"] != before
            assert browser.get("/read").json()["n"] == 1  # the signed-in session, carried over
    finally:
        stop()


def test_flask_session_is_a_sessionware_session(app: flask.Flask) -> None:
    with app.test_request_context("/"):
        opened = flask.request.environ["sessionware.session"]
        assert isinstance(opened, FlaskSession)
        assert flask.session._get_current_object() is opened  # type: ignore[attr-defined]
        assert session._get_current_object() is opened  # type: ignore[attr-defined]
        session["n"] = 1
        assert opened["n"] == 1 and session.id is None and "n" in session
    assert isinstance(app.extensions["sessionware"], SessionwareInterface)


def test_our_session_proxy_refuses_flasks_own_cookie_session() -> None:
    """An app that never ran Sessionware(app) (a factory that called it on another app):
    writes would land in Flask's cookie, which the client can read."""
    plain = flask.Flask(__name__)
    plain.secret_key = "flask-own-secret"

    @plain.route("/")
    def view() -> str:
        session["card"] = "4111"
        return "stored"

    with (
        plain.test_request_context("/"),
        pytest.raises(ConfigurationError, match=r"Flask's SecureCookieSession.*Sessionware\(app"),
    ):
        session.get("card")
    plain.testing = True
    with pytest.raises(ConfigurationError, match="not a sessionware session"):
        plain.test_client().get("/")


# -- Flask's own session features ------------------------------------------------------


def test_flask_flash_and_get_flashed_messages_keep_working(client: httpx.Client) -> None:
    client.get("/flash/info/one")
    client.get("/flash/error/two")
    assert client.get("/messages").json() == [["info", "one"], ["error", "two"]]
    assert client.get("/messages").json() == []


def test_flask_flash_and_session_flash_share_one_queue(client: httpx.Client) -> None:
    client.get("/flash/info/from-flask")
    client.get("/session-flash/from-session")
    assert client.get("/pop").json() == [["info", "from-flask"], ["warning", "from-session"]]
    client.get("/session-flash/again")
    assert client.get("/messages").json() == [["warning", "again"]]


def test_nested_changes_are_saved_and_modified_is_accepted(client: httpx.Client) -> None:
    client.get("/nested/a")
    assert client.get("/nested/b").json() == {"lines": ["a", "b"]}


def test_login_regenerates_and_logout_clears(client: httpx.Client) -> None:
    first = cookie_name_of(client.get("/incr"), "session")[0]
    assert client.get("/login/alice").json() == {"new": False}
    second = client.cookies["session"]
    assert second != first
    assert client.get("/read").json()["n"] == 1
    gone = set_cookies(client.get("/logout"))[0]
    assert gone["max-age"] == "0"
    assert client.get("/read").json() == {"n": None, "id": None}


def test_the_test_clients_session_transaction_works(app: flask.Flask) -> None:
    with app.test_client() as c:
        c.get("/incr", base_url="https://localhost")
        with c.session_transaction(base_url="https://localhost") as sess:
            assert sess["n"] == 1
            sess["n"] = 41
        assert c.get("/incr", base_url="https://localhost").json == {"n": 42}


# -- configuration -------------------------------------------------------------------


def test_options_come_from_app_config_and_keywords_win() -> None:
    app = make_app(
        SESSIONWARE_SECRET_KEY="from-config",
        SESSIONWARE_COOKIE_NAME="sid",
        SESSIONWARE_MAX_AGE=60,
        SESSIONWARE_SAME_SITE="strict",
    )
    interface = Sessionware(same_site="lax").init_app(app)
    assert interface.config.cookie.name == "sid"
    assert interface.config.cookie.max_age == 60
    assert interface.config.cookie.same_site == "lax"
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        cookie = set_cookies(c.get("/incr"), "sid")[0]
    assert cookie["max-age"] == "60"
    assert interface.config.signer.verify(cookie["value"]) is not None


def test_init_app_serves_an_app_factory_with_its_own_store() -> None:
    extension = Sessionware(secret_key="k")
    one, two = make_app(SESSIONWARE_STORE=MemoryStore()), make_app()
    extension.init_app(one)
    extension.init_app(two)
    assert one.session_interface.store is one.config["SESSIONWARE_STORE"]  # type: ignore[attr-defined]
    assert one.session_interface.store is not two.session_interface.store  # type: ignore[attr-defined]
    with httpx.Client(transport=httpx.WSGITransport(app=one), base_url="https://t") as c:
        c.get("/incr")
        assert c.get("/incr").json() == {"n": 2}
    assert len(one.config["SESSIONWARE_STORE"]) == 1


def test_a_store_url_in_app_config_opens_that_store(tmp_path: Any) -> None:
    from sessionware import SQLiteStore

    path = tmp_path / "sessions.db"
    app = make_app(SESSIONWARE_STORE=f"sqlite:///{path}")  # what --store takes
    interface = Sessionware(secret_key="k").init_app(app)
    assert isinstance(interface.store, SQLiteStore)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        c.get("/incr")
        assert c.get("/incr").json() == {"n": 2}
    from sessionware import SessionManager

    listing = SessionManager(SQLiteStore(path)).list()  # the session is in that file
    assert listing.total_items == 1
    with pytest.raises(ConfigurationError, match=r"unknown store URL 'mongodb://h/db'"):
        Sessionware(secret_key="k").init_app(make_app(SESSIONWARE_STORE="mongodb://h/db"))


def test_the_secret_key_falls_back_to_flasks_own() -> None:
    app = make_app(SECRET_KEY="flask-key", SECRET_KEY_FALLBACKS=["older-key"])
    interface = Sessionware().init_app(app)
    signed = interface.config.signer.sign("t" * 43)
    assert interface.config.signer.verify(signed) is not None
    assert CookieSigner("flask-key").verify(signed) is not None
    assert interface.config.signer.verify(CookieSigner("older-key").sign("t" * 43)) is not None


def test_no_secret_key_anywhere_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="SESSIONWARE_SECRET_KEY"):
        Sessionware(make_app())


def test_an_unknown_sessionware_config_key_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"'SESSIONWARE_IDLE_TIMOUT'.*_IDLE_TIMEOUT"):
        Sessionware(make_app(SESSIONWARE_IDLE_TIMOUT=5), secret_key="k")


def test_a_store_without_the_sync_contract_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sync store contract"):
        Sessionware(make_app(), secret_key="k", store=object())  # type: ignore[arg-type]


def test_without_flask_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "flask", None)
    monkeypatch.delitem(sys.modules, "sessionware.flask")
    with pytest.raises(MissingExtra, match=r"sessionware\[flask\]"):
        importlib.import_module("sessionware.flask")


# -- failures -----------------------------------------------------------------------


def test_an_unhandled_exception_saves_nothing_even_behind_a_friendly_handler(
    app: flask.Flask, client: httpx.Client
) -> None:
    app.register_error_handler(500, lambda error: ("all good, nothing to see", 200))
    response = client.get("/boom")
    assert response.text == "all good, nothing to see"
    assert set_cookies(response) == []


def test_a_store_failure_in_a_view_is_a_503_despite_a_catch_all_handler(
    app: flask.Flask, client: httpx.Client, store: CountingStore
) -> None:
    app.register_error_handler(Exception, lambda error: ("caught", 500))
    client.get("/incr")
    store.fail = {"load"}
    response = client.get("/read")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert set_cookies(response) == []


def test_a_save_failure_turns_the_finished_response_into_a_503(
    app: flask.Flask, client: httpx.Client, store: CountingStore
) -> None:
    app.after_request(lambda response: (response.headers.set("x-app", "1"), response)[1])
    store.fail = {"create"}
    response = client.get("/incr")
    assert response.status_code == 503
    assert "session store" in response.text
    assert "x-app" not in response.headers
    assert set_cookies(response) == []


def _down_redis_app(hook: bool, session_type: str | None = None) -> tuple[flask.Flask, RedisStore]:
    """An app whose Redis does not answer (127.0.0.1:1), with an ``after_request`` hook
    that reads the session, as Flask-Login's remember-me hook does."""
    app = make_app()
    store = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="swdown:", socket_timeout=0.2)
    Sessionware(app, secret_key="k" * 32, store=store, session_type=session_type)
    # views that cope with the outage themselves, then go on using the session
    then = {
        "write": lambda: session.__setitem__("n", 1),
        "flash": lambda: flask.flash("saved"),
        "regenerate": lambda: session.regenerate(),
        "permanent": lambda: setattr(session, "permanent", True),
        "read": lambda: session.get("n"),
    }

    @app.route("/careful/<action>")
    def careful(action: str) -> str:
        with contextlib.suppress(StoreUnavailable):
            session.get("n")
        then[action]()
        return "done"

    @app.route("/plain")
    def plain() -> str:  # a health check, a static page: it never uses the session
        return "plain"

    if hook:

        @app.after_request
        def remember(response: flask.Response) -> flask.Response:
            session.get("theme")  # Flask-Login's hook reads "_remember"
            response.headers["x-keys"] = json.dumps(dict(session))  # as an empty session
            return response

    return app, store


def _cookie_for(app: flask.Flask) -> str:
    """A session cookie the down app accepts: signed with its key by a working app."""
    working = make_app()
    Sessionware(working, secret_key="k" * 32, store=MemoryStore())
    with httpx.Client(transport=httpx.WSGITransport(app=working), base_url="https://t") as c:
        (value,) = cookie_name_of(c.get("/incr"), "session")
    return value


@pytest.mark.parametrize("hook", [False, True], ids=["no hook", "after_request reads"])
def test_a_store_outage_is_a_503_even_when_an_after_request_hook_reads_the_session(
    hook: bool, caplog: pytest.LogCaptureFixture
) -> None:
    app, store = _down_redis_app(hook)
    cookie = _cookie_for(app)
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        c.cookies.set("session", cookie)
        response = c.get("/read")
        assert (response.status_code, response.headers["retry-after"]) == (503, "1")
        assert set_cookies(response) == []
        if hook:
            assert response.headers["x-keys"] == "{}"
        # a view that catches the failure and changes the session anyway is never a
        # silent 200: the change cannot be saved
        for action in ("write", "flash", "regenerate", "permanent"):
            answered = c.get(f"/careful/{action}")
            assert answered.status_code == 503, action
            assert set_cookies(answered) == [], action
        # one that only reads on keeps its answer (the session reads as empty), and so
        # does a view that never used the session, though the hook is the first to read
        for path, text in (("/careful/read", "done"), ("/plain", "plain")):
            answered = c.get(path)
            assert (answered.status_code, answered.text) == (200, text), path
            assert set_cookies(answered) == [], path
    assert "Request finalizing failed" not in caplog.text
    assert "Exception on" not in caplog.text  # no 500 from Flask on the way
    if hook:  # the hook met the outage on /plain: logged, not raised
        assert "went on with an empty session" in caplog.text
    store.close()


def test_a_bound_type_the_down_store_cannot_give_is_no_500_in_an_after_request_hook(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # no cookie: the only store call is the type's read, which fails at the first use
    app, store = _down_redis_app(hook=True, session_type="checkout")
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        for path, status in (("/plain", 200), ("/careful/read", 200), ("/read", 503)):
            answered = c.get(path)
            assert answered.status_code == status, path
            assert set_cookies(answered) == [], path
        for action in ("write", "flash", "regenerate"):
            assert c.get(f"/careful/{action}").status_code == 503, action
    assert "Exception on" not in caplog.text  # no 500 from Flask on the way
    assert "went on with an empty session" in caplog.text
    store.close()


def test_a_session_too_large_at_save_is_a_500_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    Sessionware(app, secret_key="k", max_payload_bytes=200)

    @app.route("/grow")
    def grow() -> str:
        session.setdefault("blob", []).append("x" * 150)
        return "grown"

    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        assert c.get("/grow").status_code == 200
        response = c.get("/grow")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "max_payload_bytes" in caplog.text


# -- threads ------------------------------------------------------------------------


def test_a_threaded_server_keeps_every_session_apart() -> None:
    app, store = make_app(), MemoryStore()
    Sessionware(app, secret_key="k", store=store, secure=False)  # plain http test server
    url, stop = serve_threaded(app)
    try:
        counts = hammer(url)
    finally:
        stop()
    assert counts == [list(range(1, 16))] * 8
    assert len(store) == 8


@pytest.mark.parametrize(
    ("app_vary", "sent"),
    [
        (["*"], ["*"]),
        (["Accept"], ["Accept, Cookie"]),
        (["Accept", "*"], ["Accept", "*"]),
        (["Accept", "Accept-Language"], ["Accept, Cookie", "Accept-Language"]),
        (["Accept", "cookie"], ["Accept", "cookie"]),
        ([""], ["Cookie"]),
    ],
)
def test_the_apps_vary_lines_stay_as_the_other_shells_keep_them(
    app_vary: list[str], sent: list[str]
) -> None:
    """Werkzeug's vary.add made "*, Cookie" of an app's "Vary: *", and rewrote the first
    Vary line alone, dropping the others (a "*" among them too). Cookie goes into the
    first line, which is the one Werkzeug's response.vary (and any middleware adding to
    it later) reads; a "*" or a Cookie on any line is enough."""
    app = make_app(SESSIONWARE_SECRET_KEY="k" * 40)

    @app.route("/varied")
    def varied() -> Any:
        session["n"] = 1
        return "ok", 200, [("Vary", line) for line in app_vary]

    Sessionware(app, store=MemoryStore())
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        assert c.get("/varied").headers.get_list("vary") == sent
    wsgi = WSGISessionMiddleware(_vary_app(app_vary), secret_key="k" * 40, store=MemoryStore())
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="https://t") as c:
        assert c.get("/").headers.get_list("vary") == sent  # the WSGI shell alike


def _vary_app(lines: list[str]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["sessionware.session"]["n"] = 1
        start_response("200 OK", [("Vary", line) for line in lines])
        return [b"ok"]

    return app


def test_an_app_factory_sharing_one_extension_lets_each_apps_store_go(tmp_path: Any) -> None:
    """One ``Sessionware()`` and ``init_app`` per app (a test fixture's factory), the
    store named by a URL: each app's store was kept open for good (two SQLite files
    per app, a socket per app on Redis; "Too many open files" under a low limit)."""
    url = f"sqlite:///{tmp_path}/sessions.db"
    SQLiteStore(str(tmp_path / "sessions.db")).close()
    extension = Sessionware()

    def served() -> None:
        app = flask.Flask(__name__)
        app.secret_key = "an-app-factory-secret-key-0123456789"
        app.config["SESSIONWARE_STORE"] = url
        extension.init_app(app)

        @app.get("/")
        def view() -> str:
            session["n"] = 1
            return "ok"

        assert app.test_client().get("/", base_url="https://localhost").status_code == 200

    def open_files() -> int:
        return len(os.listdir("/proc/self/fd"))

    served()
    gc.collect()
    before = open_files()
    for _ in range(30):
        served()
    gc.collect()
    assert open_files() <= before
    assert len(extension._interfaces) == 0


def test_wrap_counts_only_the_apps_still_alive() -> None:
    """An app let go sits in a reference cycle until a collection: wrap() met it, or
    not, depending on when the collector last ran."""
    extension = Sessionware(secret_key="an-app-factory-secret-key-0123456789")
    gc.disable()
    try:
        extension.init_app(flask.Flask("gone"))  # (dropped at once: garbage, not yet collected)
        kept = flask.Flask("kept")
        extension.init_app(kept)
        assert extension.wrap(lambda environ, start: [b"ok"]) is not None
    finally:
        gc.enable()
