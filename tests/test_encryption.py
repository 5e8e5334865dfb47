"""Encryption at rest (issue 13): what the store holds, tampering, rotation, migration.

Every test drives a real Starlette app (and Flask where named) and then reads the
store directly, on MemoryStore and the real Redis.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import flask
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    ConfigurationError,
    CorruptRecord,
    Keyring,
    SessionManager,
    SessionMiddleware,
)
from sessionware.encryption import is_sealed
from sessionware.flask import Sessionware
from sessionware.stores.base import Changes

from .shells import store

__all__ = ["store"]  # the fixture: every test runs on MemoryStore and Redis

SECRET = "encryption-test-secret-key-0123456789"
EMAIL = "ada@example.com"
K1, K2 = os.urandom(32), os.urandom(32)


def client(store: Any, keyring: Keyring | None) -> TestClient:
    async def put(request: Request) -> Response:
        request.session.update(request.query_params)
        return JSONResponse({"id": request.session.id})

    async def get(request: Request) -> Response:
        return JSONResponse({"data": dict(request.session), "id": request.session.id})

    app = Starlette(routes=[Route("/put", put), Route("/get", get)])
    app.add_middleware(
        SessionMiddleware, secret_key=SECRET, store=store, secure=False, encryption=keyring
    )
    return TestClient(app)


def put(c: TestClient, params: dict[str, str]) -> str:
    """Store ``params`` in ``c``'s session; its id once saved."""
    c.get("/put", params=params)
    session_id = c.get("/get").json()["id"]
    assert isinstance(session_id, str)
    return session_id


def stored(store: Any, session_id: str) -> dict[str, bytes]:
    data = store.read_data(session_id, now=time.time())
    assert data is not None
    return dict(data)


def overwrite(store: Any, session_id: str, key: str, raw: bytes) -> None:
    """Write raw bytes into a live record, as an attacker with store access could."""
    assert store.save(session_id, Changes(set={key: raw}, updated_at=time.time()))


def test_the_store_holds_no_plaintext_and_the_app_reads_it_back(store: Any) -> None:
    c = client(store, Keyring([K1]))
    session_id = put(c, {"email": EMAIL, "cart": "sku-1"})
    raw = stored(store, session_id)
    assert set(raw) == {"email", "cart"}  # key names stay readable; values do not
    assert all(is_sealed(value) for value in raw.values())
    assert not any(EMAIL.encode() in value or b"sku-1" in value for value in raw.values())
    assert c.get("/get").json()["data"] == {"email": EMAIL, "cart": "sku-1"}


def test_an_unchanged_session_is_not_sealed_again_on_every_request(store: Any) -> None:
    c = client(store, Keyring([K1]))
    session_id = put(c, {"email": EMAIL})
    before = stored(store, session_id)
    c.get("/get")
    assert stored(store, session_id) == before  # no write: the nonce did not change


@pytest.mark.parametrize("damage", ["tamper", "truncate", "unknown-key"])
def test_a_damaged_ciphertext_means_an_empty_session_and_a_new_id(
    store: Any, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    keyring = Keyring([K1])
    c = client(store, keyring)
    session_id = put(c, {"email": EMAIL})
    raw = stored(store, session_id)["email"]
    if damage == "tamper":
        bad = raw[:-1] + bytes([raw[-1] ^ 1])
    elif damage == "truncate":
        bad = raw[:20]
    else:
        bad = Keyring([K2]).seal(session_id, "email", b"\xa3x")
    overwrite(store, session_id, "email", bad)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        response = c.get("/get")
    assert response.status_code == 200 and response.json() == {"data": {}, "id": None}
    assert any("does not decrypt" in r.getMessage() for r in caplog.records)
    assert all(EMAIL not in r.getMessage() for r in caplog.records)
    new_id = put(c, {"x": "1"})
    assert new_id != session_id  # the damaged record is not saved again under its id


def test_a_ciphertext_copied_to_another_session_or_key_does_not_open(store: Any) -> None:
    keyring = Keyring([K1])
    alice, mallory = client(store, keyring), client(store, keyring)
    alice_id = put(alice, {"role": "admin"})
    mallory_id = put(mallory, {"role": "guest", "note": "hi"})
    overwrite(store, mallory_id, "role", stored(store, alice_id)["role"])
    assert mallory.get("/get").json()["data"] == {}
    mallory_id = put(mallory, {"role": "guest", "note": "hi"})
    overwrite(store, mallory_id, "role", stored(store, mallory_id)["note"])  # another key
    assert mallory.get("/get").json()["data"] == {}


def test_keys_rotate_across_requests_with_no_logout(store: Any) -> None:
    old = client(store, Keyring([K1]))
    session_id = put(old, {"email": EMAIL})
    rotated = client(store, Keyring([K2, K1]))
    rotated.cookies.update(old.cookies)
    assert rotated.get("/get").json()["data"] == {"email": EMAIL}
    newest = Keyring([K2]).newest
    assert stored(store, session_id)["email"][2:6] == newest  # sealed again, with the newest
    retired = client(store, Keyring([K2]))  # the old key is gone
    retired.cookies.update(old.cookies)
    assert retired.get("/get").json()["data"] == {"email": EMAIL}


def test_plaintext_records_are_read_and_sealed_when_encryption_is_turned_on(store: Any) -> None:
    plain = client(store, None)
    session_id = put(plain, {"email": EMAIL})
    assert stored(store, session_id)["email"].find(EMAIL.encode()) >= 0
    sealed = client(store, Keyring([K1]))
    sealed.cookies.update(plain.cookies)
    assert sealed.get("/get").json()["data"] == {"email": EMAIL}
    assert is_sealed(stored(store, session_id)["email"])


def test_turning_it_off_without_the_keys_is_refused_loudly(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sealed = client(store, Keyring([K1]))
    session_id = put(sealed, {"email": EMAIL})
    plain = client(store, None)
    plain.cookies.update(sealed.cookies)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        assert plain.get("/get").json()["data"] == {}
    assert any("encryption=Keyring" in r.getMessage() for r in caplog.records)
    assert is_sealed(stored(store, session_id)["email"])  # nothing was lost or rewritten


def test_the_manager_reveals_and_exports_with_the_keys_only(store: Any) -> None:
    c = client(store, Keyring([K1]))
    session_id = put(c, {"email": EMAIL})
    manager = SessionManager(store, encryption=Keyring([K1]))
    assert manager.reveal(session_id, actor="ops") == {"email": EMAIL}
    items = manager.export(actor="ops")["items"]
    assert isinstance(items, list) and items[0]["payload"] == {"email": EMAIL}  # type: ignore[index]
    with pytest.raises(CorruptRecord, match="encryption=Keyring"):
        SessionManager(store).reveal(session_id, actor="ops")


def test_flask_takes_the_same_option(store: Any) -> None:
    app = flask.Flask(__name__)
    Sessionware(app, secret_key=SECRET, store=store, secure=False, encryption=Keyring([K1]))

    @app.get("/put")
    def put() -> str:
        flask.session["email"] = EMAIL
        return str(flask.session.id)

    @app.get("/get")
    def get() -> str:
        return str(flask.session.get("email"))

    test_client = app.test_client()
    test_client.get("/put")
    assert test_client.get("/get").text == EMAIL
    (info,) = SessionManager(store).list().items
    assert is_sealed(stored(store, info.id)["email"])


def test_keyring_refuses_bad_keys_and_hides_them() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Keyring([b"short"])
    with pytest.raises(ConfigurationError, match="same key twice"):
        Keyring([K1, K1])
    with pytest.raises(ConfigurationError, match="at least one"):
        Keyring([])
    for wrong in (bytearray(K1), ["first-secret-passphrase", "older-secret-passphrase"]):
        with pytest.raises(ConfigurationError, match=r"not a (bytearray|list)") as refused:
            Keyring([wrong])  # type: ignore[list-item]  # (a list nested one level too deep)
        assert "secret" not in str(refused.value) and "\\x" not in str(refused.value)
    ring = Keyring(["a passphrase", K1])
    assert K1.hex() not in repr(ring) and "passphrase" not in repr(ring)
    sealed = ring.seal("sid", "k", b"\xa1x")
    assert ring.open("sid", "k", sealed) == (b"\xa1x", True)
    assert Keyring([K1, "a passphrase"]).open("sid", "k", sealed) == (b"\xa1x", False)
    with pytest.raises(ConfigurationError, match="Keyring"):
        SessionMiddleware(Starlette(), secret_key=SECRET, encryption="k" * 32)  # type: ignore[arg-type]
