"""The Starlette app, once per session layer: bare, Starlette, starsessions, sessionware.

Each builder returns a :class:`Variant` or raises :class:`Unavailable`. Peers
use their documented setup with defaults, except where the comparison needs
otherwise (noted inline). Cookies keep each library's default ``Secure``
setting; the client jar sends them back regardless (see ``jar``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from . import scenarios, stores
from .driver_asgi import ASGIApp
from .scenarios import Session, Unavailable, Variant
from .settings import SECRET_KEY, Settings

AsgiVariant = Variant[ASGIApp]


def _session(request: Request) -> Session:
    session = request.scope.get("session")
    return {} if session is None else session  # bare: a throwaway dict


async def _loaded(request: Request) -> Session:
    """The session, loaded first where the layer needs it (sessionware's autoload=False)."""
    session = _session(request)
    load = getattr(session, "load", None)
    if load is not None:
        await load()
    return session


def _route(path: str, action: Callable[[Session], str], *, reads: bool = True) -> Route:
    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(action(await _loaded(request) if reads else _session(request)))

    return Route(path, endpoint)


async def _untouched(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _race(request: Request) -> PlainTextResponse:
    session = await _loaded(request)
    session.get("user")
    await asyncio.sleep(scenarios.RACE_PAUSE_SECONDS)
    session[scenarios.race_key(int(request.path_params["index"]))] = 1
    return PlainTextResponse("ok")


def _app(middleware: list[Middleware]) -> ASGIApp:
    routes = [
        _route("/login", scenarios.login, reads=False),
        Route("/untouched", _untouched),
        _route("/read", scenarios.read),
        _route("/incr", scenarios.incr),
        _route("/write", scenarios.write, reads=False),
        Route("/race/{index:int}", _race),
        _route("/keys", scenarios.race_keys),
    ]
    app: ASGIApp = Starlette(routes=routes, middleware=middleware)
    return app


def bare(settings: Settings) -> AsgiVariant:
    return Variant("bare", _app([]), bare=True)


def starlette_cookie(settings: Settings) -> AsgiVariant:
    from starlette.middleware.sessions import SessionMiddleware

    return Variant("starlette-cookie", _app([Middleware(SessionMiddleware, secret_key=SECRET_KEY)]))


def _starsessions(name: str, store: Any, close: Callable[[], Any] = lambda: None) -> AsgiVariant:
    # The README's drop-in setup: SessionMiddleware + SessionAutoloadMiddleware
    # (always autoload), otherwise defaults (lifetime=0, cookie_https_only=True).
    from starsessions import SessionAutoloadMiddleware, SessionMiddleware

    middleware = [Middleware(SessionMiddleware, store=store), Middleware(SessionAutoloadMiddleware)]
    return Variant(name, _app(middleware), uses_redis="redis" in name, close=close)


def starsessions_memory(settings: Settings) -> AsgiVariant:
    from starsessions import InMemoryStore

    return _starsessions("starsessions-memory", InMemoryStore())


def starsessions_redis(settings: Settings) -> AsgiVariant:
    from redis.asyncio import Redis
    from starsessions.stores.redis import RedisStore

    # The README's recommended form: pass a client (the url= form is deprecated).
    client = Redis.from_url(settings.redis_url)
    store = RedisStore(connection=client, prefix=settings.prefix("starsessions-redis"))
    return _starsessions("starsessions-redis", store, close=client.aclose)


def _sessionware(
    name: str, store: Any, close: Callable[[], Any] | None = None, **options: Any
) -> AsgiVariant:
    try:
        from sessionware import SessionMiddleware
    except ImportError as error:
        raise Unavailable(f"sessionware.SessionMiddleware not importable: {error}") from error
    middleware = [Middleware(SessionMiddleware, secret_key=SECRET_KEY, store=store, **options)]
    if close is None:
        close = getattr(store, "aclose", None) or getattr(store, "close", None) or (lambda: None)
    return Variant(name, _app(middleware), uses_redis="redis" in name, close=close)


def sessionware_memory(settings: Settings) -> AsgiVariant:
    try:
        from sessionware import MemoryStore
    except ImportError as error:
        raise Unavailable(f"sessionware.MemoryStore not importable: {error}") from error
    return _sessionware("sessionware-memory", MemoryStore())


def sessionware_redis(settings: Settings) -> AsgiVariant:
    try:
        from sessionware import RedisStore
    except ImportError as error:
        raise Unavailable(f"sessionware.RedisStore not importable: {error}") from error
    store = RedisStore.from_url(settings.redis_url, prefix=settings.prefix("sessionware-redis"))
    return _sessionware("sessionware-redis", store)


def sessionware_redis_lazy(settings: Settings) -> AsgiVariant:
    """``autoload=False``: handlers await ``session.load()`` before reading, and one that
    only sets keys is saved by one blind write, with no load."""
    from sessionware import RedisStore

    prefix = settings.prefix("sessionware-redis-lazy")
    store = RedisStore.from_url(settings.redis_url, prefix=prefix)
    return _sessionware("sessionware-redis-lazy", store, autoload=False)


def sessionware_redis_cached(settings: Settings) -> AsgiVariant:
    """RedisStore with its client-side cache (``cache_own_saves=True``): repeated reads
    need no round trip, a read-and-write one."""
    from sessionware import RedisStore

    prefix = settings.prefix("sessionware-redis-cached")
    store = RedisStore.from_url(
        settings.redis_url, prefix=prefix, client_cache=True, cache_own_saves=True
    )
    assert store.cache is not None and store.cache.wait_ready(5)
    return _sessionware("sessionware-redis-cached", store)


def sessionware_sqlite(settings: Settings) -> AsgiVariant:
    store, remove = stores.sqlite_store()
    return _sessionware("sessionware-sqlite", store, close=remove)


def sessionware_postgres(settings: Settings) -> AsgiVariant:
    store, drop = stores.postgres_store(settings, "sessionware-postgres")

    async def close() -> None:
        await store.aclose()  # the harness loop's pool
        drop()

    return _sessionware("sessionware-postgres", store, close=close)


BUILDERS: list[tuple[str, bool, Callable[[Settings], AsgiVariant]]] = [
    # (name, needs Redis, builder)
    ("bare", False, bare),
    ("starlette-cookie", False, starlette_cookie),
    ("starsessions-memory", False, starsessions_memory),
    ("starsessions-redis", True, starsessions_redis),
    ("sessionware-memory", False, sessionware_memory),
    ("sessionware-redis", True, sessionware_redis),
    ("sessionware-redis-lazy", True, sessionware_redis_lazy),
    ("sessionware-redis-cached", True, sessionware_redis_cached),
    ("sessionware-sqlite", False, sessionware_sqlite),
    ("sessionware-postgres", False, sessionware_postgres),
]
