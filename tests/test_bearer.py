"""``bearer=True``: a token from ``SessionManager.generate`` used as ``Authorization: Bearer``.

One scenario per rule, run on every shell (Starlette/ASGI, WSGI, Flask) and every
store (memory, Redis, SQLite), plus FastAPI's dependency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from sessionware import (
    ConfigurationError,
    InvalidToken,
    SchemaViolation,
    SessionManager,
    SessionMiddleware,
    TokenRevoked,
    session_of,
)
from sessionware.config import load
from sessionware.cookies import CookieSigner, TokenSigner
from sessionware.fastapi import SessionDep

from .helpers import EndsBeforeSaving
from .shells import SHELLS, shell_client
from .token_support import SECRET, any_store, define_types

__all__ = ["any_store"]

ALICE = {"userId": "alice", "email": "alice@example.com", "role": "admin"}


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/write":
        session[params["key"]] = params["value"]
    elif path == "/update":  # two keys at once: update()'s own path, not __setitem__'s
        session.update(params)
    elif path == "/merge":
        session |= params
    elif path == "/clear":
        session.clear()
    elif path == "/regenerate":
        session.regenerate()
    elif path == "/remember":
        session.permanent = True
    elif path == "/compressed":  # an app (a compression layer) with a Vary of its own
        return 200, dict(session), {"vary": "Accept-Encoding"}
    return 200, dict(session), {}


@pytest.fixture(params=SHELLS)
def shell(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def manager(any_store: Any) -> SessionManager:
    made = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    return made


@pytest.fixture
def client(shell: str, any_store: Any) -> Iterator[Any]:
    with shell_client(shell, handler, any_store, secret_key=SECRET, bearer=True) as made:
        yield made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_no_cookie(response: Any) -> None:
    assert "set-cookie" not in response.headers, response.headers


def test_a_bearer_token_opens_its_session(client: Any, manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    response = client.get("/read", headers=bearer(issued.token))
    assert response.status_code == 200 and response.json() == ALICE
    assert_no_cookie(response)
    assert "Authorization" in response.headers.get("vary", "")
    assert "Cookie" not in response.headers.get("vary", "")
    # the app's own Vary gains Authorization, not a Cookie no bearer response reads
    varied = client.get("/compressed", headers=bearer(issued.token)).headers["vary"]
    assert [t.strip() for t in varied.split(",")] == ["Accept-Encoding", "Authorization"]
    # the scheme is case-insensitive
    lower = client.get("/read", headers={"Authorization": f"bearer {issued.token}"})
    assert lower.json() == ALICE


def test_writes_reach_the_token_session(client: Any, manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    response = client.post("/write?key=role&value=owner", headers=bearer(issued.token))
    assert response.status_code == 200 and response.json()["role"] == "owner"
    assert_no_cookie(response)
    assert manager.decrypt(issued.token) == {**ALICE, "role": "owner"}
    info = manager.get(issued.session_id)
    assert info is not None and info.user == "alice"  # the middleware keeps the user
    assert [u.user for u in manager.users("user-session").items] == ["alice"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer \x7f\x00 nonsense"},
        {"Authorization": "Bearer " + "A" * 5000},
    ],
    ids=["none", "garbage", "empty", "basic", "control", "huge"],
)
def test_without_a_valid_token_the_session_is_empty_and_unwritable(
    client: Any, manager: SessionManager, headers: dict[str, str]
) -> None:
    manager.generate("user-session", ALICE)
    read = client.get("/read", headers=headers)
    assert read.status_code == 200 and read.json() == {}
    assert_no_cookie(read)
    for two_keys in ("/update", "/merge"):  # (update() with two pairs skipped the check)
        refused = client.post(f"{two_keys}?userId=mallory&role=admin", headers=headers)
        assert refused.status_code == 401, (two_keys, refused.text)
        assert "send a valid session token" in refused.text
    write = client.post("/write?key=userId&value=mallory", headers=headers)
    assert write.status_code == 401
    assert write.headers["www-authenticate"] == "Bearer"
    assert "Authorization" in write.headers["vary"]  # (a shared cache keeps it apart)
    assert "send a valid session token" in write.text
    assert_no_cookie(write)
    assert manager.list().total_items == 1  # nothing new was stored


def test_forged_and_foreign_tokens_open_nothing(client: Any, manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    secret = TokenSigner(SECRET).verify(issued.token)
    assert secret is not None
    forged = issued.token[:-2] + ("AA" if not issued.token.endswith("AA") else "BB")
    foreign = TokenSigner("another-key").sign(secret.token)
    as_cookie = CookieSigner(SECRET).sign(secret.token)  # the session's cookie, not a token
    for token in (forged, foreign, issued.refresh_token, secret.token, as_cookie):
        response = client.get("/read", headers=bearer(token))
        assert response.status_code == 200 and response.json() == {}
        assert client.post("/write?key=k&value=v", headers=bearer(token)).status_code == 401
    assert manager.decrypt(issued.token) == ALICE


def test_a_token_sent_as_a_cookie_opens_nothing(shell: str, any_store: Any) -> None:
    """A token is no cookie: a cookie middleware (the web app beside the token API)
    never opens a token's session, where the type's schema and user would not hold."""
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    issued = manager.generate("user-session", ALICE)
    with shell_client(shell, handler, any_store, secret_key=SECRET) as web:
        web.cookies.set("session", issued.token)
        read = web.get("/read")
        assert read.status_code == 200 and read.json() == {}
        web.cookies.set("session", issued.token)
        write = web.post("/write?key=cart&value=x")
        assert write.status_code == 200 and write.json() == {"cart": "x"}
    assert manager.decrypt(issued.token) == ALICE  # untouched: no key outside its schema
    assert [info.id for info in manager.user_sessions("alice")] == [issued.session_id]
    assert manager.revoke_user("alice", actor="test") == 1


def test_the_cookie_is_never_read_or_set(client: Any, manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    client.cookies.set("session", issued.token)  # a cookie holding a valid token
    response = client.get("/read")
    assert response.json() == {}
    assert_no_cookie(response)
    client.cookies.clear()


def test_refreshed_and_reused_tokens_open_nothing(client: Any, manager: SessionManager) -> None:
    first = manager.generate("user-session", ALICE)
    second = manager.refresh(first.refresh_token)
    assert client.get("/read", headers=bearer(first.token)).json() == {}
    assert client.get("/read", headers=bearer(second.token)).json() == ALICE
    with pytest.raises(TokenRevoked):
        manager.refresh(first.refresh_token)  # reuse: the session is revoked
    assert client.get("/read", headers=bearer(second.token)).json() == {}
    assert client.post("/write?key=k&value=v", headers=bearer(second.token)).status_code == 401


@pytest.mark.parametrize("manager_sealed", [True, False], ids=["sealed manager", "plain manager"])
def test_sealed_token_sessions_keep_their_values_through_refresh(
    shell: str, any_store: Any, manager_sealed: bool
) -> None:
    """A sealed ring binds the values to the token: the manager holds the token at
    generate, decrypt and refresh, so it seals to it and opens with it; a refresh
    re-seals the same values to the new token, never stores what it could not open."""
    from sessionware import Keyring
    from sessionware.encryption import BOUND, SEALED

    key = b"k" * 16 + b"K" * 16
    sealed = Keyring([key], sealed=True)
    define_types(any_store)
    ring = sealed if manager_sealed else Keyring([key])
    manager = SessionManager(any_store, secret_key=SECRET, encryption=ring)
    with shell_client(
        shell, handler, any_store, secret_key=SECRET, bearer=True, encryption=sealed
    ) as client:
        first = manager.generate("user-session", ALICE)
        changed = client.post("/write?key=role&value=owner", headers=bearer(first.token))
        assert changed.status_code == 200  # the middleware seals every value to the token
        assert manager.decrypt(first.token) == {**ALICE, "role": "owner"}
        second = manager.refresh(first.refresh_token)
        raw = any_store.read_data(second.session_id, now=time.time())
        assert {value[1] == BOUND for value in raw.values()} == {manager_sealed}  # its mode
        # reveal holds no token: a value sealed to one shows as SEALED, never as data
        revealed = manager.reveal(second.session_id, actor="ops")
        assert revealed == (dict.fromkeys(ALICE, SEALED) if manager_sealed else changed.json())
        assert manager.decrypt(second.token) == {**ALICE, "role": "owner"}
        assert client.get("/read", headers=bearer(second.token)).json() == {
            **ALICE,
            "role": "owner",
        }


def test_a_write_whose_token_was_revoked_meanwhile_answers_409(
    shell: str, any_store: Any, manager: SessionManager
) -> None:
    """The token's session was revoked between this request's load and its save:
    nothing is written, and the client learns it rather than getting a 200."""
    issued = manager.generate("user-session", ALICE)
    ending = EndsBeforeSaving(any_store, "revoke")
    with shell_client(shell, handler, ending, secret_key=SECRET, bearer=True) as client:
        ending.armed = True
        response = client.post("/write?key=role&value=owner", headers=bearer(issued.token))
        assert response.status_code == 409, response.text
        assert_no_cookie(response)
        assert client.get("/read", headers=bearer(issued.token)).json() == {}
    assert manager.get(issued.session_id).status == "revoked"  # type: ignore[union-attr]


def test_forgetting_remember_me_is_refused_as_a_new_id_is(
    shell: str, any_store: Any, manager: SessionManager
) -> None:
    """``permanent = False`` would give the session a new id, which only a refresh
    gives a token session: refused (401), the stored payload kept, never a 200
    that dropped it."""
    issued = manager.generate("user-session", {**ALICE, "_permanent": True})

    def forget(session: Any, path: str, params: dict[str, str]) -> Any:
        session.permanent = False
        return 200, dict(session), {}

    with shell_client(shell, forget, any_store, secret_key=SECRET, bearer=True) as client:
        response = client.post("/forget", headers=bearer(issued.token))
    assert response.status_code == 401, response.text
    assert manager.decrypt(issued.token) == {**ALICE, "_permanent": True}


def test_clear_ends_the_token_session(client: Any, manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    response = client.post("/clear", headers=bearer(issued.token))
    assert response.status_code == 200 and response.json() == {}
    assert_no_cookie(response)
    with pytest.raises(InvalidToken):
        manager.decrypt(issued.token)
    assert client.get("/read", headers=bearer(issued.token)).json() == {}


@pytest.mark.parametrize("path", ["/regenerate", "/remember"])
def test_the_token_never_rotates(client: Any, manager: SessionManager, path: str) -> None:
    issued = manager.generate("user-session", ALICE)
    response = client.post(path, headers=bearer(issued.token))
    assert response.status_code == 401
    assert "valid and still works" in response.text  # the client should keep its token
    assert "Authorization" in response.headers["vary"]
    assert_no_cookie(response)
    assert manager.decrypt(issued.token) == ALICE  # same token, same session
    forged = issued.token[:-2] + ("BB" if issued.token.endswith("AA") else "AA")
    for headers in ({}, bearer(forged)):  # none, or forged: no such claim
        refused = client.post(path, headers=headers)
        assert refused.status_code == 401 and "still works" not in refused.text
        assert "send a valid session token" in refused.text


def token_api(store: Any, **options: Any) -> FastAPI:
    """A FastAPI app behind a bearer middleware: GET /me, POST /role/{role}."""
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store, bearer=True, **options)

    @app.get("/me")
    async def me(session: SessionDep) -> dict[str, Any]:
        return dict(session)

    @app.post("/role/{role}")
    async def set_role(role: str, session: SessionDep) -> dict[str, Any]:
        session["role"] = role
        return dict(session)

    return app


def test_fastapi_dependency_with_bearer(any_store: Any, manager: SessionManager) -> None:
    app = token_api(any_store)
    issued = manager.generate("user-session", ALICE)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/me", headers=bearer(issued.token)).json() == ALICE
        assert client.post("/role/owner", headers=bearer(issued.token)).json()["role"] == "owner"
        refused = client.post("/role/owner")
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
    assert manager.decrypt(issued.token)["role"] == "owner"


@pytest.mark.parametrize("bound", [False, True])
def test_a_bearer_api_mounted_under_a_cookie_middleware(
    any_store: Any, manager: SessionManager, bound: bool
) -> None:
    """FastAPI's usual layout: the cookie middleware on the main app, the token API
    mounted inside it. The API's handlers see the token's session, never the cookie's."""
    api = token_api(any_store, **({"session_type": "user-session"} if bound else {}))
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=any_store)  # browsers
    app.mount("/api", api)
    issued = manager.generate("user-session", ALICE)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/api/me", headers=bearer(issued.token)).json() == ALICE
        changed = client.post("/api/role/owner", headers=bearer(issued.token))
        assert changed.json()["role"] == "owner" and "set-cookie" not in changed.headers
        assert client.post("/api/role/owner").status_code == 401  # no token: no cookie session
        assert manager.revoke(issued.session_id, actor="ops")
        assert client.get("/api/me", headers=bearer(issued.token)).json() == {}  # ended
        assert client.post("/api/role/x", headers=bearer(issued.token)).status_code == 401
    assert manager.get(issued.session_id).status == "revoked"  # type: ignore[union-attr]


def test_a_bearer_middleware_bound_to_a_type(
    shell: str, any_store: Any, manager: SessionManager
) -> None:
    user = manager.generate("user-session", ALICE)
    checkout = manager.generate("checkout-session", {"userId": "alice", "cart": []})
    options = {"secret_key": SECRET, "bearer": True, "session_type": "user-session"}
    with shell_client(shell, handler, any_store, **options) as client:
        assert client.get("/read", headers=bearer(user.token)).json() == ALICE
        # a token of another type opens nothing here, and cannot be written through
        assert client.get("/read", headers=bearer(checkout.token)).json() == {}
        assert (
            client.post("/write?key=cart&value=x", headers=bearer(checkout.token)).status_code
            == 401
        )
        # the type's schema holds for bearer writes as for cookie ones
        if shell == "wsgi":  # a bare WSGI app's exception goes to the server, as raised
            with pytest.raises(SchemaViolation):
                client.post("/write?key=basket&value=x", headers=bearer(user.token))
        else:
            refused = client.post("/write?key=basket&value=x", headers=bearer(user.token))
            assert refused.status_code == 500
        saved = client.post("/write?key=role&value=owner", headers=bearer(user.token))
        assert saved.status_code == 200
        assert_no_cookie(saved)
    assert manager.decrypt(user.token) == {**ALICE, "role": "owner"}
    assert manager.decrypt(checkout.token) == {"userId": "alice", "cart": []}
    assert manager.get(user.session_id).user == "alice"  # type: ignore[union-attr]


def test_a_bearer_middleware_given_an_app_id_opens_only_that_apps_tokens(
    shell: str, any_store: Any, manager: SessionManager
) -> None:
    """``app_id`` was ignored with ``bearer=True``: an API told it serves one app
    opened and wrote every type's tokens."""
    user = manager.generate("user-session", ALICE)
    checkout = manager.generate("checkout-session", {"userId": "alice", "cart": []})
    options = {"secret_key": SECRET, "bearer": True, "app_id": "checkout-session"}
    with shell_client(shell, handler, any_store, **options) as client:
        assert client.get("/read", headers=bearer(checkout.token)).json()["userId"] == "alice"
        assert client.get("/read", headers=bearer(user.token)).json() == {}
        assert client.post("/write?key=role&value=x", headers=bearer(user.token)).status_code == 401
    assert manager.decrypt(user.token) == ALICE


def test_bearer_is_a_config_option(tmp_path: Any) -> None:
    assert load(environ={"SESSIONWARE_BEARER": "yes"}) == {"bearer": True}
    path = tmp_path / "sessionware.toml"
    path.write_text("[sessions]\nbearer = true\n")
    assert load(path, environ={}) == {"bearer": True}


def test_a_wsgi_bearer_api_mounted_under_a_cookie_middleware(
    any_store: Any, manager: SessionManager
) -> None:
    """WSGI's twin of the FastAPI layout: Werkzeug's dispatcher inside a cookie middleware."""
    import json

    import httpx
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from sessionware import WSGISessionMiddleware

    def api(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["sessionware.session"]
        if environ["REQUEST_METHOD"] == "POST":
            session["role"] = "owner"
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(dict(session)).encode()]

    def site(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"site"]

    options = {"secret_key": SECRET, "store": any_store}
    tokens = WSGISessionMiddleware(api, bearer=True, session_type="user-session", **options)
    app = WSGISessionMiddleware(DispatcherMiddleware(site, {"/api": tokens}), **options)
    issued = manager.generate("user-session", ALICE)
    transport = httpx.WSGITransport(app=app)  # type: ignore[arg-type]
    with httpx.Client(transport=transport, base_url="https://testserver") as client:
        assert client.get("/api/me", headers=bearer(issued.token)).json() == ALICE
        changed = client.post("/api/me", headers=bearer(issued.token))
        assert changed.json()["role"] == "owner" and "set-cookie" not in changed.headers
        assert client.post("/api/me").status_code == 401  # no token: no cookie session


def test_two_bearer_middlewares_on_one_request_are_refused(any_store: Any) -> None:
    inner = token_api(any_store)
    outer = FastAPI()
    outer.add_middleware(SessionMiddleware, secret_key=SECRET, store=any_store, bearer=True)
    outer.mount("/api", inner)
    with (
        TestClient(outer, base_url="https://testserver") as client,
        pytest.raises(ConfigurationError, match="two sessionware bearer"),
    ):
        client.get("/api/me")


def test_two_bearer_middlewares_of_different_types_share_a_request(
    any_store: Any, manager: SessionManager
) -> None:
    """An API that takes two kinds of token: one typed bearer middleware for each."""
    app = FastAPI()

    @app.get("/both")
    async def both(request: Request) -> dict[str, Any]:
        kinds = ("user-session", "checkout-session")
        return {kind: dict(session_of(request, kind)) for kind in kinds}

    for kind in ("user-session", "checkout-session"):
        app.add_middleware(
            SessionMiddleware, secret_key=SECRET, store=any_store, bearer=True, session_type=kind
        )
    user = manager.generate("user-session", ALICE)
    cart = manager.generate("checkout-session", {"userId": "alice", "cart": ["sku-1"]})
    with TestClient(app, base_url="https://testserver") as client:
        mine = client.get("/both", headers=bearer(user.token)).json()
        assert mine == {"user-session": ALICE, "checkout-session": {}}
        theirs = client.get("/both", headers=bearer(cart.token)).json()
        assert theirs["user-session"] == {} and theirs["checkout-session"]["cart"] == ["sku-1"]


def test_a_token_write_over_plain_http_is_refused_in_a_token_s_terms(
    shell: str, any_store: Any, manager: SessionManager, caplog: pytest.LogCaptureFixture
) -> None:
    """require_https's refusal spoke of browsers dropping a Secure cookie; a token
    client has none."""
    issued = manager.generate("user-session", ALICE)
    with (
        shell_client(
            shell, handler, any_store, secret_key=SECRET, bearer=True, require_https=True,
            base_url="http://api.example",
        ) as client,
        caplog.at_level("WARNING", logger="sessionware"),
    ):  # fmt: skip
        refused = client.post("/write?key=role&value=owner", headers=bearer(issued.token))
    assert refused.status_code == 403
    assert "its bearer token and the session's writes travel in clear" in caplog.text
    assert "Secure cookie" not in caplog.text
    assert manager.decrypt(issued.token) == ALICE  # nothing written
