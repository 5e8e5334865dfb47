"""A sign-in that forgets ``regenerate()`` still gets a new id (``rotate_on_login``).

Session fixation: whoever planted a session id in a victim's browser (a cookie set by a
sibling subdomain, an XSS long fixed) must not share the session the victim then signs
in to. Django's ``login()`` renews the id; here, a write that names a user (the
``user_key``, or a type's selector) other than the one the loaded record names does
too, keeping the data. Real apps of every shell, on every store of ``shells.store``.
"""

from __future__ import annotations

from typing import Any

import pytest

from sessionware import ConfigurationError, MemoryStore, SessionManager
from sessionware.cookies import public_id

from .helpers import CountingStore, token_of
from .shells import SHELLS, shell_client, store

__all__ = ["store"]


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/cart":  # an anonymous visitor's first write
        session["cart"] = params["sku"]
    elif path == "/login":  # a sign-in that does not call regenerate()
        session["user"] = params["user"]
    elif path == "/touch":
        session["seen"] = session.get("seen", 0) + 1
    return 200, {"user": session.get("user"), "cart": session.get("cart")}, {}


def session_id(client: Any) -> str:
    return public_id(token_of(client.cookies["session"]))


def planted(client: Any, cookie: str, path: str = "/read") -> Any:
    """The answer to a request with ``cookie`` (the attacker's copy of the id), in
    place of the client's own."""
    return client.get(path, headers={"cookie": f"session={cookie}"})


@pytest.mark.parametrize("kind", SHELLS)
def test_a_sign_in_without_regenerate_gets_a_new_id_and_keeps_the_data(
    kind: str, store: Any
) -> None:
    counting = CountingStore(store)
    with shell_client(kind, handler, counting, user_key="user") as client:
        client.get("/cart", params={"sku": "tea"})
        fixed, fixed_id = client.cookies["session"], session_id(client)
        counting.calls.clear()
        body = client.get("/login", params={"user": "ann"}).json()
        assert body == {"user": "ann", "cart": "tea"}
        assert counting.names() == ["load", "rotate"]
        signed_in = client.cookies["session"]
        assert signed_in != fixed and session_id(client) != fixed_id
        meta = SessionManager(store).get(session_id(client))
        assert meta is not None and meta.user == "ann"
        # the planted id opens nothing: a fresh, empty session; a write with it is told
        # that a sign-in took the session (409), and stores nothing
        assert planted(client, fixed).json() == {"user": None, "cart": None}
        assert planted(client, fixed, "/touch").status_code == 409
        assert client.cookies["session"] == signed_in
        counting.calls.clear()
        assert client.get("/login", params={"user": "ann"}).json()["user"] == "ann"
        assert counting.names()[-1] != "rotate"  # the same user again: no new id
        assert client.cookies["session"] == signed_in
        client.get("/login", params={"user": "bob"})  # another user: a new id again
        assert client.cookies["session"] != signed_in


@pytest.mark.parametrize("kind", SHELLS)
def test_rotate_on_login_false_keeps_the_id(kind: str) -> None:
    store = MemoryStore()
    with shell_client(kind, handler, store, user_key="user", rotate_on_login=False) as client:
        client.get("/cart", params={"sku": "tea"})
        fixed = client.cookies["session"]
        client.get("/login", params={"user": "ann"})
        assert client.cookies["session"] == fixed
        assert planted(client, fixed).json()["user"] == "ann"  # as before: the app's choice


@pytest.mark.parametrize("kind", SHELLS)
def test_writes_that_name_no_user_never_rotate(kind: str) -> None:
    counting = CountingStore(MemoryStore())
    with shell_client(kind, handler, counting, user_key="user") as client:
        client.get("/cart", params={"sku": "tea"})
        fixed = client.cookies["session"]
        for _ in range(3):
            client.get("/touch")
        assert "rotate" not in counting.names() and client.cookies["session"] == fixed
    with shell_client(kind, handler, counting) as client:  # no user_key: no user at all
        client.get("/cart", params={"sku": "tea"})
        fixed = client.cookies["session"]
        client.get("/login", params={"user": "ann"})
        assert "rotate" not in counting.names() and client.cookies["session"] == fixed


def test_rotate_on_login_must_be_a_bool() -> None:
    from starlette.applications import Starlette

    from sessionware import SessionMiddleware

    with pytest.raises(ConfigurationError, match="rotate_on_login"):
        SessionMiddleware(Starlette(), secret_key="k" * 32, rotate_on_login="false")  # type: ignore[arg-type]


def nested(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/login":  # the user under a nested key, as user_key="account.id" reads it
        session["account"] = {"id": params["user"], "plan": "free"}
    elif path == "/upgrade":  # the same user, another field of the same dict
        session["account"]["plan"] = "pro"
    elif path == "/again":  # the same user written back
        session["account"] = {"id": session["account"]["id"], "plan": "free"}
    account = session.get("account") or {}  # a read of a mutable value
    return 200, {"user": account.get("id")}, {}


@pytest.mark.parametrize("kind", SHELLS)
def test_reading_or_rewriting_the_same_user_keeps_the_id(kind: str) -> None:
    counting = CountingStore(MemoryStore())
    with shell_client(kind, nested, counting, user_key="account.id") as client:
        client.get("/login", params={"user": "ann"})
        signed_in = client.cookies["session"]
        counting.calls.clear()
        for path in ("/read", "/upgrade", "/again", "/read"):
            assert client.get(path).json() == {"user": "ann"}
        assert "rotate" not in counting.names()
        assert client.cookies["session"] == signed_in


@pytest.mark.parametrize("kind", SHELLS)
def test_the_same_user_under_another_key_or_not_yet_hashed_is_no_sign_in(kind: str) -> None:
    """A new key in the ring (hash_user_ids), or hash_user_ids turned on: the record
    names the user as it was indexed then; that is no sign-in, however it is written."""
    from sessionware import Keyring

    store = CountingStore(MemoryStore())
    old, new = b"o" * 32, b"n" * 32
    with shell_client(kind, nested, store, user_key="account.id") as client:
        client.get("/login", params={"user": "ann"})  # indexed as plain "ann"
        cookie = client.cookies["session"]

    def ask(client: Any, path: str, **params: str) -> str:
        """The cookie after ``path`` sent with ``cookie``."""
        answer = client.get(path, params=params, headers={"cookie": f"session={cookie}"})
        assert answer.status_code == 200
        return str(answer.cookies.get("session") or cookie)

    for ring in (Keyring([old], hash_user_ids=True), Keyring([new, old], hash_user_ids=True)):
        with shell_client(kind, nested, store, user_key="account.id", encryption=ring) as c:
            store.calls.clear()
            for path in ("/upgrade", "/again"):
                assert ask(c, path) == cookie
            assert "rotate" not in store.names()
            cookie = ask(c, "/login", user="bob")  # another user: still a sign-in
            assert "rotate" in store.names()
            cookie = ask(c, "/login", user="ann")
