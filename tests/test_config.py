"""sessionware.config: the file (TOML, YAML), the environment, keyword overrides, refusals."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    ConfigurationError,
    MemoryStore,
    MissingExtra,
    SessionMiddleware,
    UnknownOption,
    WSGISessionMiddleware,
)
from sessionware.config import load
from sessionware.cookies import CookieSigner
from sessionware.flask import Sessionware

from .helpers import set_cookies

PLATFORMOS_TOML = """
[app]
title = "the app's own settings are left alone"

[sessions]
enabled = true
timeout_minutes = 30
secure_cookies = true
same_site = 'Lax'
"""

PLATFORMOS_YAML = """
sessions:
  enabled: true
  timeout_minutes: 30
  secure_cookies: true
  same_site: 'Lax'
"""


def write(tmp_path: Path, text: str, name: str = "sessionware.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- each source ---------------------------------------------------------------------


def test_a_toml_file_with_platformos_names_maps_to_sessionware_options(tmp_path: Path) -> None:
    options = load(write(tmp_path, PLATFORMOS_TOML), environ={})
    assert options == {
        "enabled": True,
        "idle_timeout": dt.timedelta(minutes=30),
        "secure": True,
        "same_site": "lax",
    }


def test_a_yaml_file_reads_the_same_as_toml(tmp_path: Path) -> None:
    toml = load(write(tmp_path, PLATFORMOS_TOML), environ={})
    assert load(write(tmp_path, PLATFORMOS_YAML, "sessionware.yaml"), environ={}) == toml
    assert load(write(tmp_path, PLATFORMOS_YAML, "sessionware.yml"), environ={}) == toml


def test_every_sessionware_option_can_be_set_by_its_own_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[sessions]
cookie_name = "__Host-sid"
idle_timeout = 600
absolute_timeout = "none"
max_age = 3600.5
secure = true
http_only = false
same_site = "strict"
path = "/"
max_payload_bytes = 1000
autoload = false
app_id = "shop"
user_key = "user.id"
email_key = "user.email"
""",
    )
    assert load(path, environ={}) == {
        "cookie_name": "__Host-sid",
        "idle_timeout": 600,
        "absolute_timeout": None,
        "max_age": 3600.5,
        "secure": True,
        "http_only": False,
        "same_site": "strict",
        "path": "/",
        "max_payload_bytes": 1000,
        "autoload": False,
        "app_id": "shop",
        "user_key": "user.id",
        "email_key": "user.email",
    }


def test_the_environment_alone_with_typed_values() -> None:
    environ = {
        "SESSIONWARE_SECRET_KEY": "s3cret",
        "SESSIONWARE_TIMEOUT_MINUTES": "45",
        "SESSIONWARE_SECURE_COOKIES": "no",
        "SESSIONWARE_SAME_SITE": "Strict",
        "SESSIONWARE_MAX_AGE": "none",
        "SESSIONWARE_MAX_PAYLOAD_BYTES": "2048",
        "SESSIONWARE_DOMAIN": "",
        "SESSIONWARE_TEST_REDIS_URL": "redis://elsewhere",  # another tool's: ignored
        "HOME": "/root",
    }
    assert load(environ=environ) == {
        "secret_key": "s3cret",
        "idle_timeout": dt.timedelta(minutes=45),
        "secure": False,
        "same_site": "strict",
        "max_age": None,
        "max_payload_bytes": 2048,
        "domain": None,
    }


def test_several_secret_keys_in_the_environment_newest_first() -> None:
    assert load(environ={"SESSIONWARE_SECRET_KEY": "new, old"})["secret_key"] == ["new", "old"]


def test_a_proxy_address_lost_in_the_environment_is_refused_not_dropped() -> None:
    proxies = {"SESSIONWARE_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16"}
    assert load(environ=proxies)["trusted_proxies"] == ["10.0.0.1", "10.1.0.0/16"]
    assert load(environ={"SESSIONWARE_TRUSTED_PROXIES": " "})["trusted_proxies"] == []
    for lost in ("10.0.0.1,,10.0.0.2", "10.0.0.1,"):  # as an empty secret key is refused
        with pytest.raises(ConfigurationError, match="SESSIONWARE_TRUSTED_PROXIES"):
            load(environ={"SESSIONWARE_TRUSTED_PROXIES": lost})


def test_sessionware_config_in_the_environment_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, PLATFORMOS_TOML)
    assert load(environ={"SESSIONWARE_CONFIG": str(path)})["same_site"] == "lax"
    assert load(environ={}) == {}


# -- precedence ----------------------------------------------------------------------


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, PLATFORMOS_TOML + 'cookie_name = "from_file"\n')
    options = load(
        path,
        environ={"SESSIONWARE_TIMEOUT_MINUTES": "5", "SESSIONWARE_COOKIE_NAME": "from_env"},
    )
    assert options["idle_timeout"] == dt.timedelta(minutes=5)
    assert options["cookie_name"] == "from_env"
    assert options["same_site"] == "lax"  # not overridden: the file's


def test_an_environment_name_overrides_the_files_other_name_for_the_same_option(
    tmp_path: Path,
) -> None:
    options = load(write(tmp_path, PLATFORMOS_TOML), environ={"SESSIONWARE_IDLE_TIMEOUT": "90"})
    assert options["idle_timeout"] == 90.0


def asgi_app() -> Starlette:
    async def write(request: Request) -> PlainTextResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    return Starlette(routes=[Route("/", write)])


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    session = environ["sessionware.session"]
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("content-type", "text/plain")])
    return [str(session["n"]).encode()]


def flask_app(**config: Any) -> flask.Flask:
    app = flask.Flask("config")
    app.config.update(config)

    @app.get("/")
    def write() -> str:
        flask.session["n"] = flask.session.get("n", 0) + 1
        return str(flask.session["n"])

    Sessionware(app)
    return app


CONFIGURED = PLATFORMOS_TOML.replace("'Lax'", "'Strict'") + 'cookie_name = "from_file"\n'


def check_cookie(response: Any, name: str, same_site: str) -> None:
    assert response.status_code == 200, response.text
    (cookie,) = set_cookies(response, name)
    assert cookie["samesite"] == same_site and cookie["secure"]


def test_every_shell_takes_a_file_and_keyword_arguments_override_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, CONFIGURED)
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "from-env")
    monkeypatch.setenv("SESSIONWARE_SAME_SITE", "lax")

    asgi = SessionMiddleware.from_config(asgi_app(), path)
    assert asgi.config.idle_seconds == 30 * 60
    with TestClient(asgi, base_url="https://testserver") as c:
        check_cookie(c.get("/"), "from_file", "Lax")  # the file's name, the environment's Lax
    asgi = SessionMiddleware.from_config(asgi_app(), path, cookie_name="kw", same_site="strict")
    with TestClient(asgi, base_url="https://testserver") as c:
        check_cookie(c.get("/"), "kw", "Strict")

    wsgi = WSGISessionMiddleware.from_config(wsgi_app, str(path), cookie_name="kw")
    assert wsgi.config.idle_seconds == 30 * 60
    with httpx.Client(transport=httpx.WSGITransport(app=wsgi), base_url="https://t") as c:
        check_cookie(c.get("/"), "kw", "Lax")

    app = flask_app(SESSIONWARE_CONFIG=str(path), SESSIONWARE_SAME_SITE="strict")
    assert app.extensions["sessionware"].config.idle_seconds == 30 * 60
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        check_cookie(c.get("/"), "from_file", "Strict")  # app.config above the environment
        assert c.get("/").text == "2"


def test_flask_reads_a_relative_config_path_from_the_apps_root_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Flask's own ``config.from_file`` does, not from wherever the server started;
    a path that is not there is told in full."""
    folder = tmp_path / "project"
    folder.mkdir()
    write(folder, "[sessions]\ntimeout_minutes = 7\n")
    monkeypatch.chdir(tmp_path)  # (started elsewhere: gunicorn's directory, say)
    app = flask.Flask("config", root_path=str(folder))
    app.secret_key = "flask-key-" * 4
    app.config["SESSIONWARE_CONFIG"] = "sessionware.toml"
    Sessionware(app)
    assert app.extensions["sessionware"].config.idle_seconds == 7 * 60
    instance = tmp_path / "instance"  # with instance_relative_config: the instance folder's
    instance.mkdir()
    write(instance, "[sessions]\ntimeout_minutes = 9\n")
    kept = flask.Flask(
        "config", root_path=str(folder), instance_path=str(instance), instance_relative_config=True
    )
    kept.secret_key = "flask-key-" * 4
    kept.config["SESSIONWARE_CONFIG"] = "sessionware.toml"
    Sessionware(kept)
    assert kept.extensions["sessionware"].config.idle_seconds == 9 * 60
    other = flask.Flask("config", root_path=str(tmp_path))
    other.secret_key = "flask-key-" * 4
    other.config["SESSIONWARE_CONFIG"] = "sessionware.toml"
    with pytest.raises(ConfigurationError) as missing:
        Sessionware(other)
    assert f"config file {tmp_path / 'sessionware.toml'}: No such file" in str(missing.value)


def test_flask_reads_the_environment_without_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No SESSIONWARE_CONFIG in app.config: the variables still count, above Flask's own
    session settings (with a warning where they differ) and below SESSIONWARE_* keys."""
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "k" * 32)  # no app.secret_key needed
    monkeypatch.setenv("SESSIONWARE_COOKIE_NAME", "env_name")
    monkeypatch.setenv("SESSIONWARE_TIMEOUT_MINUTES", "1")
    app = flask_app(SESSION_COOKIE_NAME="flask_name")
    assert app.extensions["sessionware"].config.idle_seconds == 60
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        check_cookie(c.get("/"), "env_name", "Lax")
        assert c.get("/").text == "2"
    assert (
        "SESSION_COOKIE_NAME (Flask) vs SESSIONWARE_COOKIE_NAME (environment) = 'env_name'"
        in caplog.text
    )
    app = flask_app(SESSIONWARE_COOKIE_NAME="config_name")
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        check_cookie(c.get("/"), "config_name", "Lax")
    # the file the environment names counts too: here it turns sessions off
    monkeypatch.setenv("SESSIONWARE_CONFIG", str(write(tmp_path, "[sessions]\nenabled = false\n")))
    app = flask_app()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        assert c.get("/").status_code == 500  # a write with sessions off: SessionsDisabled


def test_flask_keeps_its_own_key_for_cookies_it_signed_before_the_environment_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SESSIONWARE_SECRET_KEY", raising=False)
    store = MemoryStore()

    def app_with_store() -> flask.Flask:
        app = flask.Flask("config")
        app.secret_key = "flask-key-" * 4

        @app.get("/")
        def write() -> str:
            flask.session["n"] = flask.session.get("n", 0) + 1
            return str(flask.session["n"])

        Sessionware(app, store=store)
        return app

    with httpx.Client(
        transport=httpx.WSGITransport(app=app_with_store()), base_url="https://t"
    ) as c:
        assert c.get("/").text == "1"
        before = c.cookies["session"]
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "env-key-" * 5)
    app = app_with_store()
    assert "only verify existing cookies" in caplog.text
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        c.cookies.set("session", before)
        assert c.get("/").text == "2"  # the cookie Flask's key signed still works
        c.cookies.clear()
        c.get("/")
        fresh = c.cookies["session"]
    assert CookieSigner("env-key-" * 5).verify(fresh) is not None  # new ones: the env key
    assert CookieSigner("flask-key-" * 4).verify(fresh) is None


def test_the_secret_key_from_the_environment_signs_the_cookie(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, PLATFORMOS_TOML)
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "one")
    first = SessionMiddleware.from_config(asgi_app(), path)
    with TestClient(first, base_url="https://testserver") as c:
        c.get("/")
        cookie = c.cookies["session"]
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "two,one")  # rotated: the old cookie still works
    second = SessionMiddleware.from_config(asgi_app(), path, store=first.store)
    with TestClient(second, base_url="https://testserver", cookies={"session": cookie}) as c:
        assert c.get("/").text == "2"
    monkeypatch.setenv("SESSIONWARE_SECRET_KEY", "three")  # the old key gone: a fresh session
    third = SessionMiddleware.from_config(asgi_app(), path, store=first.store)
    with TestClient(third, base_url="https://testserver", cookies={"session": cookie}) as c:
        assert c.get("/").text == "1"


def test_no_secret_key_anywhere_is_refused_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSIONWARE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SESSIONWARE_SECRET_KEY"):
        SessionMiddleware.from_config(asgi_app(), write(tmp_path, PLATFORMOS_TOML))
    with pytest.raises(ConfigurationError, match="SESSIONWARE_SECRET_KEY"):
        WSGISessionMiddleware.from_config(wsgi_app, write(tmp_path, PLATFORMOS_TOML))


# -- refusals ------------------------------------------------------------------------


def refused(tmp_path: Path, text: str, name: str = "sessionware.toml", **environ: str) -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ConfigurationError) as caught:
        load(path, environ=environ)
    return str(caught.value)


def test_a_secret_key_in_the_file_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, '[sessions]\nsecret_key = "oops"\n')
    assert str(tmp_path / "sessionware.toml") in message
    assert "sessions.secret_key" in message and "SESSIONWARE_SECRET_KEY" in message
    assert "oops" not in message  # never echo a secret


def test_an_unknown_key_is_refused_with_the_file_and_the_allowed_keys(tmp_path: Path) -> None:
    message = refused(tmp_path, "sessions:\n  timeout_minute: 30\n", "app.yaml")
    where = f"{tmp_path / 'app.yaml'}: sessions.timeout_minute"
    assert f"{where} is not a sessionware option (did you mean timeout_minutes?); " in message
    assert "same_site" in message
    far = refused(tmp_path, "sessions:\n  colour: 30\n", "app.yaml")
    assert "is not a sessionware option; " in far  # nothing near it: no guess


@pytest.mark.parametrize("key", ["lifetime", "https_only", "session_cookie"])
def test_another_librarys_name_in_the_file_is_refused_with_the_name_to_use(
    tmp_path: Path, key: str
) -> None:
    """As a keyword option is (the README: "refused with the name to use")."""
    with pytest.raises(UnknownOption) as keyword:
        SessionMiddleware(asgi_app(), secret_key="k" * 32, **{key: 5})  # type: ignore[arg-type]
    hint = re.search(rf"{key} (\(use .+\))\. The options", str(keyword.value))
    assert hint is not None
    for text, name in (
        (f"[sessions]\n{key} = 5\n", "a.toml"),
        (f"sessions:\n  {key}: 5\n", "a.yaml"),
    ):
        message = refused(tmp_path, text, name)
        assert f"sessions.{key} is not a sessionware option {hint.group(1)}; " in message
        assert "the 'sessions' block takes: absolute_timeout" in message


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        (
            'timeout_minutes = "thirty"',
            "must be a positive number of minutes, or \"none\" for no limit, not 'thirty' (str)",
        ),
        ("timeout_minutes = -5", 'must be a positive number of minutes, or "none" for no limit'),
        ('secure_cookies = "yes"', "must be true or false, not 'yes' (str)"),
        ('same_site = "Sometimes"', "must be 'Lax', 'Strict' or 'None', not 'Sometimes' (str)"),
        ("max_payload_bytes = 1.5", "must be a positive whole number, not 1.5 (float)"),
        ("cookie_name = 7", "must be a non-empty string, not 7 (int)"),
        ("idle_timeout = true", 'must be a positive number of seconds, or "none" for no limit'),
    ],
)
def test_a_wrong_type_is_refused_naming_the_key_and_what_is_allowed(
    tmp_path: Path, line: str, allowed: str
) -> None:
    message = refused(tmp_path, f"[sessions]\n{line}\n")
    key = line.split(" =")[0]
    assert message.startswith(f"{tmp_path / 'sessionware.toml'}: sessions.{key} {allowed}")


def test_a_likely_typo_of_a_variable_is_named_once_and_other_tools_are_left_alone(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sessionware.config

    monkeypatch.setattr(sessionware.config, "_warned_names", set())  # this test's own "once"
    environ = {
        "SESSIONWARE_COOKIE_NAM": "shop",  # a letter short
        "SESSIONWARE_SAMESITE": "Strict",  # a letter short: SAME_SITE
        "SESSIONWARE_PREFIX": "app:",  # the command's: read, so no warning
        "SESSIONWARE_BENCH_REDIS_URL": "redis://",  # other tools' (and this project's tests')
        "SESSIONWARE_TEST_PREFIX": "t:",
        "SESSIONWARE_SECRET_KEY_OLD": "k",
        "SESSIONWARE_CONFIG_PATH": "/etc/app",
        "SESSIONWARE_METRICS": "true",  # an option given in code only: said, not ignored
        "SESSIONWARE_ENCRYPTION": "a-passphrase",  # so is the Keyring: never silently plain
    }
    with caplog.at_level("WARNING", logger="sessionware"):
        assert load(environ=environ) == {}
        assert load(environ=environ) == {}
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "sessionware: environment variable SESSIONWARE_COOKIE_NAM is not one sessionware "
        "reads, and is ignored; did you mean SESSIONWARE_COOKIE_NAME?",
        "sessionware: environment variable SESSIONWARE_SAMESITE is not one sessionware "
        "reads, and is ignored; did you mean SESSIONWARE_SAME_SITE?",
        "sessionware: environment variable SESSIONWARE_METRICS is not one sessionware "
        "reads, and is ignored (use metrics=True in code, where the middleware or "
        "Sessionware(app) is made)",
        "sessionware: environment variable SESSIONWARE_ENCRYPTION is not one sessionware "
        "reads, and is ignored (use encryption=Keyring([...]) in code, its keys read from the "
        "app's secrets (Flask: app.config['SESSIONWARE_ENCRYPTION'] = Keyring([...])))",
    ]


@pytest.mark.parametrize("key", ["encryption", "hooks", "metrics", "registry"])
def test_an_option_given_in_code_only_is_refused_in_a_file_saying_where_it_goes(
    tmp_path: Path, key: str
) -> None:
    message = refused(tmp_path, f"[sessions]\n{key} = 'x'\n", "a.toml")
    assert f"sessions.{key} cannot be set in a config file (use {key}=" in message
    assert "is not a sessionware option" not in message


def test_a_store_in_a_file_is_refused_naming_the_variable_and_code_that_set_one(
    tmp_path: Path,
) -> None:
    message = refused(tmp_path, "[sessions]\nstore = 'redis://127.0.0.1:6379'\n", "a.toml")
    assert "sessions.store cannot be set in a config file (set the environment variable " in message
    assert "SESSIONWARE_STORE to a store URL, or pass store= in code)" in message
    assert "is not a sessionware option" not in message


def test_production_outside_the_sessions_block_is_named_not_silently_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "site.toml"
    outside.write_text('environment = "production"\n[sessions]\nenabled = true\n')
    inside = tmp_path / "inside.toml"
    inside.write_text('environment = "production"\n[sessions]\nenvironment = "production"\n')
    in_force = {"SESSIONWARE_ENVIRONMENT": "production"}
    chosen = tmp_path / "chosen.toml"  # a deliberate choice for sessions: nothing to say
    chosen.write_text('environment = "production"\n[sessions]\nenvironment = "staging"\n')
    with caplog.at_level("WARNING", logger="sessionware"):
        assert load(outside, environ={}) == {"enabled": True}  # still the app's own key
        assert load(inside, environ={}) == {"require_https": True}
        assert load(outside, environ=in_force) == {"enabled": True, "require_https": True}
        assert load(chosen, environ={}) == {}
        assert load(outside, environ={"SESSIONWARE_ENVIRONMENT": "development"}) == {
            "enabled": True
        }
    (warning,) = [r.getMessage() for r in caplog.records]  # only the first: nothing set it
    assert "site.toml: environment = 'production' at the top level is the app's own" in warning
    assert "in the 'sessions' block" in warning


def test_a_wrong_value_in_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load(environ={"SESSIONWARE_SECURE_COOKIES": "maybe"})
    assert str(caught.value) == (
        "environment variable SESSIONWARE_SECURE_COOKIES must be true or false "
        "(or 1/0, yes/no, on/off), not 'maybe' (str)"
    )
    with pytest.raises(ConfigurationError, match="SESSIONWARE_SECRET_KEY is empty"):
        load(environ={"SESSIONWARE_SECRET_KEY": " , "})
    for lost in ("new,,old", "new,", ",new"):  # a key lost in the paste is not dropped quietly
        with pytest.raises(ConfigurationError, match="SESSIONWARE_SECRET_KEY has an empty key"):
            load(environ={"SESSIONWARE_SECRET_KEY": lost})
    assert load(environ={"SESSIONWARE_SECRET_KEY": "new, old"})["secret_key"] == ["new", "old"]


@pytest.mark.parametrize(
    "value",
    ["\u00b2", "9" * 5000, "\u0661\u0662\u0663", "1_000", "\uff11\uff12"],
    ids=["superscript", "5000-digits", "arabic-indic", "underscore", "fullwidth"],
)
def test_a_count_in_the_environment_is_ascii_digits_only(value: str) -> None:
    """str.isdigit() let "²" through to a bare ValueError from int(), and 5000 digits
    past int()'s limit; "١٢٣" was read as 123."""
    with pytest.raises(ConfigurationError) as caught:
        load(environ={"SESSIONWARE_MAX_PAYLOAD_BYTES": value})
    message = str(caught.value)
    assert message.startswith(
        "environment variable SESSIONWARE_MAX_PAYLOAD_BYTES must be a positive whole number, "
        "in ASCII digits (at most 18), not "
    )
    assert len(message) < 300
    assert load(environ={"SESSIONWARE_MAX_PAYLOAD_BYTES": " 4096 "}) == {"max_payload_bytes": 4096}


def test_a_duration_in_the_environment_is_ascii_only() -> None:
    with pytest.raises(ConfigurationError, match="SESSIONWARE_TIMEOUT_MINUTES"):
        load(environ={"SESSIONWARE_TIMEOUT_MINUTES": "\u0663\u0660"})  # "٣٠": thirty
    assert load(environ={"SESSIONWARE_TIMEOUT_MINUTES": "30"})["idle_timeout"].seconds == 1800


def test_a_cookie_name_from_the_environment_must_be_a_token() -> None:
    with pytest.raises(ConfigurationError, match=r"RFC 6265 token.*SESSIONWARE_COOKIE_NAME"):
        load(environ={"SESSIONWARE_COOKIE_NAME": "\u4f1a\u8bdd"})


def test_impossible_combinations_are_refused_naming_where_each_came_from(tmp_path: Path) -> None:
    message = refused(
        tmp_path,
        "[sessions]\nsame_site = 'None'\n",
        SESSIONWARE_SECURE_COOKIES="false",
    )
    assert "same_site='none' needs secure=True" in message
    assert f"{tmp_path / 'sessionware.toml'}: sessions.same_site" in message
    assert "environment variable SESSIONWARE_SECURE_COOKIES" in message

    message = refused(tmp_path, "[sessions]\ntimeout_minutes = 1e12\n")
    assert "up to 100 years" in message and "sessions.timeout_minutes" in message

    message = refused(tmp_path, '[sessions]\ncookie_name = "__Host-x"\npath = "/shop"\n')
    assert "__Host-" in message and "sessions.cookie_name" in message


def test_two_names_for_one_option_in_one_source_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "[sessions]\ntimeout_minutes = 30\nidle_timeout = 60\n")
    assert "sessions.idle_timeout and" in message and "sessions.timeout_minutes" in message
    assert "both set idle_timeout; keep one of them" in message


def test_unreadable_or_malformed_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read the sessionware config file"):
        load(tmp_path / "missing.toml", environ={})
    assert "is not valid TOML" in refused(tmp_path, "[sessions\n")
    assert "is not valid YAML" in refused(tmp_path, "sessions: [\n", "s.yaml")
    assert "no 'sessions' block; write the options under [sessions]" in refused(
        tmp_path, "[session]\nsecure = true\n"
    )
    assert "'sessions' must be a table" in refused(tmp_path, "sessions: 3\n", "s.yml")
    assert "reads .toml, .yaml and .yml" in refused(tmp_path, "{}", "s.json")


def test_yaml_without_pyyaml_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'sessionware\[yaml\]'"):
        load(write(tmp_path, PLATFORMOS_YAML, "s.yaml"), environ={})


def test_timeout_minutes_none_means_no_idle_limit(tmp_path: Path) -> None:
    assert load(environ={"SESSIONWARE_TIMEOUT_MINUTES": "none"}) == {"idle_timeout": None}
    path = write(tmp_path, "sessions:\n  timeout_minutes: null\n", "app.yaml")
    assert load(path, environ={}) == {"idle_timeout": None}


def test_the_readme_spelling_sessionware_config_load_works_after_a_plain_import() -> None:
    import subprocess
    import sys

    code = "import sessionware; print(sessionware.config.load.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "load"), done.stderr


def test_mistakes_of_case_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sessionware.config

    monkeypatch.setattr(sessionware.config, "_warned_names", set())
    said = refused(tmp_path, "Sessions:\n  timeout_minutes: 5\n", "app.yaml")
    assert "no 'sessions' block (found 'Sessions': the name is lower case)" in said
    with caplog.at_level("WARNING", logger="sessionware"):
        assert load(environ={"sessionware_timeout_minutes": "5"}) == {}
    (warned,) = [r.getMessage() for r in caplog.records]
    assert "sessionware_timeout_minutes is not read (names are case-sensitive)" in warned
    assert "did you mean SESSIONWARE_TIMEOUT_MINUTES?" in warned


def test_production_with_insecure_cookies_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path, "sessions:\n  environment: production\n  secure_cookies: false\n", "a.yaml"
    )
    with caplog.at_level("WARNING", logger="sessionware"):
        assert load(path, environ={}) == {"secure": False, "require_https": True}
    (warned,) = [r.getMessage() for r in caplog.records]
    assert "environment = 'production'" in warned and "without Secure" in warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="sessionware"):
        load(write(tmp_path, "sessions:\n  secure_cookies: false\n", "b.yaml"), environ={})
    assert not caplog.records  # development: nothing to say


def test_a_toml_file_with_a_byte_order_mark_reads_as_any_other(tmp_path: Path) -> None:
    """Windows editors may save UTF-8 with a BOM: "Invalid statement (at line 1, column 1)"."""
    path = tmp_path / "sessionware.toml"
    path.write_bytes(b"\xef\xbb\xbf[sessions]\ntimeout_minutes = 30\n")
    assert load(path, environ={})["idle_timeout"].total_seconds() == 1800


@pytest.mark.parametrize("name", ["a.toml", "a.yaml"])
def test_a_number_of_more_digits_than_python_reads_is_a_configuration_error(
    tmp_path: Path, name: str
) -> None:
    """A raw ValueError (no file, no key) escaped; now a ConfigurationError, shortened."""
    text = "max_payload_bytes = " if name.endswith("toml") else "  max_payload_bytes: "
    head = "[sessions]\n" if name.endswith("toml") else "sessions:\n"
    message = refused(tmp_path, head + text + "9" * 5000 + "\n", name)
    assert name in message and len(message) < 400


def test_a_key_given_twice_in_yaml_is_refused_as_toml_refuses_it(tmp_path: Path) -> None:
    """YAML kept the last of two timeout_minutes without a word; a merge's keys may still
    be overridden."""
    message = refused(
        tmp_path, "sessions:\n  timeout_minutes: 30\n  timeout_minutes: 5\n", "a.yaml"
    )
    assert "found the key 'timeout_minutes' twice" in message
    merged = "base: &b\n  timeout_minutes: 30\nsessions:\n  <<: *b\n  timeout_minutes: 5\n"
    assert (
        load(write(tmp_path, merged, "b.yaml"), environ={})["idle_timeout"].total_seconds() == 300
    )


def test_from_config_installed_with_add_middleware_answers_its_own_401(tmp_path: Path) -> None:
    """Wrapping a Starlette app put Starlette's error handler inside sessionware, so a
    write without a token under bearer = true was a 500; the README's add_middleware
    form lets sessionware answer it."""

    async def write_it(request: Request) -> PlainTextResponse:
        request.session["x"] = 5
        return PlainTextResponse("ok")

    path = write(tmp_path, "[sessions]\nbearer = true\n")
    app = Starlette(routes=[Route("/w", write_it)])
    app.add_middleware(
        SessionMiddleware.from_config, path, store=MemoryStore(), secret_key="k" * 40
    )
    client = TestClient(app, base_url="https://t", raise_server_exceptions=False)
    assert client.get("/w").status_code == 401


@pytest.mark.parametrize(
    "option", [{"idle_timeout": 0.5}, {"max_age": 0.5}, {"absolute_timeout": 0.001}]
)
def test_a_timeout_under_a_second_is_refused_at_start(option: dict[str, float]) -> None:
    """It was accepted, and every request then began a new session, without a word."""
    with pytest.raises(ConfigurationError, match="at least 1 second"):
        SessionMiddleware(Starlette(), secret_key="k" * 40, store=MemoryStore(), **option)


def test_timeout_minutes_under_a_second_in_a_file_is_refused_saying_minutes(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "[sessions]\ntimeout_minutes = 0.0001\n")
    with pytest.raises(ConfigurationError, match="timeout_minutes in a config file is in minutes"):
        SessionMiddleware.from_config(Starlette(), path, store=MemoryStore(), secret_key="k" * 40)
