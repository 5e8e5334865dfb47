"""The one manager interface the console's views await, over either manager.

The ASGI console uses :class:`~sessionware.AsyncSessionManager` as it is; the
WSGI console wraps a :class:`~sessionware.SessionManager` in
:class:`AwaitableManager`, whose methods are coroutines that return at once
(so :func:`~sessionware.admin.http.run_sync` can drive a view to its end).
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from ..analytics import Analytics
from ..export import JSON, AuditEntry, SessionInfo, SessionPage
from ..management import SessionManager, UserId


class Manager(Protocol):
    """The :class:`~sessionware.AsyncSessionManager` methods the console calls."""

    async def list(self, **filters: Any) -> SessionPage: ...

    async def get(self, session_id: str) -> SessionInfo | None: ...

    async def reveal(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> dict[str, Any]: ...

    async def revoke(self, session_id: str, *, actor: str) -> bool: ...

    async def revoke_user(
        self, user: UserId, *, actor: str, keep: str | None = None, app: str | None = None
    ) -> int: ...

    async def revoke_user_of(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> int: ...

    async def set_ttl(self, session_id: str, ttl: Any, *, actor: str | None = None) -> bool: ...

    async def user_sessions(self, user: UserId) -> builtins.list[SessionInfo]: ...

    async def export(self, **options: Any) -> dict[str, JSON]: ...

    async def audit_log(self, **options: Any) -> builtins.list[AuditEntry]: ...

    async def analytics(self, **options: Any) -> Analytics: ...


class AwaitableManager:
    """A :class:`SessionManager` behind :class:`Manager`'s awaitable methods."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    async def list(self, **filters: Any) -> SessionPage:
        return self.manager.list(**filters)

    async def get(self, session_id: str) -> SessionInfo | None:
        return self.manager.get(session_id)

    async def reveal(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> dict[str, Any]:
        return self.manager.reveal(session_id, actor=actor, reason=reason)

    async def revoke(self, session_id: str, *, actor: str) -> bool:
        return self.manager.revoke(session_id, actor=actor)

    async def revoke_user(
        self, user: UserId, *, actor: str, keep: str | None = None, app: str | None = None
    ) -> int:
        return self.manager.revoke_user(user, actor=actor, keep=keep, app=app)

    async def revoke_user_of(
        self, session_id: str, *, actor: str, reason: str | None = None
    ) -> int:
        return self.manager.revoke_user_of(session_id, actor=actor, reason=reason)

    async def set_ttl(self, session_id: str, ttl: Any, *, actor: str | None = None) -> bool:
        return self.manager.set_ttl(session_id, ttl, actor=actor)

    async def user_sessions(self, user: UserId) -> builtins.list[SessionInfo]:
        return self.manager.user_sessions(user)

    async def export(self, **options: Any) -> dict[str, JSON]:
        return self.manager.export(**options)

    async def audit_log(self, **options: Any) -> builtins.list[AuditEntry]:
        return self.manager.audit_log(**options)

    async def analytics(self, **options: Any) -> Analytics:
        return self.manager.analytics(**options)
