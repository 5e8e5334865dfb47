"""Sealed mode (values bound to the cookie token) and hashed user ids, on every store."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import Keyring, SessionManager, SessionMiddleware
from sessionware.cookies import public_id
from sessionware.encryption import BOUND, SEALED, SealedToToken, is_sealed

from .helpers import token_of
from .shells import store
from .test_encryption import EMAIL, K1, K2, SECRET, overwrite, put, stored

__all__ = ["store"]  # the fixture: every test runs on MemoryStore, Redis and SQLite


def client(store: Any, keyring: Keyring | None) -> TestClient:
    async def put(request: Request) -> Response:
        request.session.update(request.query_params)
        return JSONResponse({"id": request.session.id})

    async def get(request: Request) -> Response:
        return JSONResponse({"data": dict(request.session), "id": request.session.id})

    async def login(request: Request) -> Response:
        request.session["user_id"] = request.query_params["user"]
        request.session.regenerate()
        return JSONResponse({})

    app = Starlette(routes=[Route("/put", put), Route("/get", get), Route("/login", login)])
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET,
        store=store,
        secure=False,
        encryption=keyring,
        user_key="user_id",
    )
    return TestClient(app)


def _token(c: TestClient) -> str:
    return token_of(c.cookies["session"])


def test_only_the_cookie_opens_a_sealed_session(store: Any) -> None:
    c = client(store, Keyring([K1], sealed=True))
    session_id = put(c, {"email": EMAIL})
    raw = stored(store, session_id)["email"]
    assert is_sealed(raw) and raw[1] == BOUND and EMAIL.encode() not in raw
    assert c.get("/get").json()["data"] == {"email": EMAIL}  # the cookie's holder reads it
    with pytest.raises(SealedToToken):  # a store dump plus every server key: nothing
        Keyring([K1]).open(session_id, "email", raw)
    token = _token(c)
    assert Keyring([K1]).open(session_id, "email", raw, token)[0]  # with the token: it opens
    manager = SessionManager(store, encryption=Keyring([K1], sealed=True))
    assert manager.reveal(session_id, actor="ops") == {"email": SEALED}
    assert SessionManager(store).reveal(session_id, actor="ops") == {"email": SEALED}
    (audit,) = manager.audit_log(limit=5)[:1]
    assert audit.action == "reveal" and token not in repr(audit)
    items = manager.export(actor="ops")["items"]
    assert isinstance(items, list) and items[0]["payload"] == {"email": SEALED}  # type: ignore[index]


def test_a_new_id_seals_the_values_to_the_new_token(store: Any) -> None:
    c = client(store, Keyring([K1], sealed=True))
    put(c, {"email": EMAIL})
    old_token = _token(c)
    c.get("/login", params={"user": "ada"})
    new_token = _token(c)
    assert new_token != old_token
    new_id = public_id(new_token)
    raw = stored(store, new_id)["email"]
    with pytest.raises(SealedToToken.__mro__[1]):  # CorruptRecord: the old token fails
        Keyring([K1]).open(new_id, "email", raw, old_token)
    assert c.get("/get").json()["data"] == {"email": EMAIL, "user_id": "ada"}


@pytest.mark.parametrize("damage", ["tamper", "truncate", "swap"])
def test_damaged_sealed_values_mean_an_empty_session(
    store: Any, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    keyring = Keyring([K1], sealed=True)
    alice, mallory = client(store, keyring), client(store, keyring)
    alice_id = put(alice, {"role": "admin"})
    mallory_id = put(mallory, {"role": "guest"})
    raw = stored(store, mallory_id)["role"]
    if damage == "tamper":
        bad = raw[:-1] + bytes([raw[-1] ^ 1])
    elif damage == "truncate":
        bad = raw[:25]
    else:  # alice's value, sealed to alice's token, into mallory's record
        bad = stored(store, alice_id)["role"]
    overwrite(store, mallory_id, "role", bad)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        response = mallory.get("/get")
    assert response.status_code == 200 and response.json() == {"data": {}, "id": None}
    assert any("does not decrypt" in r.getMessage() for r in caplog.records)
    assert all("admin" not in r.getMessage() for r in caplog.records)


def test_switching_to_and_from_sealed_mode_reseals_on_the_next_save(store: Any) -> None:
    plain_ring = client(store, Keyring([K1]))
    session_id = put(plain_ring, {"email": EMAIL})
    assert stored(store, session_id)["email"][1] == 1
    sealed_ring = client(store, Keyring([K1], sealed=True))
    sealed_ring.cookies.update(plain_ring.cookies)
    assert sealed_ring.get("/get").json()["data"] == {"email": EMAIL}
    assert stored(store, session_id)["email"][1] == BOUND  # bound to the cookie now
    back = client(store, Keyring([K2, K1]))  # sealed mode off, and a new key
    back.cookies.update(plain_ring.cookies)
    assert back.get("/get").json()["data"] == {"email": EMAIL}
    raw = stored(store, session_id)["email"]
    assert raw[1] == 1 and raw[2:6] == Keyring([K2]).newest


def test_hashed_user_ids_keep_the_raw_id_out_of_the_store(store: Any) -> None:
    keyring = Keyring([K1], hash_user_ids=True)
    c = client(store, keyring)
    put(c, {"email": EMAIL})
    c.get("/login", params={"user": "ada-42"})
    session_id = c.get("/get").json()["id"]
    meta = store.get_meta(session_id, now=time.time())
    assert meta.user == keyring.user_tag("ada-42") and "ada-42" not in meta.user
    assert store.user_session_ids("ada-42", now=time.time()) == []
    if hasattr(store, "prefix") and hasattr(store, "_sync"):  # Redis: no key names the user
        assert not [k for k in store._sync.scan_iter(match=f"{store.prefix}*ada-42*")]
    manager = SessionManager(store, encryption=keyring)
    assert [info.id for info in manager.user_sessions("ada-42")] == [session_id]
    assert [info.id for info in manager.list(user="ada-42").items] == [session_id]
    rotated = SessionManager(store, encryption=Keyring([K2, K1], hash_user_ids=True))
    assert [info.id for info in rotated.user_sessions("ada-42")] == [session_id]
    assert rotated.revoke_user("ada-42", actor="ops") == 1
    assert c.get("/get").json()["data"] == {}
