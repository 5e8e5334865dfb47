"""SQLStore: the store contract over ``sql_flows``, shared by SQLiteStore and PostgresStore.

Each operation is one flow run in one short transaction by the subclass's
drivers (:meth:`SQLStore._run`, :meth:`SQLStore._arun`). Writes that create,
save, rotate or delete also reclaim expired rows now and then: at most one
bounded sweep per ``sweep_interval_seconds`` per store object, so no request
pays for a pass over the table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from ..errors import ConfigurationError, StoreUnavailable
from .base import AuditRecord, BlindWrite, Changes, Meta, Query, StoredSession
from .registry_flows import SQLRegistry
from .sql_flows import Flow, Row, SQLFlows, Statement

logger = logging.getLogger("sessionware")

T = TypeVar("T")

DEFAULT_SWEEP_INTERVAL_SECONDS = 60.0


def drive(flow: Flow[T], execute: Callable[[Statement], list[Row]]) -> T:
    """Run ``flow`` to its end, each statement through ``execute``; its result."""
    try:
        statement = next(flow)
        while True:
            statement = flow.send(execute(statement))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(flow: Flow[T], execute: Callable[[Statement], Awaitable[list[Row]]]) -> T:
    """:func:`drive` with an async ``execute``."""
    try:
        statement = next(flow)
        while True:
            statement = flow.send(await execute(statement))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def check_positive(name: str, value: object) -> float:
    """``value`` as a float if it is a positive number, else ConfigurationError."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class SQLStore:
    """The sync, async and management store contracts over :class:`SQLFlows`.

    Subclasses provide ``_run(flow, write=...)`` and ``_arun(flow, write=...)``,
    which carry a flow out in one transaction and raise StoreUnavailable (with
    the cause chained) for any database error.
    """

    ROTATE_CHECKS_CHANGES = True  # rotate() takes unchanged_since (see base)

    def __init__(self, flows: SQLFlows, *, sweep_interval_seconds: float) -> None:
        limit = flows.audit_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"audit_limit must be a positive int, got {limit!r}")
        self._flows = flows
        self.audit_limit = limit  # of each log: operators' and end users'
        self._registry = SQLRegistry(flows.sessions.removesuffix("sessions") + "registry")
        self.retention_seconds = flows.retention_seconds
        self.sweep_interval_seconds = check_positive(
            "sweep_interval_seconds", sweep_interval_seconds
        )
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()

    # -- the drivers (subclasses) ----------------------------------------------------------

    def _run(self, flow: Flow[T], *, write: bool = True) -> T:
        raise NotImplementedError

    async def _arun(self, flow: Flow[T], *, write: bool = True) -> T:
        raise NotImplementedError

    # -- reclaiming ------------------------------------------------------------------------

    def sweep(self, *, now: float | None = None) -> int:
        """Reclaim one bounded batch of due rows (see ``SQLFlows.sweep``); how many. The
        marks that ran out go in a transaction of their own: one holding locks on both
        tables could deadlock with a DROP (or a migration) taking them in the other order."""
        now = time.time() if now is None else now
        swept = self._run(self._flows.sweep(now))
        self._run(self._flows.sweep_marks(now))
        return swept

    async def asweep(self, *, now: float | None = None) -> int:
        """See :meth:`sweep`."""
        now = time.time() if now is None else now
        swept = await self._arun(self._flows.sweep(now))
        await self._arun(self._flows.sweep_marks(now))
        return swept

    def _sweep_now(self) -> bool:
        """True for at most one caller per interval (the one that runs the sweep)."""
        moment = time.monotonic()
        with self._sweep_lock:
            if moment < self._next_sweep:
                return False
            self._next_sweep = moment + self.sweep_interval_seconds
            return True

    def _reclaim(self) -> None:
        """The sweep a write triggers (inline here; PostgresStore's runs in the background)."""
        try:
            self.sweep()
        except StoreUnavailable as error:  # the request's own write is done
            logger.warning("sessionware: a sweep of expired sessions failed: %s", error)

    async def _areclaim(self) -> None:
        """See :meth:`_reclaim`."""
        try:
            await self.asweep()
        except StoreUnavailable as error:
            logger.warning("sessionware: a sweep of expired sessions failed: %s", error)

    def _write(self, flow: Flow[T]) -> T:
        result = self._run(flow)
        if self._sweep_now():
            self._reclaim()
        return result

    async def _awrite(self, flow: Flow[T]) -> T:
        result = await self._arun(flow)
        if self._sweep_now():
            await self._areclaim()
        return result

    # -- the session contract (stores/base.py) ---------------------------------------------

    def load(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        return self._run(self._flows.load(session_id, now, idle_seconds))

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        self._write(self._flows.create(session_id, data, meta))

    def save(self, session_id: str, changes: Changes) -> bool:
        return self._write(self._flows.save(session_id, changes))

    def write(self, session_id: str, write: BlindWrite) -> str:
        return self._write(self._flows.write(session_id, write))

    def rotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        *,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> bool:
        flow = self._flows.rotate(old_id, new_id, data, meta, require_live, unchanged_since)
        return self._write(flow)

    def delete(self, session_id: str) -> None:
        self._write(self._flows.delete(session_id, time.time()))

    async def aload(
        self, session_id: str, *, now: float, idle_seconds: float | None
    ) -> StoredSession | None:
        return await self._arun(self._flows.load(session_id, now, idle_seconds))

    async def acreate(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> None:
        await self._awrite(self._flows.create(session_id, data, meta))

    async def asave(self, session_id: str, changes: Changes) -> bool:
        return await self._awrite(self._flows.save(session_id, changes))

    async def awrite(self, session_id: str, write: BlindWrite) -> str:
        return await self._awrite(self._flows.write(session_id, write))

    async def arotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        *,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> bool:
        flow = self._flows.rotate(old_id, new_id, data, meta, require_live, unchanged_since)
        return await self._awrite(flow)

    async def adelete(self, session_id: str) -> None:
        await self._awrite(self._flows.delete(session_id, time.time()))

    # -- the management contract -------------------------------------------------------------

    def moved_mark(self, session_id: str, *, now: float) -> str | None:
        return self._run(self._flows.moved_mark(session_id, now), write=False)

    async def amoved_mark(self, session_id: str, *, now: float) -> str | None:
        return await self._arun(self._flows.moved_mark(session_id, now), write=False)

    def get_meta(self, session_id: str, *, now: float) -> Meta | None:
        return self._run(self._flows.get_meta(session_id, now), write=False)

    def read_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        return self._run(self._flows.read_data(session_id, now), write=False)

    def query(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        return self._run(self._flows.query(query, now), write=False)

    def user_session_ids(self, user: str, *, now: float) -> list[str]:
        return self._run(self._flows.user_session_ids(user, now), write=False)

    def revoke(self, session_id: str, *, actor: str, now: float) -> bool:
        return self._run(self._flows.revoke(session_id, actor, now))

    def set_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        return self._run(self._flows.set_expiry(session_id, expires_at, now))

    def add_audit(self, record: AuditRecord) -> None:
        self._run(self._flows.add_audit(record))

    def audit(self, *, limit: int) -> list[AuditRecord]:
        return self._run(self._flows.audit(limit), write=False)

    async def aget_meta(self, session_id: str, *, now: float) -> Meta | None:
        return await self._arun(self._flows.get_meta(session_id, now), write=False)

    async def aread_data(self, session_id: str, *, now: float) -> dict[str, bytes] | None:
        return await self._arun(self._flows.read_data(session_id, now), write=False)

    async def aquery(self, query: Query, *, now: float) -> tuple[list[tuple[str, Meta]], int]:
        return await self._arun(self._flows.query(query, now), write=False)

    async def auser_session_ids(self, user: str, *, now: float) -> list[str]:
        return await self._arun(self._flows.user_session_ids(user, now), write=False)

    async def arevoke(self, session_id: str, *, actor: str, now: float) -> bool:
        return await self._arun(self._flows.revoke(session_id, actor, now))

    async def aset_expiry(self, session_id: str, expires_at: float | None, *, now: float) -> bool:
        return await self._arun(self._flows.set_expiry(session_id, expires_at, now))

    async def aadd_audit(self, record: AuditRecord) -> None:
        await self._arun(self._flows.add_audit(record))

    async def aaudit(self, *, limit: int) -> list[AuditRecord]:
        return await self._arun(self._flows.audit(limit), write=False)

    # -- the registry contract (stores/base.py) --------------------------------------------

    def registry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        return self._run(self._registry.put(kind, name, document, if_absent, replacing))

    def registry_get(self, kind: str, name: str) -> bytes | None:
        return self._run(self._registry.get(kind, name), write=False)

    def registry_list(self, kind: str) -> dict[str, bytes]:
        return self._run(self._registry.list(kind), write=False)

    def registry_delete(self, kind: str, name: str) -> bool:
        return self._run(self._registry.delete(kind, name))

    async def aregistry_put(
        self,
        kind: str,
        name: str,
        document: bytes,
        *,
        if_absent: bool = False,
        replacing: bytes | None = None,
    ) -> bool:
        return await self._arun(self._registry.put(kind, name, document, if_absent, replacing))

    async def aregistry_get(self, kind: str, name: str) -> bytes | None:
        return await self._arun(self._registry.get(kind, name), write=False)

    async def aregistry_list(self, kind: str) -> dict[str, bytes]:
        return await self._arun(self._registry.list(kind), write=False)

    async def aregistry_delete(self, kind: str, name: str) -> bool:
        return await self._arun(self._registry.delete(kind, name))
