"""``session_of(request, tag)``: the session of one type, in a request that has several.

Each middleware bound to a type puts its session where every shell can find it:
``scope["sessions"][tag]`` (ASGI: Starlette, FastAPI) and
``environ["sessionware.sessions"][tag]`` (WSGI, Flask). ``request.session``
(``scope["session"]``, ``flask.session``) stays the outermost cookie middleware's;
under a bearer middleware it is the token's.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from ..errors import UnknownSessionType
from ..session import Session

ASGI_KEY = "sessions"  # in the ASGI scope
WSGI_KEY = "sessionware.sessions"  # in the WSGI environ


def register(carrier: MutableMapping[str, Any], key: str, tag: str, session: Session) -> None:
    """Make ``session`` the request's session of type ``tag`` (for the shells)."""
    carrier.setdefault(key, {})[tag] = session


def session_of(request: Any, tag: str) -> Session:
    """The session of type ``tag`` in ``request``.

    ``request`` is a Starlette/FastAPI ``Request`` or ``WebSocket`` (anything with
    ``.scope``), a Flask or Werkzeug request (anything with ``.environ``), or an
    ASGI scope or WSGI environ itself. Raises UnknownSessionType (a LookupError)
    when no middleware bound to ``tag`` served this request, naming those that did.
    """
    carrier: Mapping[str, Any]
    if isinstance(request, Mapping):
        carrier = request
    elif hasattr(request, "scope"):
        carrier = request.scope
    elif hasattr(request, "environ"):
        carrier = request.environ
    else:
        raise TypeError(
            f"session_of() takes a request, an ASGI scope or a WSGI environ, not "
            f"{type(request).__qualname__}"
        )
    sessions: Mapping[str, Session] = carrier.get(ASGI_KEY) or carrier.get(WSGI_KEY) or {}
    found = sessions.get(tag)
    if found is None:
        raise UnknownSessionType(tag, tuple(sessions))
    return found
