"""The session every request gets while sessions are turned off (``enabled=False``).

With ``enabled: false`` in the config (or ``enabled=False`` in code) the app
still runs: ``request.session`` is an empty :class:`DisabledSession` that reads
as empty and refuses every write with :class:`SessionsDisabled`, and the shells
read no cookie, set none and never touch the store. ``clear()`` and
``regenerate()`` do nothing (there is nothing to end or renumber), so logout and
login code runs unchanged until it tries to store something.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping
from typing import Any, NoReturn

from .errors import SessionsDisabled
from .session import Session


class DisabledSession(Session):
    """An empty session that refuses writes: sessions are turned off."""

    __slots__ = ()

    def _writable(self, key: str) -> NoReturn:
        raise _refusal(key)

    def __delitem__(self, key: str) -> NoReturn:
        raise _refusal(key)

    def clear(self) -> None:
        """Nothing is stored, so there is nothing to end."""

    def regenerate(self) -> None:
        """Nothing is stored, so there is no id to renew."""


def _refusal(key: str) -> SessionsDisabled:
    return SessionsDisabled(
        "sessions are turned off (enabled=False: in code, the sessions block of a config "
        "file or SESSIONWARE_ENABLED), so the "
        f"session cannot store {key!r}; turn sessions on, or keep this value elsewhere",
        key=key,
    )


@functools.cache
def _disabled_class(cls: type[Session]) -> type[Session]:
    if cls is Session:
        return DisabledSession
    return type(f"Disabled{cls.__name__}", (DisabledSession, cls), {"__slots__": ()})


def disabled(cls: type[Session] = Session) -> Session:
    """A disabled session that is also a ``cls`` (Flask's ``FlaskSession``, say)."""
    return _disabled_class(cls)()


def unused_secret(options: Mapping[str, Any]) -> str | None:
    """A throwaway signing key when ``options`` turn sessions off (none is ever used), else None.

    A deployment that turns sessions off need not provision a secret key.
    """
    return secrets.token_urlsafe(32) if options.get("enabled") is False else None
