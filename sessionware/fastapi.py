"""FastAPI integration: the session as a dependency.

    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret_key=...)

    @app.post("/cart/{sku}")
    async def add(sku: str, session: SessionDep) -> dict[str, int]:
        cart = session.setdefault("cart", {})
        cart[sku] = cart.get(sku, 0) + 1
        return cart

``SessionDep`` is ``Annotated[Session, Depends(get_session)]``. With
``autoload=False`` the dependency loads the session (one store round trip)
before the handler runs, so handlers that declare it never need
``await session.load()``. ``request.session`` is the same object.
"""

from __future__ import annotations

from typing import Annotated

from .errors import ConfigurationError, missing_extra
from .session import Session

try:
    from fastapi import Depends
    from starlette.requests import HTTPConnection
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("sessionware.fastapi", "fastapi") from error

__all__ = ["SessionDep", "get_session"]


async def get_session(connection: HTTPConnection) -> Session:
    """The request's (or websocket's) session, loaded.

    Raises StoreUnavailable when loading fails (the middleware answers 503) and
    ConfigurationError when ``SessionMiddleware`` is not installed.
    """
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise ConfigurationError(
            "SessionDep needs sessionware's middleware: "
            "app.add_middleware(SessionMiddleware, secret_key=...)"
        )
    if session._pending or session._unloaded:  # autoload=False and not loaded yet
        await session.load()
    return session


SessionDep = Annotated[Session, Depends(get_session)]
