"""Token sessions racing other requests: a refresh beside a bearer write, revoke_user
beside refreshes and logins, and what replaying a used refresh token costs.

Every test runs on MemoryStore, RedisStore (its own key prefix), SQLiteStore and
PostgresStore (its own schema), through real apps (Starlette's TestClient, httpx).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    AsyncSessionManager,
    MemoryStore,
    RefreshConflict,
    RevocationIncomplete,
    SessionManager,
    SessionMiddleware,
    SessionToken,
    TokenError,
)
from sessionware.management import REVOKE_ROUNDS

from .token_support import SECRET, any_store, define_types

__all__ = ["any_store"]

ALICE = {"userId": "alice", "email": "alice@example.com", "role": "member"}
WRITTEN = "written-during-refresh"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def api(store: Any) -> Starlette:
    """The worked example's API: a bearer middleware bound to ``user-session``."""

    async def set_role(request: Request) -> JSONResponse:
        request.session["role"] = request.path_params["role"]
        return JSONResponse({"role": request.session["role"]})

    app = Starlette(routes=[Route("/me/role/{role}", set_role, methods=["POST"])])
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET,
        store=store,
        bearer=True,
        session_type="user-session",
    )
    return app


def write_first(store: Any, name: str, write: Callable[[], Any], times: int = 1) -> None:
    """Make ``store.<name>`` (rotate or arotate) run ``write`` (a bearer write through
    the API) before each of its next ``times`` calls: the write lands between the
    refresh's load and its rotation."""
    real, left = getattr(store, name), [times]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            write()
        return real(*args, **kwargs)

    async def awrapped(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            await write()
        return await real(*args, **kwargs)

    setattr(store, name, awrapped if name.startswith("a") else wrapped)


def test_a_refresh_never_drops_a_write_that_raced_it(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    issued = manager.generate("user-session", ALICE)
    with TestClient(api(any_store), base_url="https://testserver") as client:

        def write() -> None:
            answer = client.post(
                f"/me/role/{WRITTEN}", headers={"Authorization": f"Bearer {issued.token}"}
            )
            assert answer.status_code == 200, answer.text

        write_first(any_store, "rotate", write)
        renewed = manager.refresh(issued.refresh_token)
    assert manager.decrypt(renewed.token) == {**ALICE, "role": WRITTEN}


@pytest.mark.anyio
async def test_an_async_refresh_never_drops_a_write_that_raced_it(any_store: Any) -> None:
    manager = AsyncSessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    issued = await manager.generate("user-session", ALICE)
    transport = httpx.ASGITransport(app=api(any_store))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:

        async def write() -> None:
            answer = await client.post(
                f"/me/role/{WRITTEN}", headers={"Authorization": f"Bearer {issued.token}"}
            )
            assert answer.status_code == 200, answer.text

        write_first(any_store, "arotate", write)
        renewed = await manager.refresh(issued.refresh_token)
    assert await manager.decrypt(renewed.token) == {**ALICE, "role": WRITTEN}


def test_a_refresh_written_at_every_attempt_asks_to_be_sent_again(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    issued = manager.generate("user-session", ALICE)
    with TestClient(api(any_store), base_url="https://testserver") as client:
        roles = iter(range(100))

        def write() -> None:
            headers = {"Authorization": f"Bearer {issued.token}"}
            assert client.post(f"/me/role/r{next(roles)}", headers=headers).status_code == 200

        write_first(any_store, "rotate", write, times=5)
        with pytest.raises(RefreshConflict, match="send the refresh again") as raised:
            manager.refresh(issued.refresh_token)
    assert raised.value.session_id == issued.session_id
    assert manager.decrypt(issued.token)["role"] == "r4"  # nothing changed, nothing lost
    renewed = manager.refresh(issued.refresh_token)  # the refresh token still works
    assert manager.decrypt(renewed.token)["role"] == "r4"


class UncheckedStore(MemoryStore):
    """A store written before ``unchanged_since``: its rotate does not take it."""

    ROTATE_CHECKS_CHANGES = False

    def rotate(self, old_id: str, new_id: str, data: Any, meta: Any, *, require_live: bool) -> bool:  # type: ignore[override]
        return super().rotate(old_id, new_id, data, meta, require_live=require_live)


def test_a_store_without_the_check_still_refreshes() -> None:
    store = UncheckedStore()
    manager = SessionManager(store, secret_key=SECRET)
    define_types(store)
    issued = manager.generate("user-session", ALICE)
    renewed = manager.refresh(issued.refresh_token)
    assert manager.decrypt(renewed.token) == ALICE


# -- revoke_user beside sessions that move to new ids -----------------------------------

TRIALS = 15


def racing(step: Callable[[], bool]) -> Callable[[], bool]:
    """Call ``step`` in a thread again and again until it returns ``False`` (its
    session ended). Returns what to call once the race is run: it waits a little for
    the loop to end by itself, stops it otherwise (a session that survived), and says
    whether it ended by itself."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set() and step():
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def finish() -> bool:
        thread.join(timeout=5)
        ended = not thread.is_alive()
        stop.set()
        thread.join(timeout=30)
        return ended

    return finish


def keep_refreshing(manager: SessionManager, issued: SessionToken) -> Callable[[], bool]:
    """A client that refreshes its session again and again, until the session ends."""
    current = [issued]

    def step() -> bool:
        try:
            current[0] = manager.refresh(current[0].refresh_token)
        except TokenError:
            return False
        return True

    return racing(step)


def five_sessions_one_refreshing(
    manager: SessionManager, user: str
) -> tuple[str, Callable[[], bool]]:
    """``user`` signed in five times, one of them refreshing in a loop (``racing``)."""
    payload = {**ALICE, "userId": user}
    for _ in range(4):
        manager.generate("user-session", payload)
    return user, keep_refreshing(manager, manager.generate("user-session", payload))


def test_revoke_user_reaches_a_session_that_keeps_refreshing(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    survived = []
    for trial in range(TRIALS):
        user, finish = five_sessions_one_refreshing(manager, f"alice-{trial}")
        revoked = manager.revoke_user(user, actor="support:kim")
        if not finish() or manager.user_sessions(user):
            survived.append(trial)
        assert revoked >= 5  # (Redis may also count a refresh's new record it then undid)
    assert survived == []


@pytest.mark.anyio
async def test_async_revoke_user_reaches_a_session_that_keeps_refreshing(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    awaited = AsyncSessionManager(any_store, secret_key=SECRET)
    survived = []
    for trial in range(TRIALS):
        user, finish = five_sessions_one_refreshing(manager, f"alice-{trial}")
        revoked = await awaited.revoke_user(user, actor="support:kim")
        if not finish() or await awaited.user_sessions(user):
            survived.append(trial)
        assert revoked >= 5
    assert survived == []


def cookie_app(store: Any) -> Starlette:
    """A cookie app: ``/login`` names the user, ``/relogin`` gives the signed-in
    session a new id (``regenerate``), 401 once it has ended."""

    async def login(request: Request) -> JSONResponse:
        request.session["user"] = request.path_params["user"]
        request.session.regenerate()
        return JSONResponse({})

    async def relogin(request: Request) -> JSONResponse:
        if "user" not in request.session:
            return JSONResponse({}, status_code=401)
        request.session.regenerate()
        return JSONResponse({})

    app = Starlette(
        routes=[
            Route("/login/{user}", login, methods=["POST"]),
            Route("/relogin", relogin, methods=["POST"]),
        ]
    )
    app.add_middleware(SessionMiddleware, secret_key=SECRET, store=store, user_key="user")
    return app


def test_revoke_user_reaches_a_session_that_keeps_logging_in(any_store: Any) -> None:
    manager = SessionManager(any_store)
    app = cookie_app(any_store)
    survived = []
    for trial in range(TRIALS):
        user, clients = f"bob-{trial}", []
        for _ in range(5):
            client = TestClient(app, base_url="https://testserver")
            assert client.post(f"/login/{user}").status_code == 200
            clients.append(client)

        finish = racing(lambda client=clients[-1]: client.post("/relogin").status_code == 200)
        revoked = manager.revoke_user(user, actor="support:kim")
        if not finish() or manager.user_sessions(user):
            survived.append(trial)
        assert revoked >= 5
    assert survived == []


def test_sign_out_everywhere_else_keeps_only_the_current_session(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    kept = manager.generate("user-session", ALICE)
    other = manager.generate("user-session", ALICE)
    finish = keep_refreshing(manager, other)
    assert manager.revoke_user("alice", actor="alice", keep=kept.session_id) >= 1
    assert finish()
    assert [i.id for i in manager.user_sessions("alice")] == [kept.session_id]


def test_revoke_user_says_when_sessions_keep_appearing(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    manager.generate("user-session", ALICE)
    real = any_store.revoke

    def revoke_and_sign_in_again(*args: Any, **kwargs: Any) -> Any:
        manager.generate("user-session", ALICE)  # a new sign-in at every revocation
        return real(*args, **kwargs)

    any_store.revoke = revoke_and_sign_in_again
    with pytest.raises(RevocationIncomplete, match="call it again") as raised:
        manager.revoke_user("alice", actor="support:kim")
    assert (raised.value.revoked, raised.value.remaining) == (REVOKE_ROUNDS, 1)


def test_revoke_user_of_one_app_leaves_the_others(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    shop = manager.generate("checkout-session", {"userId": "alice", "cart": []})
    finish = keep_refreshing(manager, manager.generate("user-session", ALICE))
    assert manager.revoke_user("alice", actor="alice", app="user-session") >= 1
    assert finish()
    assert [i.id for i in manager.user_sessions("alice")] == [shop.session_id]
