"""Token sessions racing other requests: a refresh beside a bearer write, revoke_user
beside refreshes and logins, and what replaying a used refresh token costs.

Every test runs on MemoryStore, RedisStore (its own key prefix), SQLiteStore and
PostgresStore (its own schema), through real apps (Starlette's TestClient, httpx).
"""

from __future__ import annotations

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
    SessionManager,
    SessionMiddleware,
)

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
