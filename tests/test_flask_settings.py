"""Flask users keep their configuration (issue 10): Flask's own session settings apply
unless a sessionware option says otherwise, over real requests through Flask."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import flask
import pytest

from sessionware import ConfigurationError, MemoryStore, UnknownOption, WSGISessionMiddleware
from sessionware.flask import Sessionware, session
from sessionware.stores.base import Query

from .helpers import set_cookies


def make_app(settings: dict[str, Any], **options: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="flask-settings-secret-key-0123456789", **settings)
    Sessionware(app, **options)

    @app.get("/put")
    def put() -> str:
        session["n"] = 1
        if flask.request.args.get("permanent"):
            session.permanent = True
        return "ok"

    return app


def cookie_of(app: flask.Flask, name: str = "session", path: str = "/put") -> tuple[dict, str]:
    response = app.test_client().get(path + "?permanent=1")
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]
    return set_cookies(response, name)[0], header


def test_flask_cookie_settings_are_honoured() -> None:
    app = make_app(
        {
            "SESSION_COOKIE_NAME": "flask_sid",
            "SESSION_COOKIE_DOMAIN": "example.test",
            "SESSION_COOKIE_PATH": "/",
            "SESSION_COOKIE_HTTPONLY": False,
            "SESSION_COOKIE_SAMESITE": "Strict",
            "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2),
        }
    )
    cookie, _ = cookie_of(app, "flask_sid")
    assert cookie["domain"] == "example.test" and cookie["samesite"] == "Strict"
    assert not cookie["httponly"] and cookie["secure"]  # Flask's default False is not taken
    assert cookie["max-age"] == "7200"  # session.permanent = True, for the Flask lifetime


def test_application_root_is_the_cookie_path_when_none_is_set() -> None:
    app = make_app({"APPLICATION_ROOT": "/shop"})
    response = app.test_client().get("/put")
    assert set_cookies(response)[0]["path"] == "/shop"


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"SESSION_COOKIE_PATH": ""}, "/"),
        ({"SESSION_COOKIE_PATH": "", "APPLICATION_ROOT": "/shop"}, "/shop"),
    ],
)
def test_an_empty_cookie_path_falls_back_as_in_flask(settings: dict[str, Any], path: str) -> None:
    response = make_app(settings).test_client().get("/put")
    assert set_cookies(response)[0]["path"] == path  # not "Path=;": the request's folder


def test_a_port_in_the_cookie_domain_is_dropped_as_flask_does() -> None:
    cookie, header = cookie_of(make_app({"SESSION_COOKIE_DOMAIN": "example.test:5000"}))
    assert cookie["domain"] == "example.test" and "5000" not in header


def test_an_explicit_sessionware_option_wins_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        app = make_app({"SESSION_COOKIE_NAME": "flask_sid"}, cookie_name="sw_sid")
    response = app.test_client().get("/put")
    assert set_cookies(response, "sw_sid") and not set_cookies(response, "flask_sid")
    warned = [r.getMessage() for r in caplog.records if "overridden" in r.message]
    assert len(warned) == 1
    assert "SESSION_COOKIE_NAME (Flask) vs cookie_name= (code) = 'sw_sid'" in warned[0]


@pytest.mark.parametrize("source", ["environment", "app.config"])
def test_the_override_warning_names_where_the_winning_option_was_set(
    source: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings: dict[str, Any] = {"SESSION_COOKIE_NAME": "flask_sid"}
    if source == "environment":
        monkeypatch.setenv("SESSIONWARE_COOKIE_NAME", "env_sid")
        said = "SESSIONWARE_COOKIE_NAME (environment) = 'env_sid'"
    else:
        settings["SESSIONWARE_COOKIE_NAME"] = "config_sid"
        said = "app.config['SESSIONWARE_COOKIE_NAME'] = 'config_sid'"
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app(settings)
    (warned,) = [r.getMessage() for r in caplog.records if "overridden" in r.message]
    assert f"SESSION_COOKIE_NAME (Flask) vs {said}" in warned


def test_session_permanent_false_is_a_browser_session_cookie() -> None:
    app = make_app({})
    response = app.test_client().get("/put")
    assert "max-age" not in set_cookies(response)[0]


def test_rotating_secret_key_in_flask_config_takes_effect_per_request() -> None:
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="old-flask-secret-key-0123456789", SESSION_COOKIE_SECURE=True)
    Sessionware(app)

    @app.get("/put")
    def put() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    assert client.get("/put", base_url="https://localhost").text == "1"
    app.config.update(
        SECRET_KEY="new-flask-secret-key-0123456789",
        SECRET_KEY_FALLBACKS=["old-flask-secret-key-0123456789"],
    )
    response = client.get("/put", base_url="https://localhost")
    assert response.text == "2"  # the old key still verifies, as a fallback
    assert set_cookies(response)[0]["value"]  # and the cookie is re-signed with the new one
    app.config.update(SECRET_KEY_FALLBACKS=[])
    assert client.get("/put", base_url="https://localhost").text == "3"  # re-signed in time


def test_permanent_session_lifetime_is_also_how_long_the_stored_session_lives() -> None:
    """As Flask-Session's store TTL: not sessionware's default 30 days."""
    app = make_app({"PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2)})
    assert app.extensions["sessionware"].config.idle_seconds == 7200
    client = app.test_client()
    client.get("/put")
    store = app.extensions["sessionware"].store
    ((_, meta),), _ = store.query(Query(), now=time.time())
    assert meta.expires_at is not None
    assert 7199 < meta.expires_at - meta.last_activity_at <= 7200
    kept = make_app({"PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2)}, idle_timeout=600)
    assert kept.extensions["sessionware"].config.idle_seconds == 600  # an option still wins


def test_the_environment_counts_beside_permanent_session_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shorter max_age from the environment caps the stored session, as the same
    option given in code does; an idle timeout from the environment is kept as given."""
    two_hours = {"PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2)}
    monkeypatch.setenv("SESSIONWARE_MAX_AGE", "600")
    assert make_app(two_hours).extensions["sessionware"].config.idle_seconds == 600
    monkeypatch.delenv("SESSIONWARE_MAX_AGE")
    monkeypatch.setenv("SESSIONWARE_IDLE_TIMEOUT", "900")
    assert make_app(two_hours).extensions["sessionware"].config.idle_seconds == 900


def test_the_environment_names_the_store_as_it_names_every_other_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """SESSIONWARE_STORE in the environment, as in app.config: workers share it."""
    from sessionware import SessionMiddleware, SQLiteStore

    monkeypatch.setenv("SESSIONWARE_STORE", f"sqlite:///{tmp_path}/sessions.db")
    apps = [make_app({}), make_app({})]  # two workers
    stores = [app.extensions["sessionware"].store for app in apps]
    assert all(isinstance(store, SQLiteStore) for store in stores)
    assert apps[0].test_client().get("/put").status_code == 200
    shared = SQLiteStore(f"{tmp_path}/sessions.db")  # what the other worker reads
    assert shared.query(Query(limit=5), now=time.time())[1] == 1
    shared.close()
    given = make_app({"SESSIONWARE_STORE": MemoryStore()})  # app.config still comes first
    assert isinstance(given.extensions["sessionware"].store, MemoryStore)
    shell = SessionMiddleware.from_config(lambda *a: None, secret_key="x" * 32)
    assert isinstance(shell.store, SQLiteStore)  # and from_config reads it too
    for store in [*stores, shell.store]:
        store.close()


def test_a_lifetime_never_lengthens_the_stored_sessions_and_an_option_keeps_its_own() -> None:
    long = make_app({"PERMANENT_SESSION_LIFETIME": dt.timedelta(days=365)})
    assert long.extensions["sessionware"].config.idle_seconds == 30 * 86400  # the default
    chosen = make_app({"PERMANENT_SESSION_LIFETIME": 7200}, permanent_lifetime=7 * 86400)
    assert chosen.extensions["sessionware"].config.idle_seconds == 30 * 86400


def test_session_permanent_is_named_not_taken(caplog: pytest.LogCaptureFixture) -> None:
    """Flask-Session's SESSION_PERMANENT: the warning says what replaces it; the cookie
    stays a browser-session one until a view sets session.permanent."""
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app({"SESSION_PERMANENT": False})  # what sessionware does already: no warning
    assert not [r for r in caplog.records if "Flask-Session" in r.message]
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        app = make_app({"SESSION_PERMANENT": True, "SESSION_PROTECTION": "strong"})
    response = app.test_client().get("/put")
    assert "max-age" not in set_cookies(response)[0]
    (warned,) = [r.getMessage() for r in caplog.records if "Flask-Session" in r.message]
    assert "SESSION_PERMANENT (use session.permanent = True" in warned
    assert "SESSION_PROTECTION" not in warned  # Flask-Login's, not Flask-Session's


def test_flask_sessions_type_without_a_store_of_ours_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"SESSION_TYPE = 'redis'.*SESSIONWARE_STORE"):
        make_app({"SESSION_TYPE": "redis", "SESSION_KEY_PREFIX": "app:"})
    make_app({"SESSION_TYPE": "redis"}, enabled=False)  # sessions off: nothing to keep


def test_flask_sessions_settings_beside_a_store_are_named_in_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {"SESSION_TYPE": "redis", "SESSION_KEY_PREFIX": "app:", "SESSION_USE_SIGNER": True}
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app({**settings, "SESSIONWARE_STORE": MemoryStore()})
    (warned,) = [r.getMessage() for r in caplog.records if "Flask-Session" in r.message]
    assert "SESSION_KEY_PREFIX (use a prefix in the store URL" in warned
    assert "SESSION_TYPE" in warned and "SESSION_USE_SIGNER" in warned
    # SESSION_PERMANENT left at Flask-Session's default (True): its cookies lasted, ours
    # end with the browser, and the warning says so though the app never set it
    assert "SESSION_PERMANENT (use session.permanent = True" in warned
    assert "Flask-Session's default True" in warned


def test_flask_sessions_sqlalchemy_settings_are_named_with_what_replaces_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {
        "SESSION_TYPE": "sqlalchemy",
        "SESSION_SQLALCHEMY": object(),  # Flask-SQLAlchemy's db
        "SESSION_SQLALCHEMY_TABLE": "sessions",
        "SESSION_SQLALCHEMY_SEQUENCE": None,
    }
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app({**settings, "SESSIONWARE_STORE": MemoryStore()})
    (warned,) = [r.getMessage() for r in caplog.records if "Flask-Session" in r.message]
    assert "SESSION_SQLALCHEMY (use SESSIONWARE_STORE = the database's URL" in warned
    assert "SESSION_SQLALCHEMY_TABLE (use a table prefix in the store URL" in warned
    assert "SESSION_SQLALCHEMY_SEQUENCE" in warned  # named, nothing replaces it


def test_another_librarys_option_name_is_refused_with_ours() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"lifetime \(use absolute_timeout.*max_age.*rolling=True, idle_timeout",
    ):
        make_app({}, lifetime=3600)
    with pytest.raises(ConfigurationError, match=r"cookie_https_only \(use secure\)"):
        WSGISessionMiddleware(lambda e, s: [], secret_key="k" * 32, cookie_https_only=False)
    with pytest.raises(UnknownOption, match=r"lifetime \(use absolute_timeout.*rolling \(use"):
        make_app({}, lifetime=3600, rolling=True)
    with pytest.raises(ConfigurationError, match=r"SESSIONWARE_LIFETIME' \(use absolute_timeout"):
        make_app({"SESSIONWARE_LIFETIME": 3600})


def test_the_same_value_spelled_twice_is_no_clash(caplog: pytest.LogCaptureFixture) -> None:
    flask_settings = {
        "SESSION_COOKIE_SAMESITE": "Strict",
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=2),
    }
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app(flask_settings, same_site="strict", permanent_lifetime=7200)
    assert not [r for r in caplog.records if "overridden" in r.message]
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        make_app({"SESSION_COOKIE_NAME": "Session"}, cookie_name="session")  # case counts
    (warned,) = [r.getMessage() for r in caplog.records if "overridden" in r.message]
    assert "SESSION_COOKIE_NAME" in warned


def test_flasks_own_flags_are_read_as_flask_reads_them() -> None:
    """from_prefixed_env gives FLASK_SESSION_COOKIE_SECURE=1 as the int 1, which Flask
    takes for on; text is refused naming the setting ("false" is on to Flask)."""
    app = flask.Flask("flags")
    app.config["SESSION_COOKIE_SECURE"] = 1
    app.config["SESSION_COOKIE_HTTPONLY"] = 0
    Sessionware(app, secret_key="k" * 40)
    app.add_url_rule("/put", "put", lambda: flask.session.update(n=1) or "ok")
    cookie = app.test_client().get("/put", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" not in cookie
    wrong = flask.Flask("text")
    wrong.config["SESSION_COOKIE_SECURE"] = "false"
    with pytest.raises(ConfigurationError, match=r"SESSION_COOKIE_SECURE.*'false' would mean True"):
        Sessionware(wrong, secret_key="k" * 40)


def test_settings_changed_after_set_up_are_named_once(caplog: pytest.LogCaptureFixture) -> None:
    """An app factory or a test fixture that edits ``app.config`` after
    ``Sessionware(app)``: the change has no effect, and the first request says so,
    naming the keys (not their values: one may be a secret)."""
    app = make_app({"SESSION_COOKIE_NAME": "shop"})
    app.config["SESSION_COOKIE_NAME"] = "shop_sid"
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["SESSIONWARE_SECRET_KEY"] = "a-secret-value-not-to-log"
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        (cookie,) = set_cookies(client.get("/put"), "shop")  # (the name as set up)
        assert cookie["samesite"] == "Lax"
        client.get("/put")
    warned = [r.getMessage() for r in caplog.records if "after Sessionware(app)" in r.message]
    assert len(warned) == 1
    assert "app.config['SESSIONWARE_SECRET_KEY'], app.config['SESSION_COOKIE_NAME'], " in warned[0]
    assert "app.config['SESSION_COOKIE_SAMESITE']" in warned[0]
    assert "a-secret-value-not-to-log" not in caplog.text and "shop_sid" not in caplog.text
    caplog.clear()
    untouched = make_app({"SESSION_COOKIE_NAME": "shop", "SESSIONWARE_TRUSTED_PROXIES": []})
    untouched.permanent_session_lifetime = 31 * 86400  # (Flask's default, as seconds)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        untouched.test_client().get("/put")
    assert "after Sessionware(app)" not in caplog.text
    in_place = make_app({"SESSIONWARE_TRUSTED_PROXIES": []})
    in_place.config["SESSIONWARE_TRUSTED_PROXIES"].append("10.0.0.1")  # changed in place
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        in_place.test_client().get("/put")
    assert "app.config['SESSIONWARE_TRUSTED_PROXIES']" in caplog.text


def test_on_off_options_take_flasks_0_and_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """``app.config.from_prefixed_env()`` reads ``FLASK_SESSIONWARE_SECURE=0`` as the
    int 0, as it reads Flask's own ``SESSION_COOKIE_SECURE``: both mean off."""
    monkeypatch.setenv("FLASK_SESSIONWARE_SECURE", "0")
    monkeypatch.setenv("FLASK_SESSIONWARE_REFRESH_EACH_REQUEST", "1")
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY="flask-settings-secret-key-0123456789")
    app.config.from_prefixed_env()
    assert app.config["SESSIONWARE_SECURE"] == 0  # (an int, not a bool)
    Sessionware(app)

    @app.get("/put")
    def put() -> str:
        session["n"] = 1
        return "ok"

    (cookie,) = set_cookies(app.test_client().get("/put"))
    assert cookie["secure"] is False
    app.config["SESSIONWARE_SECURE"] = 2  # (any other number is no on/off answer)
    with pytest.raises(ConfigurationError, match="secure"):
        Sessionware(flask_app_with(app.config))


def flask_app_with(config: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(config)
    return app
