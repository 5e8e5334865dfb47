"""Lifecycle events: what happened to a request's session, for hooks and metrics.

A shell with ``hooks=`` (or ``metrics=True``) holds one :class:`Lifecycle` and
calls it at three points: when the cookie is read (:meth:`Lifecycle.opened`),
when the store answers a load (:meth:`Lifecycle.loaded`) and when the
end-of-request store call succeeded (:meth:`Lifecycle.saved`). Each returns the
events it saw, oldest first, and :meth:`Lifecycle.fire` / :meth:`Lifecycle.afire`
hand them to every hook in that order. Events come after the store call, so a
hook can neither fail the request nor lose its write: a hook that raises is
logged (``sessionware.hooks``) and the request goes on.

Events carry the public id, never the cookie token.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, Protocol

from .cookies import MAX_COOKIE_VALUE, plausible
from .core import Plan
from .errors import ConfigurationError
from .session import Session
from .stores.base import EXPIRED, REVOKED, Meta, StoredSession

logger = logging.getLogger("sessionware.hooks")

CREATED, ROTATED, LOGOUT = "created", "rotated", "logout"
REFUSED = "refused"
# why a cookie was refused: its signature, its shape, its size, or no record behind it
BAD_SIGNATURE, MALFORMED, OVERSIZED, UNKNOWN = "bad_signature", "malformed", "oversized", "unknown"
Hook = Callable[["SessionEvent"], "Awaitable[None] | None"]


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One thing that happened to a session.

    ``kind``: ``created``, ``rotated`` (a new id, as at login), ``logout`` (the
    session was emptied and deleted), ``revoked`` or ``expired`` (a cookie
    named a session that had been; seen on load), ``refused`` (a cookie that
    named no session: ``reason`` is ``bad_signature``, ``malformed``,
    ``oversized`` or ``unknown``). ``session_id`` is the public id (``None`` for
    a refused cookie that never verified); ``previous_id`` the id a rotation
    replaced; ``actor`` who revoked it.
    """

    kind: str
    session_id: str | None
    app: str
    user: str | None = None
    reason: str | None = None
    actor: str | None = None
    previous_id: str | None = None


@dataclass(frozen=True, slots=True)
class SessionHooks:
    """Callbacks for session events, each ``hook(event)``, sync or ``async``.

    An async hook runs in the request's event loop under ASGI; under WSGI it
    runs to completion in a loop of its own. ConfigurationError for a hook that
    is not callable.
    """

    on_created: Hook | None = None
    on_rotated: Hook | None = None
    on_logout: Hook | None = None
    on_revoked: Hook | None = None
    on_expired: Hook | None = None
    on_refused: Hook | None = None

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not None and not callable(value):
                raise ConfigurationError(
                    f"SessionHooks.{spec.name} must be a callable taking a SessionEvent, "
                    f"not {type(value).__qualname__}"
                )

    def hook(self, kind: str) -> Hook | None:
        """The hook for events of ``kind``, if any."""
        hook: Hook | None = getattr(self, "on_" + kind, None)
        return hook


class Observer(Protocol):
    """Something else that watches events (the metrics)."""

    def observe(self, event: SessionEvent) -> None: ...


class Lifecycle:
    """Turns what the shells see into events and hands them to hooks and observers."""

    def __init__(
        self, app: str, hooks: SessionHooks | None, observers: Iterable[Observer] = ()
    ) -> None:
        if hooks is not None and not isinstance(hooks, SessionHooks):
            raise ConfigurationError(
                f"hooks must be a sessionware.SessionHooks, not {type(hooks).__qualname__}"
            )
        self.app = app
        self.hooks = hooks
        self.observers = list(observers)

    def opened(
        self, session: Session, cookie_headers: Iterable[str], name: str
    ) -> list[SessionEvent]:
        """A ``refused`` event when a cookie of ours came in but named no session."""
        if session._id is not None:
            return []
        reason = refusal(cookie_headers, name)
        return [] if reason is None else [SessionEvent(REFUSED, None, self.app, reason=reason)]

    def loaded(
        self, session_id: str, stored: StoredSession | None, dead: Meta | None
    ) -> list[SessionEvent]:
        """The events of a load that found nothing live: what the record had become
        (``dead``, the store's tombstone, if any)."""
        if stored is not None:
            return []
        if dead is None or dead.status not in (EXPIRED, REVOKED):
            return [SessionEvent(REFUSED, session_id, self.app, reason=UNKNOWN)]
        return [SessionEvent(dead.status, session_id, self.app, dead.user, actor=dead.revoked_by)]

    def saved(
        self,
        decision: Plan,
        session: Session,
        before: Meta | None = None,
        looked: bool = False,
    ) -> list[SessionEvent]:
        """The events of an end-of-request store call that succeeded. ``before``: for
        a logout of a session never loaded (WSGI, ``autoload=False``), its record as
        read just before the delete (``looked``: the store could say): whose it was,
        or that it had already ended, or that there was none (then the events a load
        would have given, not a logout: a second tab's logout is no second logout)."""
        method, args = decision.method, decision.args
        if method == "create" and session._id is not None:
            return [SessionEvent(CREATED, session._id, self.app, args[2].user)]
        if method == "rotate" and session._id is not None:
            user = args[3].user
            return [SessionEvent(ROTATED, session._id, self.app, user, previous_id=args[0])]
        if method == "delete":
            if before is not None and before.status in (EXPIRED, REVOKED):
                return self.loaded(args[0], None, before)
            if looked and before is None and session._meta is None:  # no record was there
                return self.loaded(args[0], None, None)
            known = session._meta or before
            return [SessionEvent(LOGOUT, args[0], self.app, None if known is None else known.user)]
        return []

    def fire(self, events: list[SessionEvent]) -> None:
        """Hand ``events`` to the observers and hooks, in order (sync shells)."""
        if not events:
            return
        for event, hook in self._dispatch(events):
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    asyncio.run(_awaited(result))
            except Exception:
                _log(event)

    async def afire(self, events: list[SessionEvent]) -> None:
        """Hand ``events`` to the observers and hooks, in order (async shells)."""
        if not events:
            return
        for event, hook in self._dispatch(events):
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log(event)

    def _dispatch(self, events: list[SessionEvent]) -> list[tuple[SessionEvent, Hook]]:
        calls = []
        for event in events:
            for observer in self.observers:
                observer.observe(event)
            hook = None if self.hooks is None else self.hooks.hook(event.kind)
            if hook is not None:
                calls.append((event, hook))
        return calls


def refusal(cookie_headers: Iterable[str], name: str) -> str | None:
    """Why the cookies called ``name`` in these headers were refused, or ``None``
    when there was none: ``oversized`` beats ``malformed`` beats ``bad_signature``."""
    values = [
        part.strip()[len(name) + 1 :].strip('"')
        for header in cookie_headers
        if name + "=" in header
        for part in header.split(";")
        if part.strip().startswith(name + "=")
    ]
    if not values:
        return None
    if any(len(value) > MAX_COOKIE_VALUE for value in values):
        return OVERSIZED
    return BAD_SIGNATURE if any(plausible(value) for value in values) else MALFORMED


async def _awaited(result: Awaitable[Any]) -> None:
    await result


def _log(event: SessionEvent) -> None:
    logger.exception(
        "sessionware: the %s hook failed for session %s (app %s); the request went on",
        event.kind,
        event.session_id,
        event.app,
    )


def observed(
    store: Any, app: str, hooks: SessionHooks | None, metrics: bool, registry: Any
) -> tuple[Any, Lifecycle | None]:
    """What a shell calls its store through, and its lifecycle (``None``: no hooks,
    no metrics, nothing to call). The store comes back wrapped in an
    :class:`~sessionware.instrumented.InstrumentedStore` when ``metrics`` is on or
    OpenTelemetry is installed, else as it is. prometheus-client is imported only
    when ``metrics`` is on.
    """
    if not isinstance(metrics, bool):
        raise ConfigurationError(f"metrics must be True or False, not {metrics!r}")
    if registry is not None and not metrics:
        raise ConfigurationError("registry= is where metrics go: pass metrics=True with it")
    from .instrumented import InstrumentedStore, tracer

    collectors = None
    if metrics:
        from .metrics import metrics_for

        collectors = metrics_for(registry)
    otel = tracer()
    calls = store if collectors is None and otel is None else None
    if calls is None:
        calls = InstrumentedStore(store, app, collectors, otel)
    observers = [] if collectors is None else [collectors]
    if hooks is None and not observers:
        return calls, None
    return calls, Lifecycle(app, hooks, observers)
