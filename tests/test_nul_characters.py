"""A NUL character ("\\x00") in what a store indexes as text: refused alike on every store.

PostgreSQL's text cannot hold NUL; SQLite, Redis and memory can. So that an app made on
one store does not break only in production on another, a session key with NUL is
refused at the assignment, a user id or email with NUL when the session is saved (a 500
with a log line, as for any unstorable value, never the 503 of an outage), and a
management call given NUL, or a lone surrogate (no UTF-8 backend can encode one),
finds nothing rather than failing.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sessionware import (
    AsyncSessionManager,
    SessionManager,
    UnstorableValue,
)
from sessionware.codec import check_key

from .shells import SHELLS, shell_client
from .stores.sql import SQL_STORES


@pytest.fixture(params=sorted(SQL_STORES))
def sql_store(request: pytest.FixtureRequest) -> Any:
    return SQL_STORES[request.param](request)


def test_a_session_key_with_nul_is_refused() -> None:
    with pytest.raises(UnstorableValue, match="NUL character"):
        check_key("a\x00b")


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/key":
        try:
            session["a\x00b"] = 1
        except UnstorableValue as error:
            return 400, str(error), {}
    elif path == "/set":
        session[params["key"]] = params["value"]
    return 200, dict(session), {}


@pytest.mark.parametrize("kind", SHELLS)
def test_a_key_with_nul_is_refused_at_the_assignment(kind: str, sql_store: Any) -> None:
    with shell_client(kind, handler, sql_store) as client:
        response = client.post("/key")
    assert response.status_code == 400
    assert "NUL character" in response.json()


# a NUL, or over MAX_KEY_BYTES (1,024 bytes of UTF-8, which PostgreSQL's btree index
# refused at 2,704 bytes: every later save was a 503 there, while other stores kept it)
UNINDEXABLE = {"nul": ("ada\x00", "NUL character"), "long": ("a" * 3200, "over the 1024")}


@pytest.mark.parametrize("kind", SHELLS)
@pytest.mark.parametrize("key", ["user_id", "email"])
@pytest.mark.parametrize("bad", sorted(UNINDEXABLE))
def test_an_unindexable_user_id_or_email_is_a_500_at_save_not_a_503(
    kind: str, key: str, bad: str, any_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    value, message = UNINDEXABLE[bad]
    options = {"user_key": "user_id", "email_key": "email"}
    with shell_client(kind, handler, any_store, **options) as client:
        refused_at_save(client, key, value, message, caplog)
    with shell_client(kind, handler, any_store, **options) as client:  # a new session
        with caplog.at_level(logging.ERROR, logger="sessionware"):
            assert client.post("/set", params={"key": key, "value": value}).status_code == 500
        assert client.get("/").json() == {}


def refused_at_save(
    client: Any, key: str, value: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Setting ``key`` to ``value`` in a session holding a name is a 500 logging
    ``message``, and the session keeps only its name."""
    assert client.post("/set", params={"key": "name", "value": "ada"}).status_code == 200
    with caplog.at_level(logging.ERROR, logger="sessionware"):
        response = client.post("/set", params={"key": key, "value": value})
    assert response.status_code == 500
    assert message in caplog.text
    assert client.get("/").json() == {"name": "ada"}  # the refused change was not saved


def live_session(store: Any) -> str:
    """A live session of user "ada" (ada@example.com), made through a shell; its id."""

    def remember_id(session: Any, path: str, params: dict[str, str]) -> Any:
        session.update(user_id="ada", email="ada@example.com")
        return 200, session.id, {}

    options = {"user_key": "user_id", "email_key": "email"}
    with shell_client("wsgi", remember_id, store, **options) as client:
        client.post("/")
        session_id: str = client.post("/").json()
    return session_id


# NUL, which PostgreSQL's text cannot hold, and a lone surrogate, which no UTF-8 backend
# can encode (SQLite, PostgreSQL and Redis raised UnicodeEncodeError for it)
BAD = pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "surrogate"])


@BAD
def test_management_arguments_with_nul_or_a_surrogate_find_nothing(
    any_store: Any, bad: str
) -> None:
    manager = SessionManager(any_store)
    kept = live_session(any_store)
    assert manager.get(f"a{bad}b") is None
    assert manager.revoke(f"a{bad}b", actor=f"ops{bad}") is False
    assert manager.set_ttl(f"a{bad}b", 60, actor="ops") is False
    assert manager.reveal(f"a{bad}b", actor=f"ops{bad}", reason=f"why{bad}") == {}
    for filters in ({"search": f"ada{bad}"}, {"user": f"ada{bad}"}, {"app": f"default{bad}"}):
        assert manager.list(**filters).total_items == 0, filters
    assert manager.user_sessions(f"ada{bad}") == []
    assert manager.revoke_user(f"ada{bad}", actor="ops") == 0
    assert manager.export(actor=f"ops{bad}", reason=bad, user=f"ada{bad}")["items"] == []
    assert [info.id for info in manager.user_sessions("ada")] == [kept]  # untouched
    assert [entry.action for entry in manager.audit_log(limit=2)] == ["export", "reveal"]


@BAD
def test_an_actor_with_nul_or_a_surrogate_revokes_and_is_audited(any_store: Any, bad: str) -> None:
    manager = SessionManager(any_store)
    kept = live_session(any_store)
    assert manager.revoke(kept, actor=f"op{bad}x") is True  # revoked_by holds the actor
    info = manager.get(kept)
    assert info is not None and info.status == "revoked"
    assert info.revoked_by is not None and info.revoked_by.startswith("op")


def test_a_token_session_whose_selector_names_a_user_with_nul_is_refused(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key="nul-test-secret-key-0123456789abcdef")
    manager.types.create(
        name="U",
        tag="u",
        schema={"username": "string"},
        selector="$Session{username}",
        expiry=1,
        period="hour",
    )
    with pytest.raises(UnstorableValue, match="NUL"):
        manager.generate("u", {"username": "a\x00b"})
    assert manager.list().total_items == 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@BAD
async def test_async_management_arguments_with_nul_or_a_surrogate_find_nothing(
    any_store: Any, bad: str
) -> None:
    manager = AsyncSessionManager(any_store)
    live_session(any_store)
    assert await manager.get(f"a{bad}b") is None
    assert await manager.revoke(f"a{bad}b", actor="ops") is False
    assert (await manager.list(search=f"ada{bad}")).total_items == 0
    assert (await manager.list(user=f"ada{bad}")).total_items == 0
    assert await manager.user_sessions(f"ada{bad}") == []
    assert await manager.revoke_user(f"ada{bad}", actor="ops") == 0
    assert await manager.reveal(f"a{bad}b", actor="ops") == {}
