"""Session tokens through the manager: generate, decrypt, refresh, reuse, users.

Every test runs on MemoryStore, RedisStore and SQLiteStore; the async twins
run the same rules through AsyncSessionManager.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from sessionware import (
    AsyncSessionManager,
    ConfigurationError,
    InvalidToken,
    Keyring,
    MemoryStore,
    RefreshTokenReused,
    SchemaViolation,
    SessionManager,
    SessionToken,
    TokenError,
    TokenExpired,
    TokenRevoked,
    UnknownSessionType,
    UnstorableValue,
)
from sessionware.cookies import CookieSigner, TokenSigner, public_id
from sessionware.stores.base import Meta
from sessionware.tokens import REUSE

from .token_support import SECRET, any_store, define_types

__all__ = ["any_store"]

ALICE = {"userId": "alice", "email": "alice@example.com", "role": "admin"}
BOB = {"userId": "bob", "email": "bob@example.com", "role": "user"}


@pytest.fixture
def manager(any_store: Any) -> SessionManager:
    made = SessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    return made


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def secret_of(token: str) -> str:
    """The 256-bit secret inside a signed token (what must never reach the store)."""
    verified = TokenSigner(SECRET).verify(token)
    assert verified is not None
    return verified.token


def assert_a_reuse_is_caught(manager: SessionManager, issued: SessionToken) -> None:
    """``issued``'s refresh token works once; presented again, it revokes the session."""
    renewed = manager.refresh(issued.refresh_token)
    with pytest.raises(RefreshTokenReused):
        manager.refresh(issued.refresh_token)
    with pytest.raises(TokenRevoked):
        manager.decrypt(renewed.token)


# -- generate and decrypt ---------------------------------------------------------------


def test_token_calls_need_the_secret_key(any_store: Any) -> None:
    define_types(any_store)
    manager = SessionManager(any_store)
    for call, argument in (
        (lambda: manager.generate("user-session", ALICE), None),
        (manager.decrypt, "x"),
        (manager.refresh, "x"),
    ):
        with pytest.raises(ConfigurationError, match="secret_key"):
            call() if argument is None else call(argument)  # type: ignore[operator]


@pytest.mark.anyio
async def test_without_a_secret_key_both_managers_say_so_before_reading_the_type() -> None:
    """The async generate read the type first: an unknown tag (or a store down) hid
    the missing key behind UnknownSessionType (or StoreUnavailable)."""
    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="secret_key"):
        SessionManager(store).generate("no-such-type", ALICE)
    with pytest.raises(ConfigurationError, match="secret_key"):
        await AsyncSessionManager(store).generate("no-such-type", ALICE)


def test_generate_starts_a_session_of_the_type(manager: SessionManager) -> None:
    before = time.time()
    issued = manager.generate("user-session", ALICE)
    assert isinstance(issued, SessionToken)
    assert issued.session_id == public_id(secret_of(issued.token))
    assert manager.decrypt(issued.token) == ALICE
    info = manager.get(issued.session_id)
    assert info is not None and info.status == "active"
    assert info.user == "alice" and info.app == "user-session"
    # the type's lifetime, from the moment of generate, and no sliding
    created = info.created_at.timestamp()
    assert before <= created <= time.time()
    assert issued.expires_at == datetime.fromtimestamp(created + 7 * 86400, timezone.utc)
    assert info.expires_at == issued.expires_at


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**ALICE, "cart": ["sku-1"]}, "cart"),  # outside the schema
        ({**ALICE, "role": 3}, "role"),  # the wrong type
        ({"userId": "alice", "email": "alice@example.com"}, "role"),  # a field missing
    ],
    ids=["unknown-key", "wrong-type", "missing"],
)
def test_generate_validates_the_payload_against_the_type(
    manager: SessionManager, payload: dict[str, Any], field: str
) -> None:
    with pytest.raises(SchemaViolation) as caught:
        manager.generate("user-session", payload)
    assert caught.value.field == field
    assert manager.list().total_items == 0  # nothing was stored


@pytest.mark.parametrize("key", [5, b"n", None], ids=["int", "bytes", "none"])
def test_generate_refuses_a_key_that_is_no_str(manager: SessionManager, key: Any) -> None:
    with pytest.raises(UnstorableValue, match="session keys must be str"):
        manager.generate("user-session", {**ALICE, key: 1})
    assert manager.list().total_items == 0


def test_generate_refuses_an_unknown_type(manager: SessionManager) -> None:
    with pytest.raises(UnknownSessionType):
        manager.generate("no-such-type", ALICE)
    with pytest.raises(UnknownSessionType):
        manager.users("no-such-type")


def test_a_type_updated_elsewhere_sets_the_next_lifetime(manager: SessionManager) -> None:
    first = manager.generate("checkout-session", {"userId": "alice", "cart": []})
    assert first.expires_at - manager.get(first.session_id).created_at == timedelta(hours=1)  # type: ignore[union-attr]
    SessionManager(manager.store).types.update(tag="checkout-session", expiry=2)
    second = manager.refresh(first.refresh_token)
    renewed_at = manager.get(second.session_id).last_activity_at  # type: ignore[union-attr]
    assert second.expires_at - renewed_at == timedelta(hours=2)


def test_the_store_sees_only_hashes(manager: SessionManager, any_store: Any) -> None:
    issued = manager.generate("user-session", ALICE)
    secrets = [secret_of(issued.token), issued.token, issued.refresh_token]
    listing = manager.list()
    assert [row.id for row in listing.items] == [issued.session_id]
    exported = json.dumps(manager.export(include_metadata=True, actor="ops"), default=str)
    dumped = repr(issued) + exported + repr(listing) + repr(manager.audit_log())
    for secret in secrets:
        assert secret not in dumped
    assert issued.session_id in repr(issued)
    assert any_store.read_data(public_id(secret_of(issued.token)), now=time.time()) is not None


def test_decrypt_refuses_bad_tokens(manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    forged = issued.token[:-2] + ("AA" if not issued.token.endswith("AA") else "BB")
    other_key = TokenSigner("another-key").sign(secret_of(issued.token))
    as_cookie = CookieSigner(SECRET).sign(secret_of(issued.token))  # a cookie is no token
    for bad in (
        forged,
        other_key,
        as_cookie,
        "",
        "garbage",
        "a.b.c",
        "x" * 5000,
        issued.refresh_token,
    ):
        with pytest.raises(InvalidToken):
            manager.decrypt(bad)
    with pytest.raises(InvalidToken):
        manager.decrypt(None)  # type: ignore[arg-type]


def test_decrypt_never_gives_another_sessions_payload(manager: SessionManager) -> None:
    alice = manager.generate("user-session", ALICE)
    bob = manager.generate("user-session", BOB)
    assert manager.decrypt(alice.token) == ALICE
    assert manager.decrypt(bob.token) == BOB
    manager.revoke(bob.session_id, actor="ops")
    with pytest.raises(TokenRevoked) as caught:
        manager.decrypt(bob.token)
    assert caught.value.session_id == bob.session_id
    assert manager.decrypt(alice.token) == ALICE


def test_decrypt_says_expired(manager: SessionManager) -> None:
    issued = manager.generate("checkout-session", {"userId": "alice", "cart": ["sku-1"]})
    assert manager.set_ttl(issued.session_id, 0.05)
    time.sleep(0.2)
    with pytest.raises(TokenExpired):
        manager.decrypt(issued.token)
    with pytest.raises(TokenExpired):
        manager.refresh(issued.refresh_token)


def test_per_user_revocation_reaches_token_sessions(manager: SessionManager) -> None:
    phone = manager.generate("user-session", ALICE)
    tablet = manager.generate("user-session", ALICE)
    bob = manager.generate("user-session", BOB)
    assert {s.id for s in manager.user_sessions("alice")} == {phone.session_id, tablet.session_id}
    assert manager.revoke_user("alice", actor="ops", keep=tablet.session_id) == 1
    with pytest.raises(TokenRevoked):
        manager.decrypt(phone.token)
    assert manager.decrypt(tablet.token) == ALICE
    assert manager.decrypt(bob.token) == BOB


def test_old_keys_still_verify_tokens(any_store: Any) -> None:
    old = SessionManager(any_store, secret_key="old-key")
    define_types(any_store)
    issued = old.generate("user-session", ALICE)
    rotated = SessionManager(any_store, secret_key=["new-key", "old-key"])
    assert rotated.decrypt(issued.token) == ALICE
    renewed = rotated.refresh(issued.refresh_token)
    assert SessionManager(any_store, secret_key="new-key").decrypt(renewed.token) == ALICE


def test_the_manager_takes_the_secrets_the_middleware_takes() -> None:
    """Starlette's Secret and pydantic's SecretStr/SecretBytes, alone or in a key list:
    the middleware took them, the manager raised TypeError (or failed at generate)."""
    from pydantic import SecretBytes, SecretStr
    from starlette.datastructures import Secret

    from sessionware import MemoryStore

    new, old = "the-newest-token-key-0123456789abcdef", "an-older-token-key-0123456789abcdef"
    for held, plain in (
        (SecretStr(new), new),
        (Secret(new), new),
        (SecretBytes(new.encode()), new),
        ([SecretStr(new), old], [new, old]),
        ([Secret(new), SecretBytes(old.encode())], [new, old]),
    ):
        store = MemoryStore()
        define_types(store)
        manager = SessionManager(store, secret_key=held)  # type: ignore[arg-type]
        issued = manager.generate("user-session", ALICE)
        same = SessionManager(store, secret_key=plain)
        assert same.decrypt(issued.token) == ALICE, held
        renewed = same.refresh(issued.refresh_token)
        assert manager.decrypt(renewed.token) == ALICE, held
    with pytest.raises(ConfigurationError, match="secret_key"):
        SessionManager(MemoryStore(), secret_key=[SecretStr("")])  # type: ignore[list-item]


def test_encrypted_payloads(any_store: Any) -> None:
    keyring = Keyring(["a passphrase for the token tests"])
    manager = SessionManager(any_store, secret_key=SECRET, encryption=keyring)
    define_types(any_store)
    issued = manager.generate("user-session", ALICE)
    stored = any_store.read_data(issued.session_id, now=time.time())
    assert b"alice@example.com" not in b"".join(stored.values())
    renewed = manager.refresh(issued.refresh_token)
    assert manager.decrypt(renewed.token) == ALICE


@pytest.mark.anyio
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_hash_user_ids_holds_for_token_sessions(any_store: Any, sync: bool) -> None:
    """The user index holds the keyed hash from generate on, as a middleware's write
    records it; a reused refresh token is still caught, after a key rotation too."""
    ring = Keyring(["token tests, first key"], hash_user_ids=True)
    manager = SessionManager(any_store, secret_key=SECRET, encryption=ring)
    define_types(any_store)
    issued = manager.generate("user-session", ALICE)
    info = manager.get(issued.session_id)
    assert info is not None and info.user == ring.user_tag("alice")
    assert [i.id for i in manager.user_sessions("alice")] == [issued.session_id]
    assert manager.list(user="alice").total_items == 1
    rotated = Keyring(["token tests, second key", "token tests, first key"], hash_user_ids=True)
    later: Any = (SessionManager if sync else AsyncSessionManager)(
        any_store, secret_key=SECRET, encryption=rotated
    )

    async def call(method: str, *args: Any) -> Any:
        result = getattr(later, method)(*args)
        return result if sync else await result

    second = await call("refresh", issued.refresh_token)
    with pytest.raises(RefreshTokenReused):
        await call("refresh", issued.refresh_token)
    with pytest.raises(TokenRevoked):
        await call("decrypt", second.token)


def test_a_refresh_files_the_session_under_the_newest_keys_hash(any_store: Any) -> None:
    """After a key rotation, a refresh files the session under the new key's hash, so
    that dropping the old key leaves it to revoke_user and to reuse detection."""
    old = Keyring(["token tests, first key"], hash_user_ids=True)
    define_types(any_store)
    issued = SessionManager(any_store, secret_key=SECRET, encryption=old).generate(
        "user-session", ALICE
    )
    both = Keyring(["token tests, second key", "token tests, first key"], hash_user_ids=True)
    second = SessionManager(any_store, secret_key=SECRET, encryption=both).refresh(
        issued.refresh_token
    )
    new = Keyring(["token tests, second key"], hash_user_ids=True)
    manager = SessionManager(any_store, secret_key=SECRET, encryption=new)
    info = manager.get(second.session_id)
    assert info is not None and info.user == new.user_tag("alice")
    assert [i.id for i in manager.user_sessions("alice")] == [second.session_id]
    assert_a_reuse_is_caught(manager, second)
    fourth = manager.generate("user-session", ALICE)
    assert manager.revoke_user("alice", actor="ops") == 1
    with pytest.raises(TokenRevoked):
        manager.decrypt(fourth.token)


def test_a_refresh_files_the_session_under_the_user_its_data_names_now(
    manager: SessionManager,
) -> None:
    """The user follows the type's selector, as a bound middleware's write files it:
    after the selector changed, the refreshed session is the new value's, and a reuse
    of the refresh token that refresh issued is caught."""
    first = manager.generate("user-session", ALICE)
    manager.types.update(tag="user-session", selector="$Session{email}")
    second = manager.refresh(first.refresh_token)
    assert [i.id for i in manager.user_sessions("alice@example.com")] == [second.session_id]
    assert manager.user_sessions("alice") == []
    assert_a_reuse_is_caught(manager, second)


@pytest.mark.parametrize(
    ("selector", "role"),
    [("$Session{nick}", "admin"), ("$Session{role}", "r" * 2000)],
    ids=["a-field-the-data-lacks", "a-value-no-index-holds"],
)
def test_a_refresh_keeps_the_claimed_user_where_the_selector_names_none_now(
    manager: SessionManager, selector: str, role: str
) -> None:
    """A selector moved to a field the data lacks, or to a value too long to index: the
    refresh neither fails (a 500) nor files the session under no user (which would
    take it out of reuse detection and revoke_user)."""
    first = manager.generate("user-session", {**ALICE, "role": role})
    kind = manager.types.fetch("user-session")
    manager.types.update(tag="user-session", schema={**kind.schema, "nick": "string?"})
    manager.types.update(tag="user-session", selector=selector)
    second = manager.refresh(first.refresh_token)
    assert [i.id for i in manager.user_sessions("alice")] == [second.session_id]
    assert_a_reuse_is_caught(manager, second)


def test_a_session_that_can_no_longer_be_used_is_an_invalid_token(any_store: Any) -> None:
    """Values sealed under a key since dropped, or a type deleted while its sessions
    live: decrypt and refresh answer InvalidToken (a TokenError, which a /refresh
    endpoint turns into a 401), never another error."""
    old, new = Keyring(["token tests, old key"]), Keyring(["token tests, new key"])
    manager = SessionManager(any_store, secret_key=SECRET, encryption=old)
    define_types(any_store)
    sealed = manager.generate("user-session", ALICE)
    dropped = SessionManager(any_store, secret_key=SECRET, encryption=new)
    with pytest.raises(InvalidToken, match="do not open") as caught:
        dropped.decrypt(sealed.token)
    assert caught.value.session_id == sealed.session_id
    with pytest.raises(InvalidToken, match="do not open"):
        dropped.refresh(sealed.refresh_token)
    assert manager.decrypt(sealed.token) == ALICE  # nothing was changed
    manager.types.create(name="Short", schema={"userId": "string"}, expiry=1, period="hour")
    short = manager.generate("short", {"userId": "alice"})
    manager.types.delete("short", force=True)
    with pytest.raises(InvalidToken, match="'short' no longer exists"):
        manager.refresh(short.refresh_token)
    assert manager.decrypt(short.token) == {"userId": "alice"}  # it lives on until it ends


@pytest.mark.parametrize(
    ("field", "same", "other"),
    [
        ("number", [2, 2.0], 2.5),
        ("decimal", [Decimal("1.1"), Decimal("1.10"), Decimal("1.100")], Decimal("1.01")),
        ("uuid", [UUID(int=7), UUID(int=7)], UUID(int=8)),
    ],
)
def test_one_user_however_the_selector_value_was_written(
    any_store: Any, field: str, same: list[Any], other: Any
) -> None:
    """2 and 2.0, or Decimal("1.1") and Decimal("1.10"), name one user: the listing
    counts one, and revoking by any of its spellings ends all of its sessions."""
    manager = SessionManager(any_store, secret_key=SECRET)
    tag = f"by-{field}"
    manager.types.create(
        name=tag, schema={"who": field}, selector="$Session{who}", expiry=1, period="hour"
    )
    for value in same:
        manager.generate(tag, {"who": value})
    manager.generate(tag, {"who": other})
    counted = sorted(u.sessions for u in manager.users(tag).items)
    assert counted == [1, len(same)]
    assert len(manager.user_sessions(same[-1])) == len(same)
    assert manager.revoke_user(same[0], actor="test") == len(same)
    assert manager.list(status="active").total_items == 1  # the other user's


def test_a_nan_or_an_infinity_names_no_user(any_store: Any) -> None:
    """A number selector that passes its schema with a NaN or an infinity filed the
    session under the users "nan" and "inf": one "log out everywhere" would end every
    such session of every user."""
    manager = SessionManager(any_store, secret_key=SECRET)
    manager.types.create(
        name="by-n", schema={"who": "number"}, selector="$Session{who}", expiry=1, period="hour"
    )
    odd = [manager.generate("by-n", {"who": v}) for v in (math.nan, math.inf, -math.inf)]
    manager.generate("by-n", {"who": 3})
    assert [manager.get(i.session_id).user for i in odd] == [None] * 3  # type: ignore[union-attr]
    assert [u.user for u in manager.users("by-n").items] == ["3"]


def test_a_number_recorded_before_numbers_had_one_form_is_still_found(any_store: Any) -> None:
    """A session indexed as str() wrote a float user ("2.0", before "2") is found by
    that number, so a "log out everywhere" misses none of its sessions."""
    now = time.time()
    for session_id, user in (("a" * 32, "2.0"), ("b" * 32, "2")):
        meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60)
        meta.user = user
        any_store.create(session_id, {"n": b"\x01"}, meta)
    manager = SessionManager(any_store)
    assert sorted(i.id for i in manager.user_sessions(2.0)) == ["a" * 32, "b" * 32]
    assert [i.id for i in manager.user_sessions(2)] == ["b" * 32]  # as it always was
    assert manager.revoke_user(2.0, actor="test") == 2


# -- refresh ----------------------------------------------------------------------------


def test_refresh_replaces_both_tokens(manager: SessionManager) -> None:
    first = manager.generate("user-session", ALICE)
    created = manager.get(first.session_id).created_at  # type: ignore[union-attr]
    time.sleep(0.01)
    second = manager.refresh(first.refresh_token)
    assert second.session_id != first.session_id
    assert second.token != first.token and second.refresh_token != first.refresh_token
    assert second.expires_at > first.expires_at  # a new lifetime, from the refresh
    assert manager.decrypt(second.token) == ALICE
    with pytest.raises(InvalidToken):  # the old token is worthless at once
        manager.decrypt(first.token)
    info = manager.get(second.session_id)
    assert info is not None and info.created_at == created and info.user == "alice"
    assert manager.get(first.session_id) is None  # one session, under its new id
    assert manager.list(status="active").total_items == 1
    third = manager.refresh(second.refresh_token)  # the new refresh token works, once
    assert manager.decrypt(third.token) == ALICE


def test_a_reused_refresh_token_revokes_the_session(manager: SessionManager) -> None:
    first = manager.generate("user-session", ALICE)
    sibling = manager.generate("user-session", ALICE)  # alice's other device
    second = manager.refresh(first.refresh_token)
    with pytest.raises(RefreshTokenReused) as caught:
        manager.refresh(first.refresh_token)
    assert isinstance(caught.value, TokenRevoked) and caught.value.session_id == second.session_id
    with pytest.raises(TokenRevoked):  # the thief's (or the owner's) new token is dead too
        manager.decrypt(second.token)
    with pytest.raises(TokenRevoked):
        manager.refresh(second.refresh_token)
    assert manager.decrypt(sibling.token) == ALICE  # only that session
    entries = manager.audit_log(action=REUSE)
    assert [entry.session_id for entry in entries] == [second.session_id]
    info = manager.get(second.session_id)
    assert info is not None and info.status == "revoked"


def test_refresh_refuses_bad_refresh_tokens(manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    for bad in ("", "garbage", issued.token, issued.refresh_token[:-3] + "xyz", "a" * 10_000):
        with pytest.raises(InvalidToken):
            manager.refresh(bad)
    manager.revoke(issued.session_id, actor="ops")
    with pytest.raises(TokenRevoked):
        manager.refresh(issued.refresh_token)


def test_token_errors_never_show_tokens(manager: SessionManager, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    issued = manager.generate("user-session", ALICE)
    manager.refresh(issued.refresh_token)
    with pytest.raises(TokenError) as caught:
        manager.refresh(issued.refresh_token)
    shown = str(caught.value) + repr(caught.value) + caplog.text
    assert issued.refresh_token not in shown and secret_of(issued.token) not in shown


# -- users --------------------------------------------------------------------------------


def test_users_counts_live_sessions_per_user(manager: SessionManager) -> None:
    for _ in range(3):
        manager.generate("user-session", ALICE)
    bob = manager.generate("user-session", BOB)
    manager.generate("user-session", {**BOB, "userId": "carol"})
    manager.generate("checkout-session", {"userId": "dave", "cart": []})
    page = manager.users("user-session")
    assert [(u.user, u.sessions) for u in page.items] == [("alice", 3), ("bob", 1), ("carol", 1)]
    assert page.total_items == 3 and page.total_pages == 1
    second = manager.users("user-session", page=1, page_size=2)
    assert [(u.user, u.sessions) for u in second.items] == [("carol", 1)]
    manager.revoke(bob.session_id, actor="ops")
    assert [u.user for u in manager.users("user-session").items] == ["alice", "carol"]
    assert [u.user for u in manager.users("checkout-session").items] == ["dave"]
    with pytest.raises(ConfigurationError):
        manager.users("user-session", page_size=0)


# -- the async manager --------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_manager_runs_the_same_rules(any_store: Any) -> None:
    manager = AsyncSessionManager(any_store, secret_key=SECRET)
    define_types(any_store)
    first = await manager.generate("user-session", ALICE)
    await manager.generate("user-session", ALICE)
    assert await manager.decrypt(first.token) == ALICE
    second = await manager.refresh(first.refresh_token)
    with pytest.raises(InvalidToken):
        await manager.decrypt(first.token)
    assert await manager.decrypt(second.token) == ALICE
    page = await manager.users("user-session")
    assert [(u.user, u.sessions) for u in page.items] == [("alice", 2)]
    with pytest.raises(RefreshTokenReused):
        await manager.refresh(first.refresh_token)
    with pytest.raises(TokenRevoked):
        await manager.decrypt(second.token)
    assert [e.session_id for e in await manager.audit_log(action=REUSE)] == [second.session_id]
    without_key = AsyncSessionManager(any_store)
    with pytest.raises(ConfigurationError, match="secret_key"):
        await without_key.decrypt(first.token)


def test_racing_refreshes_never_leave_two_live_sessions(manager: SessionManager) -> None:
    issued = manager.generate("user-session", ALICE)
    barrier = threading.Barrier(4)
    outcomes: list[object] = []

    def refresh() -> None:
        barrier.wait()
        try:
            outcomes.append(manager.refresh(issued.refresh_token))
        except TokenError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if isinstance(o, SessionToken)]
    assert len(outcomes) == 4 and len(winners) <= 1
    live = manager.list(status="active").items
    assert len(live) <= 1
    if any(isinstance(o, RefreshTokenReused) for o in outcomes):
        assert live == []  # reuse was seen: the session is revoked, whoever won


def test_without_a_user_a_reused_refresh_token_is_refused(any_store: Any) -> None:
    manager = SessionManager(any_store, secret_key=SECRET)
    manager.types.create(
        name="Guest",
        schema={"guestId": "string?", "cart": "array"},
        selector="$Session{guestId}",
        expiry=1,
        period="hour",
    )
    first = manager.generate("guest", {"cart": ["sku-1"]})
    assert manager.get(first.session_id).user is None  # type: ignore[union-attr]
    second = manager.refresh(first.refresh_token)
    with pytest.raises(InvalidToken):  # refused; with no user, its successor cannot be found
        manager.refresh(first.refresh_token)
    assert manager.decrypt(second.token) == {"cart": ["sku-1"]}
