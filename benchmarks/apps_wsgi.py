"""The Flask app, once per session layer: bare, Flask's cookie, Flask-Session, sessionware.

"bare" replaces Flask's always-on cookie session with one that opens an empty
dict and never saves: no session layer at all, like bare Starlette. Flask's
own cookie session is the separate "flask-cookie" variant. Each builder returns
a :class:`Variant` or raises :class:`Unavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, session
from flask.sessions import SessionInterface, SessionMixin

from . import scenarios, stores
from .driver_wsgi import WSGIApp
from .scenarios import Session, Unavailable, Variant
from .settings import SECRET_KEY, Settings

WsgiVariant = Variant[WSGIApp]


class _ThrowawaySession(dict[str, Any], SessionMixin):
    """An empty dict per request that is never saved."""


class _NoSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> _ThrowawaySession:
        return _ThrowawaySession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def _race(index: int) -> str:
    session.get("user")
    time.sleep(scenarios.RACE_PAUSE_SECONDS)
    session[scenarios.race_key(index)] = 1
    return "ok"


def _app(name: str, configure: Callable[[Flask], Any]) -> Flask:
    app = Flask(f"bench_{name}")
    app.secret_key = SECRET_KEY
    configure(app)
    actions: dict[str, Callable[[Session], str]] = {
        "/login": scenarios.login,
        "/read": scenarios.read,
        "/incr": scenarios.incr,
        "/write": scenarios.write,
        "/keys": scenarios.race_keys,
    }
    for path, action in actions.items():
        app.add_url_rule(path, path, lambda action=action: action(session))
    app.add_url_rule("/untouched", "/untouched", lambda: "ok")
    app.add_url_rule("/race/<int:index>", "/race", _race)
    return app


def _variant(name: str, configure: Callable[[Flask], Any], **options: Any) -> WsgiVariant:
    app = _app(name, configure)
    return Variant(name, app.wsgi_app, **options)  # the WSGI callable, after configuration


def bare(settings: Settings) -> WsgiVariant:
    def configure(app: Flask) -> None:
        app.session_interface = _NoSessionInterface()

    return _variant("bare", configure, bare=True)


def flask_cookie(settings: Settings) -> WsgiVariant:
    return _variant("flask-cookie", lambda app: None)


def flask_session_redis(settings: Settings) -> WsgiVariant:
    import redis
    from flask_session import Session as FlaskSession  # type: ignore[import-untyped]

    client = redis.Redis.from_url(settings.redis_url)

    def configure(app: Flask) -> None:
        # Flask-Session's documented Redis setup; only the key prefix is ours.
        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=client,
            SESSION_KEY_PREFIX=settings.prefix("flask-session-redis"),
        )
        FlaskSession(app)

    return _variant("flask-session-redis", configure, uses_redis=True, close=client.close)


def flask_session_sqlalchemy(settings: Settings) -> WsgiVariant:
    try:
        from flask_session import Session as FlaskSession
        from flask_sqlalchemy import SQLAlchemy
    except ImportError as error:
        raise Unavailable(f"Flask-Session's SQLAlchemy backend not importable: {error}") from error
    schema, drop = stores.postgres_schema(settings, "flask-session-sqlalchemy")
    db = SQLAlchemy()
    apps: list[Flask] = []

    def configure(app: Flask) -> None:
        # Flask-Session's documented SQLAlchemy setup, on the same database as
        # sessionware-postgres; only the schema is ours (dropped after).
        app.config.update(
            SQLALCHEMY_DATABASE_URI=stores.sqlalchemy_url(settings.postgres_url),
            SESSION_TYPE="sqlalchemy",
            SESSION_SQLALCHEMY=db,
            SESSION_SQLALCHEMY_SCHEMA=schema,
        )
        db.init_app(app)
        FlaskSession(app)
        apps.append(app)

    def close() -> None:
        with apps[0].app_context():
            db.engine.dispose()
        drop()

    return _variant("flask-session-sqlalchemy", configure, close=close)


def _sessionware(name: str, store: Any, close: Callable[[], Any] | None = None) -> WsgiVariant:
    try:
        from sessionware.flask import Sessionware
    except ImportError as error:
        raise Unavailable(f"sessionware.flask.Sessionware not importable: {error}") from error
    close = close or getattr(store, "close", None) or (lambda: None)
    return _variant(
        name,
        lambda app: Sessionware(app, secret_key=SECRET_KEY, store=store),
        uses_redis="redis" in name,
        close=close,
    )


def sessionware_memory(settings: Settings) -> WsgiVariant:
    try:
        from sessionware import MemoryStore
    except ImportError as error:
        raise Unavailable(f"sessionware.MemoryStore not importable: {error}") from error
    return _sessionware("sessionware-memory", MemoryStore())


def sessionware_redis(settings: Settings) -> WsgiVariant:
    try:
        from sessionware import RedisStore
    except ImportError as error:
        raise Unavailable(f"sessionware.RedisStore not importable: {error}") from error
    store = RedisStore.from_url(settings.redis_url, prefix=settings.prefix("sessionware-redis"))
    return _sessionware("sessionware-redis", store)


def sessionware_redis_cached(settings: Settings) -> WsgiVariant:
    """RedisStore with its client-side cache (``cache_own_saves=True``): repeated reads
    need no round trip, a read-and-write one."""
    from sessionware import RedisStore

    prefix = settings.prefix("sessionware-redis-cached")
    store = RedisStore.from_url(
        settings.redis_url, prefix=prefix, client_cache=True, cache_own_saves=True
    )
    assert store.cache is not None and store.cache.wait_ready(5)
    return _sessionware("sessionware-redis-cached", store)


def sessionware_sqlite(settings: Settings) -> WsgiVariant:
    store, remove = stores.sqlite_store()
    return _sessionware("sessionware-sqlite", store, close=remove)


def sessionware_postgres(settings: Settings) -> WsgiVariant:
    store, drop = stores.postgres_store(settings, "sessionware-postgres")
    return _sessionware("sessionware-postgres", store, close=drop)


BUILDERS: list[tuple[str, bool, Callable[[Settings], WsgiVariant]]] = [
    # (name, needs Redis, builder)
    ("bare", False, bare),
    ("flask-cookie", False, flask_cookie),
    ("flask-session-redis", True, flask_session_redis),
    ("sessionware-memory", False, sessionware_memory),
    ("sessionware-redis", True, sessionware_redis),
    ("sessionware-redis-cached", True, sessionware_redis_cached),
    ("flask-session-sqlalchemy", False, flask_session_sqlalchemy),
    ("sessionware-sqlite", False, sessionware_sqlite),
    ("sessionware-postgres", False, sessionware_postgres),
]
