"""The session is a dict wherever Starlette's plain-dict session was (issue 10).

Each test drives a real Starlette app through the middleware and asserts on the
body and the parsed cookie; the change tracking behind every dict method is checked
by reading the stored record back on the next request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionware import (
    MemoryStore,
    Session,
    SessionManager,
    SessionMiddleware,
    SessionTooLarge,
    UnstorableValue,
)

Handler = Callable[[Session], Any]


def client(handler: Handler, store: MemoryStore | None = None) -> TestClient:
    """An app whose ``/set`` stores a, b, c and whose ``/do`` runs ``handler``."""

    async def set_(request: Request) -> Response:
        request.session.update({"a": 1, "b": [1, 2], "c": "three"})
        return PlainTextResponse("ok")

    async def do(request: Request) -> Response:
        result = handler(request.scope["session"])
        if isinstance(result, Response):
            return result
        return JSONResponse({"result": result})

    async def show(request: Request) -> Response:
        return JSONResponse(request.session)

    app = Starlette(routes=[Route("/set", set_), Route("/do", do), Route("/show", show)])
    wrapped = SessionMiddleware(
        app, secret_key="k" * 32, secure=False, store=MemoryStore() if store is None else store
    )
    return TestClient(wrapped, base_url="http://localhost")


def test_json_response_and_json_dumps_see_the_data() -> None:
    c = client(lambda s: JSONResponse(s))
    c.get("/set")
    assert c.get("/do").json() == {"a": 1, "b": [1, 2], "c": "three"}
    assert c.get("/show").json() == {"a": 1, "b": [1, 2], "c": "three"}
    c2 = client(lambda s: json.loads(json.dumps(s)))
    c2.get("/set")
    assert c2.get("/do").json()["result"] == {"a": 1, "b": [1, 2], "c": "three"}


def test_json_dumps_of_a_session_not_loaded_yet_loads_it() -> None:
    """C code that reads a dict's size directly (json's fast path) must not see {}."""
    session = Session()
    session._pending = True
    session._sync_loader = lambda: None  # the cookie named no live record
    assert json.dumps(session) == "{}"
    loaded = Session()
    loaded["x"] = 1
    assert json.dumps(loaded) == '{"x": 1}'


def test_dict_copy_equality_and_isinstance() -> None:
    def check(s: Session) -> Any:
        plain = dict(s)
        return [
            isinstance(s, dict),
            plain == {"a": 1, "b": [1, 2], "c": "three"},
            s == {"a": 1, "b": [1, 2], "c": "three"},
            s != {"a": 2},
            s.copy() == plain and type(s.copy()) is dict,
            copy.copy(s) == plain,
            {**s} == plain,
            list(reversed(s)) == ["c", "b", "a"],
            repr(s) == repr(plain),
        ]

    c = client(check)
    c.get("/set")
    assert c.get("/do").json()["result"] == [True] * 9


def test_or_and_ior_and_update_are_tracked() -> None:
    def merge(s: Session) -> Any:
        combined = s | {"d": 4}
        s |= {"e": 5}
        return [sorted(combined), type(combined) is dict, "d" not in s]

    c = client(merge)
    c.get("/set")
    assert c.get("/do").json()["result"] == [["a", "b", "c", "d"], True, True]
    assert c.get("/show").json() == {"a": 1, "b": [1, 2], "c": "three", "e": 5}


def test_ior_validates_at_the_assignment() -> None:
    def bad(s: Session) -> Any:
        with pytest.raises(UnstorableValue):
            s |= {"widget": object()}
        return "widget" in s

    c = client(bad)
    c.get("/set")
    assert c.get("/do").json()["result"] is False


def test_update_sets_all_of_its_pairs_or_none() -> None:
    def bad(s: Session) -> Any:
        with pytest.raises(UnstorableValue):
            s.update({"a": 2, "d": 4}, c=object())
        return [s["a"], "d" in s]

    c = client(bad)
    c.get("/set")
    assert c.get("/do").json()["result"] == [1, False]
    assert c.get("/show").json() == {"a": 1, "b": [1, 2], "c": "three"}


@pytest.mark.parametrize("loaded_first", [True, False], ids=["loaded", "blind"])
def test_update_is_refused_whole_when_its_pairs_pass_the_cap_together(loaded_first: bool) -> None:
    async def set_(request: Request) -> Response:
        request.session["a"] = 1
        return PlainTextResponse("ok")

    async def grow(request: Request) -> Response:
        if loaded_first:
            await request.session.load()
        try:
            request.session.update([("x", "x" * 600), ("y", "y" * 600)])  # 604 bytes each
        except SessionTooLarge as error:
            return PlainTextResponse(f"refused at {error.size}")
        return PlainTextResponse("stored")

    async def show(request: Request) -> Response:
        await request.session.load()
        return JSONResponse(request.session)

    routes = [Route("/set", set_), Route("/grow", grow), Route("/show", show)]
    app = SessionMiddleware(
        Starlette(routes=routes),
        secret_key="k" * 32,
        secure=False,
        store=MemoryStore(),
        max_payload_bytes=1000,
        autoload=False,
    )
    c = TestClient(app, base_url="http://localhost")
    c.get("/set")
    assert c.get("/grow").text == ("refused at 1210" if loaded_first else "refused at 1208")
    assert c.get("/show").json() == {"a": 1}


def _capped(handler: Handler, store: MemoryStore, **options: Any) -> TestClient:
    """``client``, with a 1,000-byte cap: ``/put`` stores ``a`` (500 bytes) first."""

    async def put(request: Request) -> Response:
        await request.session.load()
        request.session["a"] = "a" * 497  # 500 bytes with its key
        return PlainTextResponse("ok")

    async def do(request: Request) -> Response:
        return JSONResponse({"result": await handler(request.session)})

    async def show(request: Request) -> Response:
        await request.session.load()
        return JSONResponse(
            {k: len(v) if isinstance(v, str) else v for k, v in request.session.items()}
        )

    routes = [Route("/put", put), Route("/do", do), Route("/show", show)]
    app = SessionMiddleware(
        Starlette(routes=routes), secret_key="k" * 32, secure=False, store=store,
        max_payload_bytes=1000, autoload=False, **options,
    )  # fmt: skip
    return TestClient(app, base_url="http://localhost")


def test_update_passes_the_cap_as_a_whole_whatever_the_order_of_its_pairs() -> None:
    async def shrink_last(s: Session) -> Any:
        await s.load()
        s.update([("c", 1), ("b", "b" * 497), ("a", 1)])  # +500 before a gives back 499
        return "stored"

    c = _capped(shrink_last, MemoryStore())
    c.get("/put")
    assert c.get("/do").json()["result"] == "stored"
    assert c.get("/show").json() == {"a": 1, "b": 497, "c": 1}


def test_an_update_over_the_cap_names_ten_keys_and_counts_the_rest() -> None:
    """Its message named every key: one update of 200,000 keys put megabytes in a log."""

    async def many(s: Session) -> Any:
        await s.load()
        try:
            s.update({f"k{i}": "v" * 20 for i in range(500)})
        except SessionTooLarge as error:
            return str(error)
        return "stored"

    c = _capped(many, MemoryStore())
    c.get("/put")
    message = c.get("/do").json()["result"]
    named = ", ".join(repr(f"k{i}") for i in range(10))
    assert message.startswith(f"storing {named} and 490 more keys would make the session ")
    assert "'k10'" not in message


def test_a_blind_update_over_the_cap_once_loaded_sets_none_of_its_pairs() -> None:
    async def blind(s: Session) -> Any:
        s.update(b="b" * 300, c="c" * 300)  # checked alone (608 bytes): nothing loaded yet
        try:
            await s.load()
        except SessionTooLarge:
            return sorted(s)
        return "loaded"

    c = _capped(blind, MemoryStore())
    c.get("/put")
    assert c.get("/do").json()["result"] == ["a"]
    assert c.get("/show").json() == {"a": 497}


def test_an_update_refused_for_a_value_changed_in_place_puts_it_back() -> None:
    async def handled(s: Session) -> Any:
        await s.load()
        cart = s["cart"]
        cart.append(object())
        with pytest.raises(UnstorableValue):
            s.update({"cart": cart, "x": 1})
        s["y"] = 2  # the rest of the handler's changes are still saved
        return "handled"

    async def put(s: Session) -> Any:
        await s.load()
        s["cart"] = [1]
        return "put"

    store = MemoryStore()
    c = _capped(put, store)
    c.get("/do")
    cookies = dict(c.cookies)
    c2 = _capped(handled, store)
    c2.cookies.update(cookies)
    assert c2.get("/do").json()["result"] == "handled"
    assert c2.get("/show").json() == {"cart": [1], "y": 2}


@pytest.mark.parametrize("loaded", [True, False], ids=["loaded", "blind"])
def test_an_update_refused_as_too_large_keeps_what_was_set_before_it(loaded: bool) -> None:
    """Values already held (True, 1, None: one object wherever they appear) are no
    values changed in place: a refused update leaves them, and raises what it says."""

    async def handler(s: Session) -> Any:
        if loaded:
            await s.load()
        s["flag"], s["count"] = True, 1
        with pytest.raises(SessionTooLarge):
            s.update(flag=True, count=1, note=None, blob="b" * 5000)
        return "handled"

    c = _capped(handler, MemoryStore())
    c.get("/put")
    assert c.get("/do").json()["result"] == "handled"
    assert c.get("/show").json() == {"a": 497, "flag": True, "count": 1}


def test_popitem_takes_the_last_inserted_key_first() -> None:
    c = client(lambda s: list(s.popitem()))
    c.get("/set")
    assert c.get("/do").json()["result"] == ["c", "three"]
    assert c.get("/show").json() == {"a": 1, "b": [1, 2]}


def test_get_setdefault_and_pop_track_changes() -> None:
    def use(s: Session) -> Any:
        s.get("b").append(3)  # nested change through get(): saved
        s.setdefault("z", 26)
        return s.pop("a")

    c = client(use)
    c.get("/set")
    assert c.get("/do").json()["result"] == 1
    assert c.get("/show").json() == {"b": [1, 2, 3], "c": "three", "z": 26}


def test_copies_and_pickles_are_plain_dicts_that_share_nothing() -> None:
    """``copy.copy`` of a session used to be a second Session sharing its change
    tracking: a write to the copy made the real session's save fail (a 500)."""
    import pickle

    def use(s: Session) -> Any:
        shallow, deep = copy.copy(s), copy.deepcopy(s)
        pickled = pickle.loads(pickle.dumps(s))
        kinds = [type(x).__name__ for x in (shallow, deep, pickled)]
        shallow["z"] = "copy only"
        deep["b"].append("deep only")
        pickled["a"] = "pickle only"
        s["d"] = 4
        return [kinds, shallow["b"] is s["b"], deep == pickled]

    c = client(use)
    c.get("/set")
    done = c.get("/do")
    assert done.status_code == 200
    assert done.json()["result"] == [["dict", "dict", "dict"], True, False]
    assert c.get("/show").json() == {"a": 1, "b": [1, 2], "c": "three", "d": 4}


def test_pop_with_a_default_as_dict_pop() -> None:
    """Flask's logout idiom, ``session.pop("user_id", None)``, on a key that is absent."""

    def use(s: Session) -> Any:
        missing = [s.pop("nope", None), s.pop("nope", "fallback")]
        with pytest.raises(KeyError):
            s.pop("nope")
        return [*missing, s.pop("c", None)]

    c = client(use)
    c.get("/set")
    assert c.get("/do").json()["result"] == [None, "fallback", "three"]
    assert c.get("/show").json() == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    "remove",
    [
        lambda s: [s.pop(k) for k in list(s)],
        lambda s: [s.__delitem__(k) for k in list(s)],
        lambda s: [s.popitem() for _ in range(len(s))],
    ],
    ids=["pop", "del", "popitem"],
)
def test_removing_the_last_key_ends_the_session(remove: Handler) -> None:
    store = MemoryStore()
    c = client(lambda s: (remove(s), None)[1], store)
    c.get("/set")
    assert SessionManager(store).list().total_items == 1
    response = c.get("/do")
    assert "Max-Age=0" in response.headers["set-cookie"]  # the cookie is expired
    assert "session" not in c.cookies
    page = SessionManager(store).list(status="active")
    assert page.total_items == 0  # the record is deleted, as clear() does
