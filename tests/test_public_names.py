"""What a user imports and names: every error type from the package, every option
an UnknownOption message lists."""

from __future__ import annotations

from typing import Any

import flask
import pytest

import sessionware
import sessionware.errors as errors
from sessionware import SessionMiddleware, UnknownOption, WSGISessionMiddleware
from sessionware.flask import Sessionware

SECRET = "public-names-test-secret-0123456789abcdef"


def test_every_error_type_is_importable_from_the_package() -> None:
    public = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.SessionwareError)
    ]
    assert "InsecureTransport" in public
    assert [
        name for name in public if getattr(sessionware, name, None) is not getattr(errors, name)
    ] == []
    assert set(public) <= set(sessionware.__all__)


def _flask(**options: Any) -> None:
    app = flask.Flask("names")
    app.secret_key = SECRET
    Sessionware(app, **options)


def _wsgi(**options: Any) -> None:
    WSGISessionMiddleware(lambda environ, start: [], secret_key=SECRET, **options)


def _asgi(**options: Any) -> None:
    SessionMiddleware(lambda scope, receive, send: None, secret_key=SECRET, **options)


@pytest.mark.parametrize("shell", [_flask, _wsgi, _asgi], ids=["flask", "wsgi", "asgi"])
def test_an_unknown_option_lists_every_option_the_shell_takes(shell: Any) -> None:
    with pytest.raises(UnknownOption) as raised:
        shell(https_only=True)
    listed = str(raised.value).split("The options are: ", 1)[1].split(", ")
    for name in ("store", "secret_key", "hooks", "metrics", "registry", "cookie_name", "secure"):
        assert name in listed, (name, listed)
    assert "options" not in listed and "app" not in listed


@pytest.mark.parametrize("name", ["metrics", "hooks", "registry"])
def test_a_code_only_option_in_flask_config_says_to_pass_it_in_code(name: str) -> None:
    app = flask.Flask("code-only")
    app.secret_key = SECRET
    app.config[f"SESSIONWARE_{name.upper()}"] = True
    with pytest.raises(errors.ConfigurationError, match=rf"\(use {name}=.* in code"):
        Sessionware(app)
