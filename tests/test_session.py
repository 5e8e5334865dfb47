"""Session: the mapping contract, lazy loading, change tracking, the plan it leads to."""

from __future__ import annotations

import time

import pytest

from sessionware import Session, SessionNotLoaded, SessionTooLarge
from sessionware.codec import encode
from sessionware.core import SessionConfig, plan
from sessionware.stores.base import Meta, StoredSession

CONFIG = SessionConfig.build(secret_key="k")


def loaded(**data: object) -> Session:
    session = Session()
    session._id = "id1"
    now = time.time()
    session._fill(
        StoredSession({k: encode(k, v) for k, v in data.items()}, Meta(now, now, now, now + 60))
    )
    return session


def test_a_new_session_is_an_empty_mapping() -> None:
    session = Session()
    assert len(session) == 0 and dict(session) == {} and session.id is None
    session["a"] = 1
    assert session["a"] == 1 and "a" in session and list(session) == ["a"]
    del session["a"]
    assert "a" not in session


def test_unloaded_session_without_loader_says_to_await_load() -> None:
    session = Session()
    session._pending = True
    with pytest.raises(SessionNotLoaded, match=r"await request\.session\.load\(\)"):
        session.get("a")


async def _never() -> StoredSession | None:
    raise AssertionError("must not load twice")


@pytest.mark.anyio
async def test_load_fills_once() -> None:
    session = Session()
    session._pending, session._id = True, "x"
    now = time.time()

    async def loader() -> StoredSession:
        return StoredSession({"a": encode("a", 1)}, Meta(now, now, now, None))

    session._async_loader = loader
    await session.load()
    session._async_loader = _never
    await session.load()
    assert session["a"] == 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_reads_of_scalars_plan_nothing() -> None:
    session = loaded(a=1, b="x")
    assert session["a"] == 1 and session.get("b") == "x"
    decision = plan(CONFIG, session)
    assert decision.method == ""


def test_nested_change_plans_a_save_of_that_key_only() -> None:
    session = loaded(cart={"items": {"a": 1}}, other=[1])
    session["cart"]["items"]["a"] += 1
    _ = session["other"]  # read but unchanged
    decision = plan(CONFIG, session)
    assert decision.method == "save"
    changes = decision.args[1]
    assert set(changes.set) == {"cart"} and list(changes.removed) == []


def test_deleting_a_key_plans_its_removal() -> None:
    session = loaded(a=1, b=2)
    del session["a"]
    changes = plan(CONFIG, session).args[1]
    assert changes.set == {} and list(changes.removed) == ["a"]


def test_too_large_assignment_leaves_the_session_unchanged() -> None:
    session = Session(max_payload_bytes=100)
    session["a"] = "x" * 50
    with pytest.raises(SessionTooLarge) as caught:
        session["b"] = "y" * 60
    assert isinstance(caught.value, ValueError)
    assert caught.value.limit == 100 and caught.value.size > 100
    assert dict(session) == {"a": "x" * 50}
    session["a"] = "z" * 90  # replacing a value counts its old size out
    assert session["a"] == "z" * 90


def test_clear_without_loading_plans_a_delete() -> None:
    session = Session()
    session._pending, session._id = True, "id1"
    session.clear()  # logout needs no load
    decision = plan(CONFIG, session)
    assert decision.method == "delete" and decision.args == ("id1",)


def test_regenerate_plans_a_rotation_that_requires_the_old_record_live() -> None:
    session = loaded(user="u")
    session.regenerate()
    decision = plan(CONFIG, session)
    assert decision.method == "rotate"
    loaded_at = session._meta.updated_at  # type: ignore[union-attr]
    # and not over a write another request made since this one loaded it
    assert decision.kwargs == {"require_live": True, "unchanged_since": loaded_at}
    old_id, new_id, data, _meta = decision.args
    assert old_id == "id1" and new_id != "id1" and set(data) == {"user"}
    # gone: no cookie at all (a concurrent login may have set the new one), unless it ended
    assert all(name != "set-cookie" for name, _ in decision.headers_if_gone)
    assert decision.expire_if_ended is not None
    assert "max-age=0" in decision.expire_if_ended[1].lower()


def test_flash_is_stored_in_flasks_format() -> None:
    session = Session()
    session.flash("hi")
    session.flash("oops", "error")
    assert session["_flashes"] == [("info", "hi"), ("error", "oops")]
    assert session.pop_flashes("error") == [("error", "oops")]
    assert session.pop_flashes() == [("info", "hi")]
    assert "_flashes" not in session


@pytest.mark.parametrize("planted", [1, "abc", [1, ("a", "b", "c"), ("warn", "kept")]])
def test_a_flash_key_set_by_hand_fails_no_page(planted: object) -> None:
    """``session["_flashes"] = 1`` (by hand, or a template tag) made every later
    pop_flashes() a TypeError (a 500 on each page), and "abc" three messages."""
    session = Session()
    session["_flashes"] = planted
    kept = [("warn", "kept")] if isinstance(planted, list) else []
    assert session.pop_flashes() == kept and "_flashes" not in session
    session["_flashes"] = planted
    session.flash("hi")
    assert session["_flashes"] == [*kept, ("info", "hi")]


def test_unstorable_flash_message_raises_at_the_call() -> None:
    session = Session()
    with pytest.raises(TypeError):
        session.flash(object())
    assert "_flashes" not in session


def test_a_refused_value_changed_in_place_does_not_fail_the_save_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``cart = s["cart"]; cart.append(x); s["cart"] = cart`` with an unstorable ``x``:
    refused at the assignment, and a handler that catches it still saves the rest: the
    key goes back to its stored value (or, set by this request, goes)."""
    session = loaded(cart=["sku-1"], _flashes=[["info", "hi"]])
    session["note"] = "kept"
    cart = session["cart"]
    cart.append(object())
    with pytest.raises(TypeError):
        session["cart"] = cart
    with pytest.raises(TypeError):
        session.flash(object())  # appends to the stored list, then assigns it back
    made = session.setdefault("made", [1])
    made.append(object())
    with pytest.raises(TypeError):
        session["made"] = made
    big = session.setdefault("big", ["x"])
    big.append("y" * 70_000)
    with pytest.raises(SessionTooLarge):
        session["big"] = big
    assert session["cart"] == ["sku-1"] and session["_flashes"] == [["info", "hi"]]
    assert "made" not in session and "big" not in session
    changes = plan(CONFIG, session).args[1]  # the save goes through, with the note alone
    assert set(changes.set) == {"note"} and list(changes.removed) == []
    assert "back to its stored value" in caplog.text and "removed" in caplog.text


def test_a_refused_value_never_brings_back_what_the_request_removed() -> None:
    """After a logout, a deletion or a replacement of a loaded key, a refused in-place
    change removes the key: the stored value it had is gone for this request."""
    for end in ("clear", "del", "replace"):
        session = loaded(roles=["admin"], other=1)
        if end == "clear":
            session.clear()
        elif end == "del":
            del session["roles"]
        roles: list[object] = []
        session["roles"] = roles
        roles.append(object())
        with pytest.raises(TypeError):
            session["roles"] = roles
        assert "roles" not in session, end


def test_a_refused_blind_write_changed_in_place_is_left_unwritten() -> None:
    """A key set without loading (a blind write), then changed in place into what is
    refused: the request does not write it, and the rest is still saved."""
    session = Session()
    session._id = "id1"
    session._pending_load = session._blind_ok = True
    session["note"] = "kept"
    cart: list[object] = []
    session["cart"] = cart
    cart.append(object())
    with pytest.raises(TypeError):
        session["cart"] = cart
    assert session._blind_encoded() == {"note": encode("note", "kept")}


def test_corrupt_stored_value_means_a_fresh_session(caplog: pytest.LogCaptureFixture) -> None:
    session = Session()
    session._id = "id1"
    now = time.time()
    session._fill(StoredSession({"a": b"\xc0\xc0", "b": encode("b", 1)}, Meta(now, now, now, None)))
    assert dict(session) == {} and session.id is None
    assert "undecodable" in caplog.text and "\\xc0" not in caplog.text


def test_framework_keys_are_not_counted_as_attributes() -> None:
    session = Session()
    session["cart"] = [1]
    session.flash("hi")
    session["_permanent"] = True  # Flask's flag
    decision = plan(CONFIG, session)
    assert decision.method == "create"
    assert decision.args[2].attribute_count == 1
