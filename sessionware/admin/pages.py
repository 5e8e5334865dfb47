"""What the console and the "my sessions" page share: serving over ASGI and WSGI.

A :class:`Pages` app answers ASGI directly (``await app(scope, receive,
send)``, so it mounts under Starlette's ``Mount``) and gives a WSGI twin with
:meth:`Pages.wsgi`. Both read the request, serve the packaged static files, and
hand everything else to :meth:`Pages.respond` with the right manager. A HEAD
is answered as a GET, without the body.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from ..encryption import Keyring
from ..errors import ConfigurationError, StoreUnavailable
from ..management import AsyncSessionManager, SessionManager
from ..stores.base import AsyncManagedStore, ManagedStore
from .http import (
    CUT_SHORT,
    TOO_LARGE,
    Request,
    Response,
    asgi_request,
    asgi_send,
    plain,
    run_sync,
    without_body,
    wsgi_answer,
    wsgi_request,
)
from .manager import AwaitableManager, Manager
from .render import STATIC, Templates

T = TypeVar("T")
logger = logging.getLogger("sessionware")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


async def maybe_await(value: T | Awaitable[T]) -> T:
    """``value``, awaited if a sync-or-async callable returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def checked_callable(value: Any, name: str, what: str) -> Any:
    """``value`` if callable; ConfigurationError naming the option otherwise."""
    if not callable(value):
        raise ConfigurationError(f"{name}= must be a callable of the request returning {what}")
    return value


class Pages:
    """Base of :class:`AdminConsole` and :class:`MySessions`; see the module docstring."""

    def __init__(self, store: Any, *, encryption: Keyring | None = None) -> None:
        if not isinstance(store, (ManagedStore, AsyncManagedStore)):
            raise ConfigurationError(
                f"store {type(store).__qualname__} implements neither ManagedStore nor "
                "AsyncManagedStore: pass the store object your SessionMiddleware uses"
            )
        self.store = store
        self.encryption = encryption  # reveal and export open sealed values; user ids hashed
        self.templates = Templates()
        self._async: Manager | None = None
        if isinstance(store, AsyncManagedStore):
            self._async = AsyncSessionManager(store, encryption=encryption)  # type: ignore[assignment]

    async def respond(self, request: Request, manager: Manager) -> Response:
        """The page for ``request`` (subclasses)."""
        raise NotImplementedError

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # the pages have none: refuse the handshake
            await send({"type": "websocket.close", "code": 1008})  # (servers answer 403)
            return
        if scope["type"] != "http":
            return
        if self._async is None:
            raise ConfigurationError(
                f"store {type(self.store).__qualname__} is sync only: serve these pages with "
                ".wsgi(), or pass a store implementing AsyncManagedStore"
            )
        request = await asgi_request(scope, receive)
        await asgi_send(send, await self._answer(request, self._async))

    def wsgi(self) -> WSGIApp:
        """The same pages as a WSGI app, over the sync :class:`SessionManager`.

        The ``authorize``/``user`` callables must then be sync (or async ones
        that never suspend).
        """
        if not isinstance(self.store, ManagedStore):
            raise ConfigurationError(
                f"store {type(self.store).__qualname__} is async only: mount the ASGI app"
            )
        manager = AwaitableManager(SessionManager(self.store, encryption=self.encryption))

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            response = run_sync(self._answer(wsgi_request(environ), manager))
            return wsgi_answer(response, start_response)

        return app

    async def _answer(self, request: Request, manager: Manager) -> Response:
        if request.method == "HEAD":  # the GET's answer, without its body
            return without_body(await self._answer(replace(request, method="GET"), manager))
        if request.path.startswith("/static/"):
            return _static(request.path.removeprefix("/static/"))
        refused = request.form.get("")
        if refused == TOO_LARGE:
            return plain(413)
        if refused == CUT_SHORT:
            return plain(400)
        try:
            return await self.respond(request, manager)
        except StoreUnavailable as error:  # what failed goes to the log, not to the visitor
            logger.warning("sessionware: %s page answered 503: %s", type(self).__name__, error)
            return plain(503, "The session store did not answer; try again in a moment.")


def _static(name: str) -> Response:
    path = STATIC / name
    kind = STATIC_TYPES.get(path.suffix)
    if kind is None or "/" in name or not path.is_file():
        return plain(404)
    return Response(path.read_bytes(), content_type=kind)


async def _lifespan(receive: Any, send: Any) -> None:
    """Answer the lifespan protocol when served directly (nothing to start)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
