"""Blind writes: a request that only sets keys is saved by one store call, no load.

Real apps of every shell (Starlette with ``autoload=False``; WSGI and Flask, where
loading is lazy) on every store of ``shells.store``, over HTTP. ``CountingStore``
records the store calls each request makes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from sessionware import Keyring, SessionTooLarge, codec
from sessionware.cookies import public_id
from sessionware.stores.base import Changes

from .helpers import CountingStore, token_of
from .shells import SHELLS, shell_client, store

__all__ = ["store"]

SYNC_SHELLS = ("wsgi", "flask")  # a sync handler may read the session too


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/login":
        session["user"] = "ann"
        session["n"] = 1
    elif path == "/put":
        try:
            session[params["key"]] = params["value"] * int(params.get("times", "1"))
        except SessionTooLarge:
            return 413, {}, {}
    elif path == "/put-then-change":  # a list set blind, then changed in place
        cart: list[str] = []
        session["cart"] = cart
        cart.append(params["value"])
    elif path == "/read":
        return 200, dict(session), {}
    elif path == "/put-then-read":
        session["cart"] = params["value"]
        return 200, dict(session), {}
    return 200, {}, {}


def options(kind: str, **more: Any) -> dict[str, Any]:
    return {"autoload": False, **more} if kind == "starlette" else more


def session_id(client: Any) -> str:
    return public_id(token_of(client.cookies["session"]))


def data(store: Any, sid: str) -> dict[str, bytes] | None:
    return store.read_data(sid, now=time.time())


@pytest.mark.parametrize("kind", SHELLS)
def test_a_request_that_only_sets_keys_is_one_store_call(kind: str, store: Any) -> None:
    counting = CountingStore(store)
    with shell_client(kind, handler, counting, **options(kind)) as client:
        assert client.get("/login").status_code == 200
        sid = session_id(client)
        counting.calls.clear()
        response = client.get("/put", params={"key": "cart", "value": "socks"})
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert "Cookie" in response.headers.get("vary", "")
        assert counting.names() == ["write"]
    stored = data(store, sid)
    assert stored is not None and set(stored) == {"user", "n", "cart"}
    meta = store.get_meta(sid, now=time.time())
    assert meta is not None and meta.attribute_count == 3 and meta.user is None


@pytest.mark.parametrize("kind", SHELLS)
def test_a_blind_write_to_a_revoked_session_starts_a_new_one(kind: str, store: Any) -> None:
    with shell_client(kind, handler, store, **options(kind)) as client:
        client.get("/login")
        old = session_id(client)
        assert store.revoke(old, actor="test", now=time.time()) is True
        response = client.get("/put", params={"key": "cart", "value": "socks"})
        assert response.status_code == 200
        assert "session=" in response.headers["set-cookie"]
        new = session_id(client)
    assert new != old
    assert data(store, old) is None  # revoked stays revoked: nothing came back
    old_meta = store.get_meta(old, now=time.time())
    assert old_meta is not None and old_meta.status == "revoked"
    assert set(data(store, new) or {}) == {"cart"}  # only what this request set


@pytest.mark.parametrize("kind", SHELLS)
def test_a_blind_write_over_the_cap_is_refused_and_writes_nothing(kind: str, store: Any) -> None:
    with shell_client(kind, handler, store, **options(kind, max_payload_bytes=200)) as client:
        client.get("/login")
        sid = session_id(client)
        before = data(store, sid)
        alone = client.get("/put", params={"key": "big", "value": "x", "times": "300"})
        assert alone.status_code == 413  # one value over the cap: at the assignment
        client.get("/put", params={"key": "a", "value": "x", "times": "120"})
        response = client.get("/put", params={"key": "b", "value": "y", "times": "120"})
        assert response.status_code == 500  # together over the cap: found by the store
        assert "set-cookie" not in response.headers
    stored = data(store, sid)
    assert stored is not None and before is not None
    assert set(stored) == {*before, "a"} and "b" not in stored


@pytest.mark.parametrize("kind", SYNC_SHELLS)
def test_a_read_after_a_blind_set_loads_and_keeps_the_set(kind: str, store: Any) -> None:
    counting = CountingStore(store)
    with shell_client(kind, handler, counting) as client:
        client.get("/login")
        counting.calls.clear()
        body = client.get("/put-then-read", params={"value": "hat"}).json()
        assert body == {"user": "ann", "n": 1, "cart": "hat"}
        assert counting.names() == ["load", "save"]


@pytest.mark.parametrize("kind", SYNC_SHELLS)
def test_the_user_key_and_encryption_always_load_first(kind: str, store: Any) -> None:
    counting = CountingStore(store)
    with shell_client(kind, handler, counting, user_key="user") as client:
        client.get("/login")
        sid = session_id(client)
        counting.calls.clear()
        client.get("/put", params={"key": "user", "value": "bob"})
        assert counting.names() == ["load", "rotate"]  # another user: a sign-in, a new id
        assert session_id(client) != sid
        meta = store.get_meta(session_id(client), now=time.time())
        assert meta is not None and meta.user == "bob"  # the index follows the user
        counting.calls.clear()
        client.get("/put", params={"key": "cart", "value": "socks"})
        assert counting.names() == ["write"]  # any other key: blind
    keyring = Keyring([b"k" * 32])
    counting = CountingStore(store)
    with shell_client(kind, handler, counting, encryption=keyring) as client:
        client.get("/login")
        counting.calls.clear()
        client.get("/put", params={"key": "cart", "value": "socks"})
        assert counting.names() == ["load", "save"]


def test_autoload_off_lets_a_new_visitor_set_keys_before_any_load(store: Any) -> None:
    with shell_client("starlette", handler, store, autoload=False) as client:
        response = client.get("/put", params={"key": "cart", "value": "socks"})
        assert response.status_code == 200 and "session=" in response.headers["set-cookie"]
        assert set(data(store, session_id(client)) or {}) == {"cart"}


@pytest.mark.parametrize("kind", SYNC_SHELLS)
def test_keys_are_never_written_blind_into_a_record_that_does_not_load(
    kind: str, store: Any
) -> None:
    with shell_client(kind, handler, store) as client:
        client.get("/login")
        old = session_id(client)
        undecodable = Changes(set={"n": b"\xc1"}, updated_at=time.time(), size_bytes=10)
        assert store.save(old, undecodable) is True  # a value no codec wrote
        assert client.get("/read").json() == {}  # unusable: an empty session, not a 500
        response = client.get("/put", params={"key": "user", "value": "bob"})
        assert "session=" in response.headers["set-cookie"]  # a new session, not the dead one
        assert client.get("/read").json() == {"user": "bob"}
    assert session_id(client) != old


@pytest.mark.parametrize("kind", SHELLS)
def test_a_value_changed_in_place_after_a_blind_set_is_saved_changed(kind: str, store: Any) -> None:
    counting = CountingStore(store)
    with shell_client(kind, handler, counting, **options(kind)) as client:
        client.get("/login")
        counting.calls.clear()
        client.get("/put-then-change", params={"value": "hat"})
        assert counting.names() == ["write"]
        sid = session_id(client)
    manager_view = data(store, sid)
    assert manager_view is not None
    assert codec.decode(manager_view["cart"]) == ["hat"]
