"""What every app does, whatever its framework or session layer.

Endpoints (same paths, same logic in the ASGI and the WSGI apps):

* ``/login``: puts :data:`SEED` in the session (the "client with a cookie" setup).
* ``/untouched``: never touches the session.
* ``/read``: reads one key (``user``).
* ``/incr``: increments the counter ``n``.
* ``/write``: sets ``seen`` to a new value without reading the session (write-only).
* ``/race/<i>``: reads the session, pauses, then sets key ``k<i>`` (the race run).
* ``/keys``: lists the ``k<i>`` keys present (the race read-back).

The "bare" variants have no session layer: their handlers get a throwaway
dict, so the same code runs and the ratio to bare is the session layer's cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

ENDPOINTS = ("untouched", "read", "incr", "write")
SEED: dict[str, Any] = {"user": "alice", "n": 0, "prefs": {"theme": "dark", "lang": "en"}}
RACE_PAUSE_SECONDS = 0.001  # between the race handler's load and its save, in every variant

Session = MutableMapping[str, Any]
AppT = TypeVar("AppT")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One timed case: an endpoint, hit by a client that has a session cookie or not."""

    endpoint: str
    with_cookie: bool

    @property
    def path(self) -> str:
        return "/" + self.endpoint

    @property
    def label(self) -> str:
        return f"{self.endpoint}, {'cookie' if self.with_cookie else 'no cookie'}"


SCENARIOS = tuple(Scenario(e, c) for e in ENDPOINTS for c in (True, False))


@dataclass(slots=True)
class Variant(Generic[AppT]):
    """A ready app to measure. ``close`` releases its resources (may return an awaitable)."""

    name: str
    app: AppT
    uses_redis: bool = False
    bare: bool = False
    close: Callable[[], Any] = field(default=lambda: None)


class Unavailable(Exception):
    """A variant cannot be built here (missing package, no Redis); the message says why."""


def login(session: Session) -> str:
    session.update(SEED)
    return "ok"


def read(session: Session) -> str:
    return str(session.get("user", ""))


def incr(session: Session) -> str:
    session["n"] = session.get("n", 0) + 1
    return str(session["n"])


_SEEN = itertools.count()


def write(session: Session) -> str:
    """Set a key without reading the session: always a new value, so always saved."""
    session["seen"] = next(_SEEN)
    return "ok"


def race_key(index: int) -> str:
    return f"k{index}"


def race_keys(session: Session) -> str:
    """The race keys present, comma-separated in index order."""
    present = [key for key in session if key.startswith("k") and key[1:].isdigit()]
    return ",".join(sorted(present, key=lambda key: int(key[1:])))


def check_behaviour(get: Callable[[str, bool], str]) -> str | None:
    """Why a session variant misbehaves, or ``None`` when it keeps state correctly.

    ``get(path, fresh)`` makes a request and returns the body; ``fresh`` starts a
    new client (empty jar), otherwise the previous client's jar is reused.
    """
    expected = [
        ("/login", True, "ok"),
        ("/read", False, "alice"),
        ("/incr", False, "1"),
        ("/incr", False, "2"),
        ("/untouched", False, "ok"),
        ("/incr", False, "3"),
        ("/read", True, ""),
    ]
    for path, fresh, want in expected:
        got = get(path, fresh)
        if got != want:
            return f"{path} answered {got!r}, expected {want!r}"
    return None
