"""A middleware bound to a session type, on every shell and store: validation at
assignment, lifetime and user from the type, reports on load, type changes seen."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sessionware import (
    ConfigurationError,
    MemoryStore,
    SchemaViolation,
    SessionEvent,
    SessionHooks,
    SessionManager,
    SessionTypeInUse,
)
from sessionware.session_types import registry

from ..helpers import CountingStore, set_cookies
from ..shells import SHELLS, shell_client

CHECKOUT = {
    "name": "Checkout session",
    "schema": {
        "userId": "string",
        "cartId": "integer",
        "coupon": "string?",
        "details": {"username": "johndoe", "email": "john@example.com"},
    },
    "selector": "$Session{details}{username}",
    "expiry": 1,
    "period": "hours",
}
VALUES: dict[str, Any] = {
    "userId": "u1",
    "cartId": 42,
    "coupon": None,
    "details": {"username": "bob", "email": "bob@example.com"},
    "wrong": "not in the schema",
    "badcart": "forty-two",
}


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    """``/set?key=K&value=V`` assigns ``VALUES[V]``; ``/flash``, ``/csrf`` use framework
    keys; ``/nest`` changes a value in place; every answer shows the session."""
    try:
        if path == "/set":
            session[params["key"]] = VALUES[params["value"]]
        elif path == "/flash":
            session.flash("saved")
            session["csrf_token"] = "t0k3n"
        elif path == "/update":  # the last pair is refused: none is set
            session.update({"cartId": 7, "coupon": "half", "userId": 5})
        elif path == "/nest":
            session["details"]["email"] = 7
        elif path == "/restart":  # log out, then in: a new record in the same response
            session.get("cartId")  # loaded first, on every shell (WSGI and Flask load lazily)
            session.clear()
            session[params["key"]] = VALUES[params["value"]]
    except SchemaViolation as error:
        body = {"field": error.field, "expected": error.expected, "given": error.given}
        return 422, {"error": body, "session": dict(session)}, {}
    return (
        200,
        {"session": dict(session), "problems": session.schema_problems, "id": session.id},
        {},
    )


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def types(any_store: Any) -> Any:
    manager = SessionManager(any_store)
    manager.types.create(**CHECKOUT)
    return manager.types


def client_for(shell: str, store: Any, **options: Any) -> Any:
    return shell_client(shell, handler, store, session_type="checkout-session", **options)


def test_assignments_of_the_right_type_are_stored(shell: str, any_store: Any, types: Any) -> None:
    with client_for(shell, any_store) as client:
        assert client.get("/set", params={"key": "userId", "value": "userId"}).status_code == 200
        assert client.get("/set", params={"key": "cartId", "value": "cartId"}).status_code == 200
        assert client.get("/set", params={"key": "coupon", "value": "coupon"}).status_code == 200
        body = client.get("/").json()
    assert body["session"] == {"userId": "u1", "cartId": 42, "coupon": None}
    assert body["problems"] == []


def test_events_and_metrics_name_the_type_as_the_records_do(
    shell: str, any_store: Any, types: Any
) -> None:
    events: list[SessionEvent] = []
    registry = CollectorRegistry()
    hooks = SessionHooks(on_created=events.append)
    with client_for(shell, any_store, hooks=hooks, metrics=True, registry=registry) as client:
        client.get("/set", params={"key": "userId", "value": "userId"})
        session_id = client.get("/").json()["id"]
    assert SessionManager(any_store).get(session_id).app == "checkout-session"
    assert [event.app for event in events] == ["checkout-session"]
    created = "sessionware_sessions_created_total"
    assert registry.get_sample_value(created, {"app": "checkout-session"}) == 1
    assert registry.get_sample_value(created, {"app": "default"}) is None


def test_a_wrong_type_is_refused_at_once_and_changes_nothing(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        refused = client.get("/set", params={"key": "cartId", "value": "badcart"})
        assert refused.status_code == 422
        assert refused.json()["error"] == {"field": "cartId", "expected": "integer", "given": "str"}
        assert refused.json()["session"] == {"cartId": 42}
        assert client.get("/").json()["session"] == {"cartId": 42}


def test_an_update_with_one_wrong_pair_sets_none_of_them(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        refused = client.get("/update")
        assert refused.status_code == 422
        assert refused.json()["error"] == {"field": "userId", "expected": "string", "given": "int"}
        assert refused.json()["session"] == {"cartId": 42}
        assert client.get("/").json()["session"] == {"cartId": 42}


def test_keys_outside_the_schema_are_refused_but_framework_keys_pass(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        refused = client.get("/set", params={"key": "wrong", "value": "wrong"})
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "wrong"
        assert refused.json()["error"]["expected"] == "no such field"
        assert client.get("/flash").status_code == 200
        session = client.get("/").json()["session"]
    assert session["csrf_token"] == "t0k3n" and session["_flashes"] == [["info", "saved"]]


def test_a_value_changed_in_place_is_checked_before_it_is_saved(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "details", "value": "details"})
        assert client.get("/nest").status_code == 500  # nothing saved
        assert client.get("/").json()["session"]["details"]["email"] == "bob@example.com"


def test_lifetime_and_user_come_from_the_type(shell: str, any_store: Any, types: Any) -> None:
    with client_for(shell, any_store) as client:  # (a timeout beside it: refused, below)
        before = time.time()
        response = client.get("/set", params={"key": "details", "value": "details"})
        after = time.time()
        session_id = client.get("/").json()["id"]
    (cookie,) = set_cookies(response)
    assert 3590 <= int(cookie["max-age"]) <= 3600  # the type's hour
    meta = any_store.get_meta(session_id, now=time.time())
    assert meta.app == "checkout-session" and meta.user == "bob" and not meta.sliding
    assert before + 3600 - 1 <= meta.expires_at <= after + 3600 + 1
    assert SessionManager(any_store).user_sessions("bob")[0].id == session_id
    with pytest.raises(SessionTypeInUse):  # its sessions are counted by their label
        types.delete("checkout-session")


def test_a_record_under_an_older_schema_is_reported_not_crashed_on(
    shell: str, any_store: Any, types: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        client.get("/set", params={"key": "userId", "value": "userId"})
        types.update("checkout-session", schema={**CHECKOUT["schema"], "cartId": "uuid"})
        body = client.get("/").json()
        assert body["session"] == {"cartId": 42, "userId": "u1"}
        (problem,) = body["problems"]
        assert "'cartId'" in problem and "uuid" in problem and "int" in problem
        # the new schema now governs assignments
        refused = client.get("/set", params={"key": "cartId", "value": "cartId"})
        assert refused.json()["error"]["expected"] == "uuid"


def test_an_older_schema_is_logged_once_and_reported_on_every_load(
    shell: str,
    any_store: Any,
    types: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        types.update("checkout-session", schema={**CHECKOUT["schema"], "cartId": "uuid"})
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            bodies = [client.get("/").json() for _ in range(3)]
    assert all(len(body["problems"]) == 1 for body in bodies)  # the handler sees it each time
    logged = [r for r in caplog.records if "older schema" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]


def test_reading_a_value_an_older_schema_allowed_answers_200(
    shell: str, any_store: Any, types: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mutable value read (so maybe changed in place) but not changed is not checked
    again at the save: the record was written under an older schema, which the
    handler sees in ``schema_problems``; only a change of it is refused."""
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    with client_for(shell, any_store) as client:
        assert client.get("/set", params={"key": "details", "value": "details"}).status_code == 200
        schema = {**CHECKOUT["schema"], "details": "string"}
        types.update("checkout-session", schema=schema, selector=None)
        answers = [client.get("/") for _ in range(2)]
        assert [answer.status_code for answer in answers] == [200, 200]
        body = answers[-1].json()
        assert body["session"] == {"details": VALUES["details"]}
        assert len(body["problems"]) == 1
        assert client.get("/nest").status_code == 500  # changed in place: refused, unsaved
        assert client.get("/").json()["session"] == {"details": VALUES["details"]}


def test_a_type_change_reaches_the_middleware_after_its_cache(
    shell: str, any_store: Any, types: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    with client_for(shell, any_store) as client:
        assert client.get("/set", params={"key": "coupon", "value": "userId"}).status_code == 200
        types.update("checkout-session", schema={k: v for k, v in CHECKOUT["schema"].items()
                                                 if k != "coupon"}, selector=None)  # fmt: skip
        refused = client.get("/set", params={"key": "coupon", "value": "userId"})
        assert refused.json()["error"]["expected"] == "no such field"
        types.update("checkout-session", expiry=2)
        response = client.get("/set", params={"key": "cartId", "value": "cartId"})
        assert response.status_code == 200


def test_a_shorter_type_lifetime_leaves_older_cookies_to_their_own_end(
    shell: str, any_store: Any, types: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session keeps the lifetime its type gave it at creation (README); its cookie's
    # Max-Age must say the same, not the type's new lifetime from now on.
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    with client_for(shell, any_store, refresh_each_request=True) as client:
        (first,) = set_cookies(client.get("/set", params={"key": "cartId", "value": "cartId"}))
        session_id = client.get("/").json()["id"]
        types.update("checkout-session", expiry=2, period="minutes")
        later = set_cookies(client.get("/set", params={"key": "userId", "value": "userId"}))
    end = any_store.get_meta(session_id, now=time.time()).expires_at
    assert 3590 <= int(first["max-age"]) <= 3600 and end > time.time() + 3500  # the hour stays
    assert len(later) == 1  # refresh_each_request: re-sent with every response
    assert abs(int(later[0]["max-age"]) - (end - time.time())) <= 5, later


def test_a_typed_session_started_afresh_gets_its_whole_lifetime(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        old_id = client.get("/").json()["id"]
        assert SessionManager(any_store).set_ttl(old_id, 600)  # the old record nears its end
        (cookie,) = set_cookies(client.get("/restart", params={"key": "userId", "value": "userId"}))
        new_id = client.get("/").json()["id"]
    assert new_id != old_id
    assert 3590 <= int(cookie["max-age"]) <= 3600  # the new record's hour, not the old 600 s
    assert any_store.get_meta(new_id, now=time.time()).expires_at > time.time() + 3500


def test_a_moved_end_reaches_a_typed_sessions_cookie() -> None:
    # set_ttl moves a typed session's end; the 1% re-send rule, counted in the record's
    # whole lifetime, carries the new end to the cookie. One shell and store: it sleeps.
    store = MemoryStore()
    manager = SessionManager(store)
    manager.types.create(**{**CHECKOUT, "expiry": 100, "period": "seconds"})
    with client_for("starlette", store) as client:
        client.get("/set", params={"key": "cartId", "value": "cartId"})
        session_id = client.get("/").json()["id"]
        assert manager.set_ttl(session_id, 150)  # 100 s became 150 from now
        time.sleep(2.6)  # past 1% of the record's ~150 s, + 1 s of timestamp rounding
        (cookie,) = set_cookies(client.get("/"))
    assert 140 <= int(cookie["max-age"]) <= 148, cookie


def test_within_the_cache_a_middleware_keeps_the_type_it_read(
    shell: str, any_store: Any, types: Any
) -> None:
    with client_for(shell, any_store) as client:
        assert client.get("/set", params={"key": "coupon", "value": "userId"}).status_code == 200
        types.update("checkout-session", schema={"cartId": "integer"}, selector=None)
        # CACHE_SECONDS (5 s) have not passed: no store read, the old schema still applies
        assert client.get("/set", params={"key": "coupon", "value": "userId"}).status_code == 200


def test_an_unknown_type_is_a_clear_error_at_start_up(shell: str, any_store: Any) -> None:
    """(Starlette: at lifespan startup, which its test client runs; real uvicorn stops:
    tests/session_types/test_startup.py. WSGI and Flask: when the middleware is built.)"""
    refused = pytest.raises(ConfigurationError, match="'no-such-type' names no session type")
    with refused, shell_client(shell, handler, any_store, session_type="no-such-type"):
        pytest.fail("an app bound to a type the store lacks started")


def test_while_the_store_is_down_the_last_type_read_stays_in_use(
    shell: str, any_store: Any, types: Any, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)
    failing = CountingStore(any_store)
    with client_for(shell, failing) as client:
        assert client.get("/set", params={"key": "cartId", "value": "cartId"}).status_code == 200
        failing.fail = {"registry_get", "aregistry_get"}
        refused = client.get("/set", params={"key": "cartId", "value": "badcart"})
        assert refused.status_code == 422  # still checked, against the type last read
        assert any("keeping session type" in r.getMessage() for r in caplog.records)
    with client_for(shell, failing) as fresh:  # never read a type: cannot serve
        assert fresh.get("/").status_code == 503


@pytest.mark.parametrize(
    "given",
    [{"idle_timeout": 60}, {"absolute_timeout": 3600}, {"max_age": 60}, {"permanent_lifetime": 60}],
)
def test_a_lifetime_beside_a_type_is_refused_not_ignored(
    given: dict[str, int], tmp_path: Any
) -> None:
    """A bound middleware's sessions last the type's lifetime: a timeout given beside
    it would be ignored (a 30-minute idle logout silently becoming 7 days), so every
    shell refuses it at start-up, naming where the lifetime is changed."""
    import flask

    from sessionware import SessionMiddleware, WSGISessionMiddleware
    from sessionware.flask import Sessionware

    options = {"secret_key": "k" * 40, "store": MemoryStore(), "session_type": "user-session"}
    builds = [
        lambda: SessionMiddleware(lambda *a: None, **options, **given),
        lambda: WSGISessionMiddleware(lambda *a: [], **options, **given),
        lambda: Sessionware(flask.Flask("typed"), **options, **given),
    ]
    for build in builds:
        with pytest.raises(ConfigurationError, match=r"drop \w+.*types\.update\('user-session'"):
            build()
    ((name, value),) = given.items()
    path = tmp_path / "sessionware.toml"
    path.write_text(f'[sessions]\nsession_type = "user-session"\n{name} = {value}\n')
    with pytest.raises(ConfigurationError, match=f"drop {name}"):
        SessionMiddleware.from_config(
            lambda *a: None, path, store=MemoryStore(), secret_key="k" * 40
        )


def test_flasks_own_lifetime_setting_does_not_stop_a_typed_app() -> None:
    """PERMANENT_SESSION_LIFETIME is Flask's, for every app: beside a type it is left
    to the type, not refused."""
    import flask

    from sessionware.flask import Sessionware

    app = flask.Flask("typed")
    app.config["PERMANENT_SESSION_LIFETIME"] = 600
    store = MemoryStore()
    SessionManager(store).types.create(name="User session")
    Sessionware(app, secret_key="k" * 40, store=store, session_type="user-session")


@pytest.mark.parametrize("given", ["idle_timeout", "absolute_timeout", "max_age"])
def test_a_timeout_beside_a_bound_type_is_refused_naming_where_the_lifetime_is(
    given: str,
) -> None:
    """The type's lifetime wins, so a timeout given beside it would do nothing: refused,
    saying how to change the type's, and how to see the tags there are (a misspelt tag
    meets this before it meets the store)."""
    from sessionware.core import SessionConfig

    with pytest.raises(ConfigurationError) as refused:
        SessionConfig.build(secret_key="k" * 32, session_type="web-sesion", **{given: 60})
    said = str(refused.value)
    assert f"drop {given}" in said
    assert "types.update('web-sesion', expiry=..., period=...)" in said
    assert "sessionware types list" in said
