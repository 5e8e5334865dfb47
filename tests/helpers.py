"""Test helpers: parse real Set-Cookie headers with the standard library."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any


def parse_set_cookie(header: str) -> dict[str, Any]:
    """One Set-Cookie header as ``{"name", "value", "max-age", "path", ..., flags}``.

    Flag attributes (Secure, HttpOnly) map to True when present.
    """
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    assert len(jar) == 1, header
    ((name, morsel),) = jar.items()
    parsed: dict[str, Any] = {"name": name, "value": morsel.value}
    for key in ("max-age", "expires", "path", "domain", "samesite"):
        if morsel[key]:
            parsed[key] = morsel[key]
    parsed["secure"] = bool(morsel["secure"])
    parsed["httponly"] = bool(morsel["httponly"])
    return parsed


def set_cookies(response: Any, name: str = "session") -> list[dict[str, Any]]:
    """Every Set-Cookie for ``name`` on an httpx or werkzeug response, parsed."""
    headers = response.headers
    values = headers.get_list("set-cookie") if hasattr(headers, "get_list") else None
    if values is None:
        values = headers.getlist("set-cookie")
    parsed = [parse_set_cookie(v) for v in values]
    return [c for c in parsed if c["name"] == name]


def token_of(cookie_value: str) -> str:
    """The secret token inside a session cookie value (``token.timestamp.signature``)."""
    return cookie_value.split(".")[0]


def only_cookie(client: Any, value: str | None, name: str = "session") -> None:
    """Make ``client`` send exactly this session cookie (or none) from now on."""
    client.cookies.clear()
    if value is not None:
        client.cookies.set(name, value)  # no domain: "testserver" would become testserver.local


class CountingStore:
    """Wraps a store, counting calls per method name and recording their arguments.

    Delegates everything, so it satisfies whichever store protocols the wrapped
    store does. ``fail`` names methods that raise ``StoreUnavailable`` instead.
    """

    def __init__(self, store: Any, fail: set[str] | None = None) -> None:
        self.store = store
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail = fail or set()

    def names(self) -> list[str]:
        return [n[1:] if n[1:] in _STORE_METHODS else n for n, _, _ in self.calls]

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if not callable(target):
            return target
        from sessionware import StoreUnavailable

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            base = name[1:] if name.startswith("a") and name[1:] in _STORE_METHODS else name
            if base in self.fail:
                raise StoreUnavailable(f"test store: {name} fails on purpose")
            return target(*args, **kwargs)

        return call


_STORE_METHODS = {"load", "create", "save", "write", "rotate", "delete"}


class EndsBeforeSaving:
    """Wraps a store; once ``armed``, every save, rotation and delete first ends its record
    the way ``how`` says: ``"revoke"`` (an operator), ``"logout"`` (a delete, as
    another request's logout does), or writes to it: ``"write"`` (another request
    saves the key ``beside`` meanwhile). That is another request acting between this
    request's load and its save, without threads or timing. ``"login"`` moves the
    record to a new id, as another request's login does; ``"logout-flash"`` replaces
    it, as a logout that then flashes a message does."""

    def __init__(self, store: Any, how: str, *, once: bool = False) -> None:
        self.store = store
        self.how = how
        self.once = once  # disarm after ending one record (a logout's own calls come after)
        self._armed = False
        self._ended: set[str] = set()  # each record is ended once per arming

    @property
    def armed(self) -> bool:
        return self._armed

    @armed.setter
    def armed(self, value: bool) -> None:
        self._armed, self._ended = value, set()

    def _end_once(self, session_id: str) -> None:
        if self._armed and session_id not in self._ended:
            self._ended.add(session_id)
            self._armed = not self.once
            self._end(session_id)

    def _end(self, session_id: str) -> None:
        import time

        if self.how == "revoke":
            assert self.store.revoke(session_id, actor="ops", now=time.time())
        elif self.how == "write":
            from sessionware import codec
            from sessionware.stores.base import Changes

            beside = Changes(set={"beside": codec.encode("beside", "kept")}, updated_at=time.time())
            assert self.store.save(session_id, beside)
        elif self.how == "logout-flash":  # replaced, not carried: clear(), then a flash
            from sessionware import codec
            from sessionware.cookies import new_token, public_id
            from sessionware.stores.base import Meta

            now = time.time()
            flashes = {"_flashes": codec.encode("_flashes", [("info", "Signed out.")])}
            fresh = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60)
            self.store.rotate(
                session_id, public_id(new_token()), flashes, fresh, require_live=False
            )
        elif self.how == "login":  # moved to a new id, as another request's login does
            from sessionware.cookies import new_token, public_id

            now = time.time()
            meta, data = (
                self.store.get_meta(session_id, now=now),
                self.store.read_data(session_id, now=now),
            )
            moved = self.store.rotate(
                session_id, public_id(new_token()), data, meta, require_live=True
            )
            assert moved
        else:
            self.store.delete(session_id)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if name in ("save", "rotate", "delete"):

            def call(session_id: str, *args: Any, **kwargs: Any) -> Any:
                self._end_once(session_id)
                return target(session_id, *args, **kwargs)

            return call
        if name in ("asave", "arotate", "adelete"):

            async def acall(session_id: str, *args: Any, **kwargs: Any) -> Any:
                self._end_once(session_id)
                return await target(session_id, *args, **kwargs)

            return acall
        return target
