"""A typed accessor for Starlette and FastAPI: ``session(request) -> Session``.

Starlette types ``request.session`` as ``dict[str, Any]``, so under ``mypy --strict``
sessionware's own methods (``regenerate()``, ``flash()``, ``id``, ``permanent``)
are not visible through it. ``session(request)`` returns the same object, typed
as what it is::

    from sessionware.starlette import session

    async def login(request: Request) -> Response:
        session(request).regenerate()
"""

from __future__ import annotations

from .errors import ConfigurationError, missing_extra
from .session import Session

try:
    from starlette.requests import HTTPConnection
except ImportError as error:
    raise missing_extra("sessionware.starlette", "starlette") from error

__all__ = ["session"]


def session(connection: HTTPConnection) -> Session:
    """The request's (or websocket's) sessionware session.

    Raises ConfigurationError when sessionware's ``SessionMiddleware`` is not
    installed on the app.
    """
    found = connection.scope.get("session")
    if not isinstance(found, Session):
        raise ConfigurationError(
            "no sessionware session on this request: "
            "app.add_middleware(SessionMiddleware, secret_key=...); if it is there, this "
            "code runs outside it (a middleware added after it, which Starlette runs "
            "first): add the middlewares that read the session before SessionMiddleware"
        )
    return found
