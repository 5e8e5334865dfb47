"""The codec's cache of values decoded lately: a repeat load of the same bytes costs a
lookup (a scalar) or a shallow copy (a flat list or dict), and every load still gets
values of its own that nothing else changes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import CorruptRecord, MemoryStore, Session, SessionMiddleware, codec
from sessionware.codec import decode, encode
from sessionware.core import SessionConfig, plan
from sessionware.stores.base import Meta, StoredSession

CONFIG = SessionConfig.build(secret_key="k")
PREFS = {"theme": "dark", "lang": "en", "since": Decimal("1.5")}
CART = {"items": [{"sku": "a-1", "qty": 2}], "coupon": None}  # nested: never cached


def test_a_flat_container_is_decoded_once_then_copied() -> None:
    raw = encode("prefs", {"unique": time.time(), **PREFS})
    first = decode(raw)
    assert raw in codec._SEEN
    second, third = decode(raw), decode(raw)
    assert first == second == third
    assert first is not second and second is not third and codec._SEEN[raw] is not second
    second["theme"] = "light"
    tags = encode("tags", ["a", "b", time.time()])
    listed = decode(tags)
    listed.append("c")
    assert decode(raw)["theme"] == "dark" and decode(tags) == listed[:3]


def test_a_nested_value_is_built_afresh_each_time() -> None:
    raw = encode("cart", CART)
    first = decode(raw)
    assert raw not in codec._SEEN
    first["items"][0]["qty"] = 9
    assert decode(raw) == CART


def test_undecodable_bytes_are_never_remembered() -> None:
    for _ in range(2):
        with pytest.raises(CorruptRecord):
            decode(b"\xc1junk")
    assert b"\xc1junk" not in codec._SEEN


def test_the_cache_is_bounded() -> None:
    for i in range(codec._SEEN_SIZE + 50):
        decode(encode("k", [i, "x"]))
    big = encode("k", ["x" * codec._SEEN_BYTES])
    decode(big)
    assert len(codec._SEEN) <= codec._SEEN_SIZE and big not in codec._SEEN


def stored(**data: Any) -> StoredSession:
    now = time.time()
    return StoredSession({k: encode(k, v) for k, v in data.items()}, Meta(now, now, now, now + 60))


def loaded(record: StoredSession) -> Session:
    session = Session()
    session._id = "id1"
    session._fill(StoredSession(dict(record.data), record.meta.copy()))
    return session


def test_sessions_loading_the_same_record_share_nothing() -> None:
    record = stored(user="alice", prefs=PREFS, tags=["a"], cart=CART)
    loaded(record)  # the first load fills the cache
    first, second = loaded(record), loaded(record)
    first["prefs"]["theme"] = "light"
    first["tags"].append("b")
    first["cart"]["items"].append({"sku": "b-2", "qty": 1})
    assert second == {"user": "alice", "prefs": PREFS, "tags": ["a"], "cart": CART}
    assert loaded(record)["prefs"] == PREFS


def test_a_cached_value_changed_in_place_is_saved() -> None:
    record = stored(prefs=PREFS, n=1)
    loaded(record)
    session = loaded(record)
    session["prefs"]["lang"] = "fr"
    decision = plan(CONFIG, session)
    assert decision.method == "save" and set(decision.args[1].set) == {"prefs"}
    assert decode(decision.args[1].set["prefs"])["lang"] == "fr"


def test_the_storage_holds_real_values() -> None:
    """What C code reading a dict subclass's storage directly (msgspec, orjson) sees."""
    record = stored(user="alice", prefs=PREFS, cart=CART)
    loaded(record)
    session = loaded(record)
    assert dict(dict.items(session)) == {"user": "alice", "prefs": PREFS, "cart": CART}


@pytest.fixture
def client() -> Iterator[TestClient]:
    async def login(request: Request) -> JSONResponse:
        request.session.update({"user": "alice", "cart": {"items": []}, "n": 0})
        return JSONResponse("ok")

    async def add(request: Request) -> JSONResponse:
        request.session["cart"]["items"].append(request.path_params["sku"])
        return JSONResponse(request.session["cart"])

    async def count(request: Request) -> JSONResponse:
        request.session["n"] += 1
        return JSONResponse(request.session["n"])

    async def whole(request: Request) -> JSONResponse:
        return JSONResponse(json.loads(json.dumps(request.session)))

    routes = [
        Route("/login", login),
        Route("/add/{sku}", add),
        Route("/count", count),
        Route("/whole", whole),
    ]
    app = SessionMiddleware(Starlette(routes=routes), secret_key="k" * 32, store=MemoryStore())
    with TestClient(app, base_url="https://testserver") as http:
        yield http


def test_over_http_each_request_changes_only_its_own_copy(client: TestClient) -> None:
    client.get("/login")
    for _ in range(3):
        client.get("/count")
    assert client.get("/add/a-1").json() == {"items": ["a-1"]}
    assert client.get("/add/b-2").json() == {"items": ["a-1", "b-2"]}
    client.get("/count")
    whole = {"user": "alice", "cart": {"items": ["a-1", "b-2"]}, "n": 4}
    assert client.get("/whole").json() == whole


def test_a_save_reuses_an_immutable_values_encoding_from_its_assignment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = loaded(stored(user="alice", n=1))
    calls: list[str] = []
    real = codec.encode

    def counting(key: str, value: Any) -> bytes:
        calls.append(key)
        return real(key, value)

    monkeypatch.setattr(codec, "encode", counting)
    session["n"] = 2
    session["when"] = Decimal("2.50")
    decision = plan(CONFIG, session)
    assert calls == ["n", "when"]  # once each, at the assignment, none at the save
    saved = decision.args[1].set
    assert decode(saved["n"]) == 2 and decode(saved["when"]) == Decimal("2.50")


def test_a_mutable_value_changed_after_its_assignment_is_saved_as_it_is_now() -> None:
    session = loaded(stored(user="alice"))
    tags = ["a"]
    session["tags"] = tags
    tags.append("b")  # after the assignment: its encoding then is stale
    session["n"] = 1
    session["n"] = 2  # a later assignment of another object replaces the earlier one
    session["pick"] = "a"
    later = ["b"]
    session["pick"] = later  # an immutable value, then a mutable one changed in place
    later.append("c")
    decision = plan(CONFIG, session)
    saved = decision.args[1].set
    assert decode(saved["tags"]) == ["a", "b"] and decode(saved["n"]) == 2
    assert decode(saved["pick"]) == ["b", "c"]


def test_get_reads_as_indexing_does_and_a_value_it_returns_changed_in_place_is_saved() -> None:
    session = loaded(stored(prefs=PREFS, n=1))
    assert session.get("missing") is None and session.get("missing", 7) == 7
    assert session.get("n") == 1 and session.get("n", 9) == 1
    session.get("prefs")["lang"] = "fr"  # no assignment: only get() saw the value
    decision = plan(CONFIG, session)
    assert decision.method == "save" and set(decision.args[1].set) == {"prefs"}
    assert decode(decision.args[1].set["prefs"])["lang"] == "fr"
