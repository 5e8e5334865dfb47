"""manager.types: create, update, fetch, fetch_all, delete, on every store, sync and async."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from sessionware import (
    AsyncSessionManager,
    ConfigurationError,
    CorruptRecord,
    InvalidSessionType,
    MemoryStore,
    SessionManager,
    SessionType,
    SessionTypeInUse,
    SessionwareError,
    UnknownSessionType,
)
from sessionware.session_types.registry import TypeRegistry
from sessionware.stores.base import Meta

USER = {
    "name": "User session",
    "description": "a signed-in user",
    "schema": {"userId": "string", "email": "string", "role": "string?"},
    "selector": "$Session{userId}",
    "expiry": 7,
    "period": "days",
}


def live_session_of(store: Any, tag: str) -> None:
    now = time.time()
    meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60, app=tag)
    store.create(f"id-of-{tag}", {"userId": b"x"}, meta)


def test_create_takes_a_type_a_dict_or_keywords(any_store: Any) -> None:
    types = SessionManager(any_store).types
    made = [
        types.create(SessionType(name="From a type")),
        types.create({**USER, "tag": "from-a-dict"}),
        types.create(**{**USER, "tag": "from-keywords"}),
    ]
    assert [t.tag for t in made] == ["from-a-type", "from-a-dict", "from-keywords"]
    assert types.fetch_all() == sorted(made, key=lambda t: t.tag)
    assert types.fetch("from-a-dict") == made[1]
    assert types.fetch("from-a-dict").expires_at(0.0) == 7 * 86400


@pytest.mark.parametrize(
    ("written", "meant"),
    [("int", "integer"), ("Str", "string"), ("bool", "boolean"), ("float", "number"),
     ("list", "array"), ("dict", "object"),
     # ours, mangled by spaces and marks: taken for example strings before
     ("strin g", "string"), ("integer??", "integer?"), ("?integer", "integer?"),
     ("date | |", "date"), ("date?|null", "date?"), ("object | null | null", "object?")],
)  # fmt: skip
def test_slips_for_type_names_are_refused_in_new_definitions_only(
    any_store: Any, written: str, meant: str
) -> None:
    """A new definition with Python's name for a type, or ours mangled, is a slip; a
    type stored before that rule (where it was an example string) still reads, and
    still works."""
    types = SessionManager(any_store).types
    with pytest.raises(InvalidSessionType, match=re.escape(f"did you mean '{meant}'")) as caught:
        types.create(name="Orders", schema={"view": {"mode": written}})
    assert caught.value.field == "view.mode"
    old = {"name": "Orders", "tag": "orders", "schema": {"mode": written}, "expiry": 1,
           "period": "hours", "description": "", "selector": None}  # fmt: skip
    any_store.registry_put("session-type", "orders", json.dumps(old).encode())
    assert types.fetch("orders").schema == {"mode": written}  # as it was: an example
    with pytest.raises(InvalidSessionType, match=re.escape(f"did you mean '{meant}'")):
        types.update("orders", schema={"mode": written})
    assert types.update("orders", expiry=2).expiry == 2  # other changes still go through


def test_a_taken_tag_and_a_bad_type_are_refused(any_store: Any) -> None:
    types = SessionManager(any_store).types
    types.create(**USER)
    with pytest.raises(InvalidSessionType) as caught:
        types.create(**USER)
    assert caught.value.field == "tag"
    assert "exists: change it with update('user-session', ...)" in str(caught.value)
    with pytest.raises(InvalidSessionType) as caught:
        types.create(name="Bad", schema={"age": "integr"})
    assert caught.value.field == "age"
    with pytest.raises(InvalidSessionType) as caught:
        types.create(name="Bad", schema={"a": "string"}, selector="$Session{b}")
    assert caught.value.field == "selector"
    assert [t.tag for t in types.fetch_all()] == ["user-session"]


def test_update_merges_by_tag_and_keeps_every_other_field(any_store: Any) -> None:
    types = SessionManager(any_store).types
    before = types.create(**USER)
    after = types.update("user-session", expiry=14, period="Weeks")
    assert (after.expiry, after.period) == (14, "weeks")
    assert (after.name, after.schema, after.selector, after.description) == (
        before.name, before.schema, before.selector, before.description
    )  # fmt: skip
    assert types.fetch("user-session") == after
    assert types.update(tag="user-session", description="new").description == "new"
    with pytest.raises(InvalidSessionType) as caught:
        types.update("user-session", schema={"email": "string"})  # the selector's field is gone
    assert caught.value.field == "selector"
    assert types.fetch("user-session").schema == USER["schema"]


def test_a_tag_can_be_renamed(any_store: Any) -> None:
    types = SessionManager(any_store).types
    types.create(**USER)
    renamed = types.update("user-session", new_tag="member")
    assert renamed.tag == "member" and renamed.name == USER["name"]
    assert [t.tag for t in types.fetch_all()] == ["member"]


def test_a_rename_refused_for_live_sessions_says_what_works(any_store: Any) -> None:
    # update() has no force=: the refusal must not send the caller there
    types = SessionManager(any_store).types
    types.create(**USER)
    live_session_of(any_store, "user-session")
    with pytest.raises(SessionTypeInUse) as caught:
        types.update("user-session", new_tag="member")
    message = str(caught.value)
    assert caught.value.live == 1 and "pass force=True" not in message
    assert "revoke them or let them expire, then rename" in message
    assert "create the type under the new tag" in message
    assert [t.tag for t in types.fetch_all()] == ["user-session"]
    with pytest.raises(InvalidSessionType, match="force= belongs to delete"):
        types.update("user-session", new_tag="member", force=True)  # what one tries next


def test_unknown_tags_raise_a_clear_lookup_error(any_store: Any) -> None:
    types = SessionManager(any_store).types
    types.create(**USER)
    for call in (
        lambda: types.fetch("nope"),
        lambda: types.update("nope", expiry=1),
        lambda: types.delete("nope"),
    ):
        with pytest.raises(UnknownSessionType) as caught:
            call()
        assert isinstance(caught.value, LookupError) and isinstance(caught.value, SessionwareError)
        assert "'nope'" in str(caught.value) and "user-session" in str(caught.value)


def test_delete_is_refused_while_sessions_of_the_type_live(any_store: Any) -> None:
    types = SessionManager(any_store).types
    types.create(**USER)
    types.create(name="Other")
    live_session_of(any_store, "user-session")
    with pytest.raises(SessionTypeInUse) as caught:
        types.delete("user-session")
    assert caught.value.live == 1 and "force=True" in str(caught.value)
    types.delete("other")  # no sessions of its own
    types.delete("user-session", force=True)
    assert types.fetch_all() == []


class _DeletedWhileRead:
    """``any_store``, whose registry read of ``tag`` is followed by another process's
    delete, or (``changed``) its own update, before the reader writes."""

    def __init__(self, store: Any, changed: bytes | None = None) -> None:
        self.store, self.changed, self.raced = store, changed, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def registry_get(self, kind: str, name: str) -> bytes | None:
        document = self.store.registry_get(kind, name)
        if not self.raced and document is not None:
            self.raced = True
            if self.changed is None:
                self.store.registry_delete(kind, name)
            else:
                self.store.registry_put(kind, name, self.changed)
        return document


def test_an_update_never_brings_back_a_type_deleted_meanwhile(any_store: Any) -> None:
    SessionManager(any_store).types.create(**USER)
    raced = TypeRegistry(_DeletedWhileRead(any_store))
    with pytest.raises(UnknownSessionType):
        raced.update("user-session", description="changed")
    assert SessionManager(any_store).types.fetch_all() == []


def test_an_update_keeps_a_change_that_landed_meanwhile(any_store: Any) -> None:
    types = SessionManager(any_store).types
    made = types.create(**USER)
    other = json.dumps({**json.loads(made.to_document()), "name": "Renamed elsewhere"}).encode()
    raced = TypeRegistry(_DeletedWhileRead(any_store, changed=other))
    updated = raced.update("user-session", expiry=3)
    assert (updated.name, updated.expiry) == ("Renamed elsewhere", 3)
    assert (types.fetch("user-session").name, types.fetch("user-session").expiry) == (
        "Renamed elsewhere",
        3,
    )


class _StoreOfItsOwn(MemoryStore):
    """A store written against the registry's first put, with no compare-and-set."""

    def registry_put(  # type: ignore[override]
        self, kind: str, name: str, document: bytes, *, if_absent: bool = False
    ) -> bool:
        return super().registry_put(kind, name, document, if_absent=if_absent)

    async def aregistry_put(  # type: ignore[override]
        self, kind: str, name: str, document: bytes, *, if_absent: bool = False
    ) -> bool:
        return self.registry_put(kind, name, document, if_absent=if_absent)


@pytest.mark.anyio
async def test_a_store_without_compare_and_set_still_takes_updates() -> None:
    store = _StoreOfItsOwn()
    SessionManager(store).types.create(**USER)
    assert SessionManager(store).types.update("user-session", expiry=2).expiry == 2
    updated = await AsyncSessionManager(store).types.update("user-session", expiry=3)
    assert updated.expiry == 3 == SessionManager(store).types.fetch("user-session").expiry


@pytest.mark.anyio
async def test_an_unreadable_type_is_deleted_by_force_alone(any_store: Any) -> None:
    any_store.registry_put("session-type", "broken", b"{not json")
    sync, asynchronous = SessionManager(any_store).types, AsyncSessionManager(any_store).types
    for attempt in (lambda: sync.delete("broken"), lambda: sync.update("broken", expiry=2)):
        with pytest.raises(CorruptRecord, match=r"force=True \(sessionware types delete broken"):
            attempt()
    sync.delete("broken", force=True, actor="ops:kim")
    note = SessionManager(any_store).audit_log(action="type")[0].reason
    assert note == "deleted broken (its stored document unreadable)"
    sync.create(**USER)
    any_store.registry_put("session-type", "broken", b"{not json")
    await asynchronous.delete("broken", force=True)
    assert [t.tag for t in sync.fetch_all()] == ["user-session"]
    with pytest.raises(UnknownSessionType):
        sync.delete("broken", force=True)


@pytest.mark.anyio
async def test_the_async_registry_does_the_same(any_store: Any) -> None:
    types = AsyncSessionManager(any_store).types
    made = await types.create(**USER)
    assert await types.fetch("user-session") == made
    assert (await types.update("user-session", expiry=1, period="mins")).expires_at(0) == 60
    live_session_of(any_store, "user-session")
    with pytest.raises(SessionTypeInUse):
        await types.delete("user-session")
    with pytest.raises(UnknownSessionType):
        await types.fetch("nope")
    await types.delete("user-session", force=True)
    assert await types.fetch_all() == []
    if hasattr(any_store, "aclose"):
        await any_store.aclose()


def test_changes_made_with_an_actor_are_audited_and_without_one_are_not(any_store: Any) -> None:
    manager = SessionManager(any_store)
    types = manager.types
    types.create(**USER)  # (no actor: no entry, as before actor= existed)
    types.create(name="Checkout", expiry=1, period="hour", actor="owner:ann")
    types.update("checkout", expiry=2, description="one purchase", actor="owner:ann")
    types.update("user-session", new_tag="member", selector=None, actor="owner:bob")
    live_session_of(any_store, "checkout")
    types.delete("checkout", force=True, actor="owner:ann")
    entries = manager.audit_log(limit=10, action="type")
    assert [(e.actor, e.session_id, e.reason) for e in entries] == [
        ("owner:ann", None, "deleted checkout; 1 live session left to expire"),
        (
            "owner:bob",
            None,
            "updated user-session: tag 'user-session' -> 'member'; "
            "selector '$Session{userId}' -> '-'",
        ),
        (
            "owner:ann",
            None,
            "updated checkout: description '-' -> 'one purchase'; lifetime '1 hour' -> '2 hours'",
        ),
        ("owner:ann", None, "created checkout (1 hour)"),
    ]
    assert len(manager.audit_log(limit=10)) == 4


def test_a_blank_actor_is_refused_before_anything_changes(any_store: Any) -> None:
    types = SessionManager(any_store).types
    with pytest.raises(ConfigurationError, match="actor"):
        types.create(**USER, actor=" ")
    assert types.fetch_all() == []
    types.create(**USER)
    with pytest.raises(ConfigurationError, match="actor"):
        types.update("user-session", expiry=1, actor="")
    with pytest.raises(ConfigurationError, match="actor"):
        types.delete("user-session", actor="")
    assert types.fetch("user-session").expiry == 7


@pytest.mark.anyio
async def test_the_async_registry_audits_the_same(any_store: Any) -> None:
    manager = AsyncSessionManager(any_store)
    await manager.types.create(name="Cart", actor="owner:ann")
    await manager.types.update("cart", period="weeks", actor="owner:ann")
    await manager.types.delete("cart", actor="owner:ann")
    reasons = [e.reason for e in await manager.audit_log(limit=10, action="type")]
    assert reasons == [
        "deleted cart",
        "updated cart: lifetime '1 day' -> '1 week'",
        "created cart (1 day)",
    ]
    if hasattr(any_store, "aclose"):
        await any_store.aclose()


def test_every_manager_on_the_store_sees_a_change(any_store: Any) -> None:
    SessionManager(any_store).types.create(**USER)
    SessionManager(any_store).types.update("user-session", expiry=3)
    assert SessionManager(any_store).types.fetch("user-session").expiry == 3


def test_the_readme_example_runs(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Session types") :]
    block = section[section.index("```python\n") + 10 : section.index("```\n", 20)]
    monkeypatch.chdir(tmp_path)  # its SQLiteStore("sessions.db") lands here
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    namespace["store"].close()


def test_a_sqlite_file_from_before_session_types_gains_the_registry(tmp_path: Any) -> None:
    import sqlite3

    from sessionware import SQLiteStore

    path = tmp_path / "old.db"
    SQLiteStore(path).create_schema()
    with sqlite3.connect(path) as connection:  # as an older version left it
        connection.execute("DROP TABLE sessionware_registry")
    store = SQLiteStore(path)
    SessionManager(store).types.create(**USER)
    assert SessionManager(store).types.fetch("user-session").expiry == 7
    store.close()


def test_first_contact_refusals_say_what_to_do(any_store: Any) -> None:
    types = SessionManager(any_store).types
    with pytest.raises(InvalidSessionType, match="ASCII letters") as caught:
        types.create(name="Profil", schema={"prénom": "string"})
    assert caught.value.field == "prénom"
    with pytest.raises(InvalidSessionType, match="pass tag= for a name with no Latin"):
        types.create(name="ユーザー")
    assert types.create(name="ユーザー", tag="user").tag == "user"
    for tag in (None, 5, b"user"):
        with pytest.raises(InvalidSessionType, match="tag is a str"):
            types.fetch(tag)  # type: ignore[arg-type]
