"""``enabled: false`` on every shell: the app runs, writes are refused, no cookie, no store I/O."""

from __future__ import annotations

from pathlib import Path

import flask
import httpx
import pytest

from sessionware import MemoryStore, SessionMiddleware, SessionsDisabled, WSGISessionMiddleware
from sessionware.disabled import DisabledSession, disabled
from sessionware.flask import FlaskSession, Sessionware

from .helpers import CountingStore, only_cookie, set_cookies
from .scenarios.apps import FRAMEWORKS


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def a_live_cookie(framework: str, store: MemoryStore) -> str:
    """The cookie of a stored session holding k=v, made with sessions on."""
    with FRAMEWORKS[framework](store) as client:
        assert client.get("/put?key=k&value=v").status_code == 200
        return str(client.cookies["session"])


def test_disabled_sessions_read_no_cookie_set_none_and_never_touch_the_store(
    framework: str,
) -> None:
    store = MemoryStore()
    cookie = a_live_cookie(framework, store)
    counting = CountingStore(store)
    with FRAMEWORKS[framework](counting, enabled=False) as client:
        only_cookie(client, cookie)
        response = client.get("/get?key=k")
        assert response.json() == {"value": None, "id": None}  # the live session is not read
        assert client.get("/keys").json() == {"keys": [], "id": None}
        assert client.get("/flashes").json() == {"flashes": []}
        assert client.get("/logout").status_code == 200  # clear() has nothing to end
        refused = client.get("/put?key=k&value=w")
        assert refused.status_code == 500  # the handler's write raised SessionsDisabled
        for answer in (response, refused, client.get("/flash?msg=hi")):
            assert set_cookies(answer) == [] and "vary" not in answer.headers
    assert counting.calls == []
    with FRAMEWORKS[framework](store) as client:  # on again: the session is as it was
        only_cookie(client, cookie)
        assert client.get("/get?key=k").json()["value"] == "v"


def test_a_write_is_refused_with_a_clear_error_and_the_session_stays_empty() -> None:
    session = disabled()
    with pytest.raises(SessionsDisabled, match="sessions are turned off") as caught:
        session["cart_id"] = 42
    assert caught.value.key == "cart_id" and isinstance(caught.value, RuntimeError)
    assert "'cart_id'" in str(caught.value) and "turn sessions on" in str(caught.value)
    with pytest.raises(SessionsDisabled):
        session.setdefault("cart", [])
    with pytest.raises(SessionsDisabled):
        session.flash("hello")
    with pytest.raises(SessionsDisabled):
        del session["cart_id"]
    with pytest.raises(SessionsDisabled):  # (two pairs: update()'s own path)
        session.update(cart_id=42, user="ada")
    with pytest.raises(SessionsDisabled):
        session |= {"cart_id": 42, "user": "ada"}
    session.clear()
    session.regenerate()
    assert dict(session) == {} and session.id is None and session.get("cart_id") is None


def test_flask_gets_a_disabled_flask_session() -> None:
    app = flask.Flask("disabled")
    Sessionware(app, enabled=False)  # no secret key needed: none is ever used

    @app.get("/")
    def view() -> str:
        assert isinstance(flask.session, DisabledSession)
        assert isinstance(flask.session._get_current_object(), FlaskSession)  # type: ignore[attr-defined]
        try:
            flask.flash("hello")
        except SessionsDisabled as error:
            return f"refused {error.key}"
        return "stored"

    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://t") as c:
        response = c.get("/")
        assert response.text == "refused _flashes" and set_cookies(response) == []


def test_enabled_false_in_a_config_file_needs_no_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SESSIONWARE_SECRET_KEY", raising=False)
    path = tmp_path / "sessionware.yaml"
    path.write_text("sessions:\n  enabled: false\n  timeout_minutes: 30\n")

    async def asgi(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        raise AssertionError("not called")

    assert SessionMiddleware.from_config(asgi, path).config.enabled is False
    wsgi = WSGISessionMiddleware.from_config(lambda e, s: [], path)
    assert wsgi.config.enabled is False
    monkeypatch.setenv("SESSIONWARE_ENABLED", "true")  # the environment turns them back on
    with pytest.raises(Exception, match="SESSIONWARE_SECRET_KEY"):
        SessionMiddleware.from_config(asgi, path)
