"""Encryption at rest against a store someone else wrote to, and keys that went away.

From an encryption trial (helper-52): a one-byte value, a plain value planted
where every value is sealed, a key dropped before every session was sealed again,
a user index recorded before ``hash_user_ids``, and guessable keys. Real
Starlette apps and the management API on MemoryStore and the real Redis.
"""

from __future__ import annotations

import logging
import subprocess
from typing import Any

import pytest

from sessionware import CorruptRecord, Keyring, SessionManager, codec
from sessionware.encryption import ENCRYPTED, UNREADABLE, is_sealed
from sessionware.management import user_keys

from .shells import store
from .test_encryption import EMAIL, K1, K2, client, overwrite, put, stored

__all__ = ["store"]  # the fixture: every test runs on MemoryStore and Redis


@pytest.mark.parametrize("planted", [b"\xc1", b"\xc1\x01", b"\xc1\x01abcd"])
def test_a_value_too_short_for_its_header_is_damage_never_a_500(
    store: Any, planted: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    c = client(store, Keyring([K1]))
    session_id = put(c, {"email": EMAIL})
    overwrite(store, session_id, "email", planted)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        response = c.get("/get")
    assert response.status_code == 200 and response.json() == {"data": {}, "id": None}
    with pytest.raises(CorruptRecord):
        Keyring([K1]).open(session_id, "email", planted)


def test_a_ring_that_allows_no_plaintext_refuses_a_planted_plain_value(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """By default a plain value is read (values written before encryption was on), so
    that a store can be migrated; once it is, allow_plaintext=False refuses them, and
    the log says it was a plain value refused, not one that failed to decrypt."""
    strict = Keyring([K1], allow_plaintext=False)
    c = client(store, strict)
    session_id = put(c, {"user_id": "42", "email": EMAIL})
    overwrite(store, session_id, "user_id", codec.encode("user_id", "1"))  # plain, planted
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        assert c.get("/get").json() == {"data": {}, "id": None}  # damage: an empty session
    said = [r.getMessage() for r in caplog.records if session_id in r.getMessage()]
    assert len(said) == 1 and "does not decrypt" not in said[0]
    assert "plain (unencrypted) value for 'user_id'" in said[0]
    assert "allow_plaintext=False" in said[0] and said[0].endswith("; ignoring it")
    lenient = client(store, Keyring([K1]))
    other = put(lenient, {"user_id": "42"})
    overwrite(store, other, "user_id", codec.encode("user_id", "1"))
    assert lenient.get("/get").json()["data"] == {"user_id": "1"}  # the migration path
    assert "allow_plaintext=True" in repr(Keyring([K1]))


def test_an_export_shows_what_it_cannot_read_and_goes_on(store: Any) -> None:
    """A key dropped before every session was sealed again: reveal says so, and an
    export marks the values it cannot open instead of failing whole."""
    old = client(store, Keyring([K1]))
    stale = put(old, {"email": EMAIL})
    new = client(store, Keyring([K2]))
    fresh = put(new, {"cart": "sku-1"})
    manager = SessionManager(store, encryption=Keyring([K2]))
    with pytest.raises(CorruptRecord):
        manager.reveal(stale, actor="ops")
    assert manager.reveal(fresh, actor="ops") == {"cart": "sku-1"}
    items = manager.export(actor="ops", include_metadata=True)["items"]
    payloads = {item["id"]: item["payload"] for item in items}  # type: ignore[index, union-attr]
    assert payloads == {stale: {"email": UNREADABLE}, fresh: {"cart": "sku-1"}}
    streamed = {i["id"]: i["payload"] for i in manager.iter_export(include_metadata=True)}
    assert streamed == payloads
    keyless = SessionManager(store).export(actor="ops", include_metadata=True)["items"]
    assert {i["id"]: i["payload"] for i in keyless} == {  # type: ignore[index, union-attr]
        stale: {"email": ENCRYPTED},
        fresh: {"cart": ENCRYPTED},
    }


def _user_seven(store: Any, ring: Keyring) -> Any:
    """A client of an app on ``store`` and ``ring`` (user_key="user_id"), signed in as
    user 7; ``GET /me`` answers who it is."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionware import SessionMiddleware

    async def login(request: Request) -> Response:
        request.session["user_id"] = "7"
        return JSONResponse({"ok": True})

    async def me(request: Request) -> Response:
        return JSONResponse({"user": request.session.get("user_id")})

    app = Starlette(routes=[Route("/login", login), Route("/me", me)])
    app.add_middleware(
        SessionMiddleware,
        secret_key="k" * 32,
        store=store,
        secure=False,
        encryption=ring,
        user_key="user_id",
    )
    c = TestClient(app)
    c.get("/login")
    return c


def test_log_out_everywhere_finds_sessions_indexed_before_hash_user_ids_was_on(
    store: Any,
) -> None:
    before, after = Keyring([K1]), Keyring([K1], hash_user_ids=True)
    c = _user_seven(store, before)
    manager = SessionManager(store, encryption=after)
    assert len(manager.user_sessions("7")) == 1
    assert manager.revoke_user("7", actor="ops") == 1
    # (the other way, hashing turned off, is not looked for: a plain id could be
    # chosen to equal another user's hash)
    assert user_keys(before, "7") == ["7"]
    assert c.get("/me").json() == {"user": None}  # really signed out


def test_an_export_by_user_finds_the_user_under_hash_user_ids(store: Any) -> None:
    """list(user=...) hashed the user it was given; export and iter_export did not, so
    a per-user export under hash_user_ids came back empty (review of 7881e80)."""
    ring = Keyring([K1], hash_user_ids=True)
    _user_seven(store, ring)
    manager = SessionManager(store, encryption=ring)
    assert len(manager.list(user="7").items) == 1
    items = manager.export(user="7", include_metadata=True, actor="ops")["items"]
    assert isinstance(items, list) and len(items) == 1
    assert len(list(manager.iter_export(user="7", include_metadata=True))) == 1


def test_a_guessable_keyring_key_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    from sessionware import cookies

    cookies._warned_weak.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        Keyring(["abc"])
        Keyring([bytes(32)])  # 32 bytes, all zero
        Keyring([K2, "s3cret"])
    warned = [r.getMessage() for r in caplog.records if "reads every stored" in r.message]
    assert len(warned) == 3
    assert "newest key is shorter" in warned[0] and "repeats fewer" in warned[1]
    assert "key number 2" in warned[2]
    assert all("abc" not in text and "s3cret" not in text for text in warned)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        Keyring([K1, "a passphrase long enough to pass muster, 40 chars"])
    assert not [r for r in caplog.records if "reads every stored" in r.message]


@pytest.mark.redis
def test_the_command_says_in_one_line_that_it_cannot_open_encrypted_values(
    redis_prefix: str,
) -> None:
    from sessionware import RedisStore

    from .cli.helpers import run
    from .conftest import REDIS_URL

    redis_store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    session_id = put(client(redis_store, Keyring([K1])), {"email": EMAIL})
    assert is_sealed(stored(redis_store, session_id)["email"])
    result: subprocess.CompletedProcess[str] = run(
        "sessions", "reveal", session_id, "--reason", "t", prefix=redis_prefix, store=REDIS_URL
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "encryption=Keyring" in result.stderr
    redis_store.close()
