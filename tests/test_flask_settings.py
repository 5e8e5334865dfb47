"""Flask users keep their configuration (issue 10): Flask's own session settings apply
unless a sessionware option says otherwise, over real requests through Flask."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import flask
import pytest

from sessionware.flask import Sessionware, session

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


def test_an_explicit_sessionware_option_wins_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        app = make_app({"SESSION_COOKIE_NAME": "flask_sid"}, cookie_name="sw_sid")
    response = app.test_client().get("/put")
    assert set_cookies(response, "sw_sid") and not set_cookies(response, "flask_sid")
    warned = [r.getMessage() for r in caplog.records if "overridden" in r.message]
    assert len(warned) == 1 and "SESSION_COOKIE_NAME" in warned[0]


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
