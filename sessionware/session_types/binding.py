"""A middleware bound to a session type: how the shells find the type and expose the session.

A shell given ``session_type="checkout-session"`` keeps a :class:`BoundType`
(the type, re-read from the store at most every ``CACHE_SECONDS``), sets it on
each request's session before loading, and puts the session under its tag:
``scope["sessions"][tag]`` (ASGI) or ``environ["sessionware.sessions"][tag]``
(WSGI, Flask); ``request.session`` stays the outermost middleware's. Read it
with :func:`~sessionware.session_types.access.session_of`.
"""

from __future__ import annotations

from ..errors import ConfigurationError, StoreUnavailable, UnknownSessionType
from ..stores.base import AsyncRegistryStore, RegistryStore
from .access import ASGI_KEY, WSGI_KEY, register
from .registry import BoundType

__all__ = [
    "ASGI_KEY",
    "WSGI_KEY",
    "BoundType",
    "astartup_problem",
    "bound_type",
    "register",
    "startup_problem",
]


def bound_type(tag: str | None, store: object, *, asynchronous: bool) -> BoundType | None:
    """The binding for ``tag`` on ``store`` (``None`` without a tag); ConfigurationError
    when the store keeps no registry."""
    if tag is None:
        return None
    protocol = AsyncRegistryStore if asynchronous else RegistryStore
    if not isinstance(store, protocol):
        raise ConfigurationError(
            f"session_type={tag!r} needs a store with a session-type registry "
            f"({protocol.__name__} in sessionware/stores/base.py); "
            f"{type(store).__qualname__} has none"
        )
    return BoundType(tag, store)


def startup_problem(bound: BoundType) -> str | None:
    """Why a middleware bound to ``bound``'s tag cannot serve, read once at start-up:
    no such type in the store (every request would fail). ``None`` when the type is
    there, or when the store cannot be read now (requests try again, answering 503
    until it can)."""
    try:
        bound.current()
    except UnknownSessionType as error:
        return _unknown(bound.tag, error)
    except StoreUnavailable:
        return None
    return None


async def astartup_problem(bound: BoundType) -> str | None:
    """:func:`startup_problem` for an async store."""
    try:
        await bound.acurrent()
    except UnknownSessionType as error:
        return _unknown(bound.tag, error)
    except StoreUnavailable:
        return None
    return None


def _unknown(tag: str, error: UnknownSessionType) -> str:
    return (
        f"sessionware: session_type={tag!r} names no session type in the store ({error}); "
        "every request would fail: create the type first (SessionManager(store).types."
        "create, or `sessionware types create`), or fix the tag"
    )
