"""sessionware: cookie-bound, server-side sessions for ASGI and WSGI apps.

The cookie holds only a signed random token; the data lives in a store
(in memory by default, or Redis, SQLite or PostgreSQL). ``import sessionware`` imports no optional
dependency: ``RedisStore`` and friends load on first use and, when their extra
is missing, say which one to install.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .asgi import SessionMiddleware
from .encryption import Keyring
from .errors import (
    ConfigurationError,
    CorruptRecord,
    InsecureTransport,
    InvalidSessionType,
    InvalidToken,
    MissingExtra,
    RefreshConflict,
    RefreshTokenReused,
    RevocationIncomplete,
    SchemaViolation,
    SessionConflict,
    SessionNotLoaded,
    SessionsDisabled,
    SessionTooLarge,
    SessionTypeInUse,
    SessionwareError,
    StoreUnavailable,
    TokenError,
    TokenExpired,
    TokenRequired,
    TokenRevoked,
    UnknownOption,
    UnknownSessionType,
    UnstorableValue,
)
from .lifecycle import SessionEvent, SessionHooks
from .management import AsyncSessionManager, SessionManager
from .session import Session
from .stores.memory import MemoryStore
from .tokens import SessionToken, UserPage, UserSessions
from .wsgi import WSGISessionMiddleware

if TYPE_CHECKING:
    from .session_types.access import session_of
    from .session_types.model import SessionType
    from .stores.postgres import PostgresStore
    from .stores.redis import RedisStore
    from .stores.sqlite import SQLiteStore

__all__ = [
    "AsyncSessionManager",
    "ConfigurationError",
    "CorruptRecord",
    "InsecureTransport",
    "InvalidSessionType",
    "InvalidToken",
    "Keyring",
    "MemoryStore",
    "MissingExtra",
    "PostgresStore",
    "RedisStore",
    "RefreshConflict",
    "RefreshTokenReused",
    "RevocationIncomplete",
    "SQLiteStore",
    "SchemaViolation",
    "Session",
    "SessionConflict",
    "SessionEvent",
    "SessionHooks",
    "SessionManager",
    "SessionMiddleware",
    "SessionNotLoaded",
    "SessionToken",
    "SessionTooLarge",
    "SessionType",
    "SessionTypeInUse",
    "SessionsDisabled",
    "SessionwareError",
    "StoreUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenRequired",
    "TokenRevoked",
    "UnknownOption",
    "UnknownSessionType",
    "UnstorableValue",
    "UserPage",
    "UserSessions",
    "WSGISessionMiddleware",
    "session_of",
]

# name -> module that defines it, imported on first access (optional extras inside)
_LAZY = {
    "PostgresStore": ".stores.postgres",
    "RedisStore": ".stores.redis",
    "SQLiteStore": ".stores.sqlite",
    "SessionType": ".session_types.model",
    "session_of": ".session_types.access",
}


_SUBMODULES = {"config"}  # reached as sessionware.config after a plain import sessionware


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module("." + name, __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sessionware' has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)
