"""The scenario app, framework-neutral: ``handle(name, session, params)``.

Every framework adapter (``apps.py``) routes ``/<name>?<params>`` to this
function with its own session object and answers ``(status, json_body)``, so
one scenario suite runs unchanged on Starlette, FastAPI, WSGI and Flask.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, MutableMapping
from decimal import Decimal
from typing import Any

from sessionware import SessionTooLarge

Result = tuple[int, Any]
Params = dict[str, str]

TYPED: dict[str, Any] = {
    "none": None,
    "bool": True,
    "int": 7,
    "bigint": 2**80,
    "float": 1.25,
    "str": "héllo",
    "bytes": b"\x00\xff",
    "list": [1, [2, 3]],
    "tuple": (1, (2, "x")),
    "dict": {"a": {"b": [1, 2]}},
    "set": {1, 2, 3},
    "frozenset": frozenset({"a"}),
    "naive": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
    "aware": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    "date": dt.date(2024, 2, 29),
    "time": dt.time(23, 59, 1, 5),
    "timedelta": dt.timedelta(days=2, seconds=3, microseconds=4),
    "decimal": Decimal("10.50"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


def _same(a: Any, b: Any) -> bool:
    """Equal with the exact same types, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dt.datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def get(s: MutableMapping[str, Any], p: Params) -> Result:
    return 200, {"value": s.get(p["key"]), "id": s.id}  # type: ignore[attr-defined]


def put(s: MutableMapping[str, Any], p: Params) -> Result:
    s[p["key"]] = int(p["value"]) if p.get("int") else p["value"]
    return 200, {"ok": True}


def incr(s: MutableMapping[str, Any], p: Params) -> Result:
    key = p.get("key", "n")
    s[key] = s.get(key, 0) + 1
    return 200, {"value": s[key]}


def cart_add(s: MutableMapping[str, Any], p: Params) -> Result:
    items = s.setdefault("cart", {"items": {}})["items"]  # nested, never reassigned
    items[p["sku"]] = items.get(p["sku"], 0) + 1
    return 200, {"items": items}


def cart_append(s: MutableMapping[str, Any], p: Params) -> Result:
    s.setdefault("lines", []).append(p["sku"])
    return 200, {"lines": s["lines"]}


def typed_store(s: MutableMapping[str, Any], p: Params) -> Result:
    s.update(TYPED)
    return 200, {"ok": True}


def typed_check(s: MutableMapping[str, Any], p: Params) -> Result:
    return 200, {name: _same(value, s.get(name)) for name, value in TYPED.items()}


def unstorable(s: MutableMapping[str, Any], p: Params) -> Result:
    before = dict(s)
    try:
        if p.get("what") == "key":
            s[1] = "x"  # type: ignore[index]
        else:
            s["bad"] = object()
    except TypeError as exc:
        return 400, {"error": str(exc), "unchanged": dict(s) == before}
    return 200, {"stored": True}


def big(s: MutableMapping[str, Any], p: Params) -> Result:
    try:
        s[p.get("key", "big")] = "x" * int(p["size"])
    except SessionTooLarge as exc:
        return 413, {"error": str(exc), "has_key": p.get("key", "big") in s}
    return 200, {"stored": True}


def grow(s: MutableMapping[str, Any], p: Params) -> Result:
    s.setdefault("blob", []).append("x" * int(p["size"]))  # too big only at save time
    return 200, {"grown": True}


def login(s: MutableMapping[str, Any], p: Params) -> Result:
    s.regenerate()  # type: ignore[attr-defined]
    s["user_id"] = p["user"]
    return 200, {"id": s.id}  # type: ignore[attr-defined]


def logout(s: MutableMapping[str, Any], p: Params) -> Result:
    s.clear()
    if "flash" in p:
        s.flash(p["flash"])  # type: ignore[attr-defined]
    return 200, {"ok": True}


def flash(s: MutableMapping[str, Any], p: Params) -> Result:
    s.flash(p["msg"], p.get("category", "info"))  # type: ignore[attr-defined]
    return 200, {"ok": True}


def flashes(s: MutableMapping[str, Any], p: Params) -> Result:
    popped = s.pop_flashes(p.get("category"))  # type: ignore[attr-defined]
    return 200, {"flashes": [list(f) for f in popped]}


def remember(s: MutableMapping[str, Any], p: Params) -> Result:
    days = int(p["days"])
    s.remember(dt.timedelta(days=days) if days else None)  # type: ignore[attr-defined]
    return 200, {"permanent": s.permanent}  # type: ignore[attr-defined]


def forget(s: MutableMapping[str, Any], p: Params) -> Result:
    s.permanent = False  # type: ignore[attr-defined]
    return 200, {"permanent": s.permanent}  # type: ignore[attr-defined]


def keys(s: MutableMapping[str, Any], p: Params) -> Result:
    return 200, {"keys": sorted(s), "id": s.id}  # type: ignore[attr-defined]


def untouched(s: MutableMapping[str, Any], p: Params) -> Result:
    return 200, {"ok": True}


def boom(s: MutableMapping[str, Any], p: Params) -> Result:
    s["boom"] = 1
    raise RuntimeError("handler failed after writing")


def fail(s: MutableMapping[str, Any], p: Params) -> Result:
    s["fail"] = 1
    return 500, {"error": "handler answered 500"}


HANDLERS: dict[str, Callable[[MutableMapping[str, Any], Params], Result]] = {
    f.__name__: f
    for f in (
        *(get, put, incr, cart_add, cart_append, typed_store, typed_check, unstorable),
        *(big, grow, login, logout, flash, flashes, keys, untouched, boom, fail),
        *(remember, forget),
    )
}


def handle(name: str, session: MutableMapping[str, Any], params: Params) -> Result:
    """Run scenario handler ``name``; unknown names answer 404."""
    handler = HANDLERS.get(name)
    if handler is None:
        return 404, {"error": f"no scenario handler {name!r}"}
    return handler(session, params)
