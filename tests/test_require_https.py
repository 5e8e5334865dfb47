"""``require_https``: a session write over plain http gets a 403 and saves nothing,
unless it is local or a trusted proxy says the client used https."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
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

from sessionware import ConfigurationError, MemoryStore, SessionMiddleware, WSGISessionMiddleware
from sessionware.config import load
from sessionware.flask import Sessionware
from sessionware.transport import is_secure, parse_proxies

from .helpers import CountingStore, set_cookies
from .scenarios.apps import FRAMEWORKS

PROXIES = parse_proxies(["10.0.0.7", "10.1.0.0/16"])


# -- the rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "peer", "host", "proto", "forwarded_for", "secure"),
    [
        ("https", "203.0.113.9", "shop.example", None, None, True),
        ("http", "203.0.113.9", "shop.example", None, None, False),
        # without a trusted proxy, forwarded headers are the client's word: ignored
        ("http", "203.0.113.9", "shop.example", "https", None, False),
        # local: a loopback client asking for a localhost page
        ("http", "127.0.0.1", "localhost:8000", None, None, True),
        ("http", "::1", "[::1]:8000", None, None, True),
        ("http", "127.0.0.1", "app.localhost", None, None, True),
        ("http", "127.0.0.1", "shop.example", None, None, False),  # an unlisted local proxy
        ("http", "203.0.113.9", "localhost", None, None, False),
        ("http", None, "localhost", None, None, False),
        # behind a trusted proxy: its X-Forwarded-Proto (the last value) decides
        ("http", "10.0.0.7", "shop.example", "https", "203.0.113.9", True),
        ("http", "10.1.2.3", "shop.example", "https", "203.0.113.9", True),
        ("http", "10.0.0.7", "shop.example", "http", "203.0.113.9", False),
        ("http", "10.0.0.7", "shop.example", "http, https", "203.0.113.9", True),
        ("http", "10.0.0.7", "shop.example", "https, http", "203.0.113.9", False),
        ("http", "10.0.0.7", "shop.example", None, "203.0.113.9", False),
        # a client cannot pass for local by forging X-Forwarded-For in front of the proxy's
        ("http", "10.0.0.7", "localhost", None, "127.0.0.1, 203.0.113.9", False),
        ("http", "10.0.0.7", "localhost", None, "127.0.0.1, 10.1.0.5", True),
    ],
)
def test_which_requests_may_write_a_session(
    scheme: str,
    peer: str | None,
    host: str,
    proto: str | None,
    forwarded_for: str | None,
    secure: bool,
) -> None:
    assert is_secure(scheme, peer, host, proto, forwarded_for, PROXIES) is secure


def test_trusted_proxies_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="'nginx' is not an IP address or network"):
        parse_proxies(["nginx"])
    with pytest.raises(ConfigurationError, match="must be a list"):
        parse_proxies("10.0.0.7")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="require_https must be True or False"):
        SessionMiddleware(lambda *a: None, secret_key="k", require_https="yes")  # type: ignore[arg-type]


# -- every shell, without a proxy ----------------------------------------------------


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_write_over_plain_http_gets_a_403_and_saves_nothing(
    framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = CountingStore(MemoryStore())
    with FRAMEWORKS[framework](store, require_https=True) as client:
        with caplog.at_level(logging.WARNING, "sessionware"):
            refused = client.get("http://shop.example/put?key=k&value=v")
        assert refused.status_code == 403
        assert refused.text.startswith("Forbidden: this site keeps sessions over https only")
        assert set_cookies(refused) == []
        assert "plain http" in caplog.text and "answering 403" in caplog.text
        assert store.names() == []
        read = client.get("http://shop.example/get?key=k")  # reading writes nothing: allowed
        assert read.status_code == 200 and read.json()["value"] is None
        written = client.get("https://shop.example/put?key=k&value=v")
        assert written.status_code == 200 and set_cookies(written)[0]["secure"]
        assert store.names() == ["create"]


def test_without_require_https_plain_http_writes_as_before(framework: str) -> None:
    with FRAMEWORKS[framework](MemoryStore()) as client:
        response = client.get("http://shop.example/put?key=k&value=v")
        assert response.status_code == 200 and len(set_cookies(response)) == 1


# -- every shell, behind a trusted proxy and as a local request --------------------------


@contextlib.contextmanager
def shell(kind: str, peer: str, **options: Any) -> Iterator[httpx.Client]:
    """A client for a one-route app that writes the session, seen as coming from ``peer``."""
    options = {"secret_key": "k", "require_https": True, **options}
    if kind == "asgi":

        async def write(request: Request) -> PlainTextResponse:
            request.session["n"] = 1
            return PlainTextResponse("saved")

        app = SessionMiddleware(Starlette(routes=[Route("/", write)]), **options)
        with TestClient(app, client=(peer, 40000)) as client:
            yield client
        return
    if kind == "wsgi":

        def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            environ["sessionware.session"]["n"] = 1
            start_response("200 OK", [("content-type", "text/plain")])
            return [b"saved"]

        target: Any = WSGISessionMiddleware(wsgi, **options)
    else:
        target = flask.Flask("https")
        target.add_url_rule("/", "write", lambda: flask.session.update(n=1) or "saved")
        Sessionware(target, **options)
    transport = httpx.WSGITransport(app=target, remote_addr=peer)
    with httpx.Client(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("kind", ["asgi", "wsgi", "flask"])
def test_behind_a_trusted_proxy_its_forwarded_scheme_is_believed(kind: str) -> None:
    https = {"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9"}
    plain = {"x-forwarded-proto": "http", "x-forwarded-for": "203.0.113.9"}
    with shell(kind, "10.0.0.7", trusted_proxies=["10.0.0.0/24"]) as client:
        saved = client.get("http://shop.example/", headers=https)
        assert saved.status_code == 200 and saved.text == "saved" and set_cookies(saved)
        assert client.get("http://shop.example/", headers=plain).status_code == 403
    with shell(kind, "10.0.0.7") as client:  # the same proxy, not listed: its word is ignored
        refused = client.get("http://shop.example/", headers=https)
        assert refused.status_code == 403 and set_cookies(refused) == []


@pytest.mark.parametrize("kind", ["asgi", "wsgi", "flask"])
def test_a_local_request_may_write_over_plain_http(kind: str) -> None:
    with shell(kind, "127.0.0.1") as client:
        assert client.get("http://localhost:8000/").status_code == 200
        assert client.get("http://shop.example/").status_code == 403


# -- the production setting ----------------------------------------------------------


def test_a_production_environment_turns_require_https_on(tmp_path: Path) -> None:
    path = tmp_path / "sessionware.toml"
    path.write_text('[sessions]\nenvironment = "production"\ntrusted_proxies = ["10.0.0.7"]\n')
    assert load(path, environ={}) == {"require_https": True, "trusted_proxies": ["10.0.0.7"]}
    assert load(path, environ={"SESSIONWARE_REQUIRE_HTTPS": "false"})["require_https"] is False
    assert "require_https" not in load(path, environ={"SESSIONWARE_ENVIRONMENT": "staging"})
    middleware = SessionMiddleware.from_config(lambda *a: None, path, secret_key="k")
    assert middleware.config.require_https and len(middleware.config.trusted_proxies) == 1
    off = SessionMiddleware.from_config(lambda *a: None, path, secret_key="k", require_https=False)
    assert off.config.require_https is False
    env = {"SESSIONWARE_TRUSTED_PROXIES": "10.0.0.7, 10.1.0.0/16"}
    assert load(environ=env)["trusted_proxies"] == ["10.0.0.7", "10.1.0.0/16"]


def test_production_settings_are_validated_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "sessionware.toml"
    path.write_text('[sessions]\nenvironment = "prod"\n')
    with pytest.raises(ConfigurationError, match="environment must be 'production' or 'staging'"):
        load(path, environ={})
    path.write_text('[sessions]\ntrusted_proxies = ["nginx"]\n')
    with pytest.raises(ConfigurationError) as caught:
        load(path, environ={})
    assert "'nginx' is not an IP address" in str(caught.value)
    assert f"set by {path}: sessions.trusted_proxies" in str(caught.value)
