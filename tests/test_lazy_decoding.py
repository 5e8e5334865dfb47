"""Deferred decoding: a loaded value whose bytes this process decoded before is decoded
only when it is read, and nothing a handler or the middleware can see tells the
difference, except that an unread value costs nothing."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import MemoryStore, Session, SessionMiddleware, codec
from sessionware.codec import LATER, decode, decoded_or_later, encode
from sessionware.core import SessionConfig, plan
from sessionware.stores.base import Meta, StoredSession

CONFIG = SessionConfig.build(secret_key="k")
CART = {"items": [{"sku": "a-1", "qty": 2}], "coupon": None}


def stored(**data: Any) -> StoredSession:
    now = time.time()
    return StoredSession({k: encode(k, v) for k, v in data.items()}, Meta(now, now, now, now + 60))


def loaded(record: StoredSession, session: Session | None = None) -> Session:
    session = Session() if session is None else session
    session._id = "id1"
    session._fill(StoredSession(dict(record.data), record.meta.copy()))
    return session


def deferred(**data: Any) -> Session:
    """A session whose non-scalar values the load deferred (their bytes decoded once)."""
    record = stored(**data)
    loaded(record)  # the first load decodes every value
    session = loaded(record)
    assert session._later, "nothing was deferred: the test would prove nothing"
    return session


def test_only_bytes_decoded_before_wait() -> None:
    fresh = encode("cart", {"never": ["seen", time.time()]})
    assert decoded_or_later(fresh) == decode(fresh)  # unknown bytes: decoded (and checked) now
    assert decoded_or_later(fresh) is LATER  # the same bytes again may wait
    assert decoded_or_later(encode("n", 7)) == 7  # a scalar comes from the value cache
    big = encode("blob", ["x" * 2000])
    decode(big)
    assert decoded_or_later(big) == ["x" * 2000]  # over the size kept: always decoded


def test_the_bytes_kept_are_bounded() -> None:
    for i in range(codec._SEEN_SIZE + 50):
        decode(encode("k", [i]))
    assert len(codec._SEEN) <= codec._SEEN_SIZE


def test_a_deferred_value_reads_as_the_value() -> None:
    session = deferred(user="alice", cart=CART, tags=["a", "b"])
    assert session["cart"] == CART and session.get("tags") == ["a", "b"]
    assert not session._later


def test_every_way_of_reading_sees_real_values() -> None:
    expected = {"user": "alice", "cart": CART, "tags": ["a", "b"]}
    readers = {
        "eq": lambda s: s == expected,
        "dict": lambda s: dict(s) == expected,
        "copy": lambda s: s.copy() == expected,
        "items": lambda s: dict(s.items()) == expected,
        "values": lambda s: list(s.values()) == list(expected.values()),
        "json": lambda s: json.loads(json.dumps(s)) == expected,
        "repr": lambda s: repr(s) == repr(expected),
        "unpack": lambda s: {**s} == expected,
        "deepcopy": lambda s: dict(copy.deepcopy(s)) == expected,
        "setdefault": lambda s: s.setdefault("cart", None) == CART,
        "pop": lambda s: s.pop("cart") == CART,
        "popitem": lambda s: s.popitem() == ("tags", ["a", "b"]),
        "or": lambda s: (s | {}) == expected,
    }
    for name, reader in readers.items():
        assert reader(deferred(**expected)), name


def test_each_load_gets_its_own_objects() -> None:
    record = stored(cart=CART)
    loaded(record)
    first, second = loaded(record), loaded(record)
    first["cart"]["items"].append({"sku": "b-2", "qty": 1})
    assert second["cart"] == CART and first["cart"] is not second["cart"]


def test_an_unread_deferred_value_is_neither_saved_nor_changed() -> None:
    session = deferred(cart=CART, n=1)
    session["n"] = 2
    decision = plan(CONFIG, session)
    assert decision.method == "save"
    assert set(decision.args[1].set) == {"n"} and decision.args[1].removed == []
    assert decision.args[1].attribute_count == 2


def test_a_deferred_value_changed_in_place_is_saved() -> None:
    session = deferred(cart=CART)
    session["cart"]["items"][0]["qty"] = 5
    decision = plan(CONFIG, session)
    assert decision.method == "save"
    assert decode(decision.args[1].set["cart"])["items"][0]["qty"] == 5


def test_reading_without_changing_plans_nothing() -> None:
    session = deferred(cart=CART, user="alice")
    assert session["cart"] == CART and session["user"] == "alice"
    assert plan(CONFIG, session).method == ""


def test_deleting_and_replacing_a_deferred_value() -> None:
    session = deferred(cart=CART, tags=["a"], user="alice")
    del session["cart"]
    session["tags"] = ["z"]
    decision = plan(CONFIG, session)
    assert decision.args[1].removed == ["cart"] and set(decision.args[1].set) == {"tags"}
    assert dict(session) == {"tags": ["z"], "user": "alice"}


def test_rotation_keeps_unread_deferred_values_as_stored() -> None:
    session = deferred(cart=CART, user="alice")
    session.regenerate()
    decision = plan(CONFIG, session)
    assert decision.method == "rotate"
    assert decode(decision.args[2]["cart"]) == CART


def test_the_user_selector_reads_a_deferred_value() -> None:
    config = SessionConfig.build(secret_key="k", user_key="account.id")
    session = deferred(account={"id": "u-42", "roles": ["admin"]}, n=1)
    session["n"] = 2
    decision = plan(config, session)
    assert decision.args[1].user == "u-42"
    assert session._later == {}  # read for the index, decoded once, kept


def test_an_undecodable_value_still_voids_the_whole_record() -> None:
    good = stored(cart=CART)
    loaded(good)  # its bytes are now known: they would be deferred
    record = StoredSession({**good.data, "bad": b"\xc1junk"}, good.meta)
    session = loaded(record)
    assert session.id is None and dict(session) == {}


def test_a_typed_session_decodes_everything_for_its_schema_check() -> None:
    session = Session()
    session._type = _AnyType()
    record = stored(cart=CART)
    loaded(record)
    loaded(record, session)
    assert session._later == {} and dict.__getitem__(session, "cart") == CART


class _AnyType:
    """The two methods a load asks of a bound session type."""

    tag = "any"

    def problems(self, data: dict[str, Any]) -> list[str]:
        assert LATER not in data.values()
        return []


@pytest.fixture
def client() -> Iterator[TestClient]:
    store = MemoryStore()

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
        return JSONResponse(request.session)

    routes = [
        Route("/login", login),
        Route("/add/{sku}", add),
        Route("/count", count),
        Route("/whole", whole),
    ]
    app = SessionMiddleware(Starlette(routes=routes), secret_key="k" * 32, store=store)
    with TestClient(app, base_url="https://testserver") as http:
        yield http


def test_over_http_deferred_values_round_trip(client: TestClient) -> None:
    client.get("/login")
    for _ in range(3):  # counting never reads the cart: it stays deferred, and intact
        client.get("/count")
    assert client.get("/add/a-1").json() == {"items": ["a-1"]}
    assert client.get("/add/b-2").json() == {"items": ["a-1", "b-2"]}
    client.get("/count")
    whole = {"user": "alice", "cart": {"items": ["a-1", "b-2"]}, "n": 4}
    assert client.get("/whole").json() == whole
