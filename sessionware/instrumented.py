"""InstrumentedStore: a store whose calls are measured (metrics) and traced (OpenTelemetry).

A shell wraps its store in one when ``metrics=True`` or when opentelemetry-api
is installed; otherwise it keeps the store itself and pays nothing. Every other
attribute (``close``, the management methods, ``prefix``) is the store's own.

Spans follow OpenTelemetry's database-client conventions: kind CLIENT, named
``"<operation> sessionware"``, with ``db.system.name`` (``redis``, ``sqlite``,
``postgresql``, else ``other``), ``db.operation.name`` (``load``, ``create``,
``save``, ``rotate``, ``delete``), ``db.namespace`` (the app id) and, on
failure, ``error.type`` and an error status.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import time
from typing import TYPE_CHECKING, Any

from .stores.base import WRITTEN, BlindWrite, Changes, Meta, StoredSession

if TYPE_CHECKING:
    from .metrics import SessionMetrics

_SYSTEMS = {"RedisStore": "redis", "SQLiteStore": "sqlite", "PostgresStore": "postgresql"}


def tracer() -> Any:
    """OpenTelemetry's tracer for sessionware, or ``None`` without opentelemetry-api."""
    try:
        if importlib.util.find_spec("opentelemetry") is None:
            return None
        from opentelemetry import trace
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return None
    return trace.get_tracer("sessionware")


OPERATIONS = ("load", "create", "save", "write", "rotate", "delete")
_NO_SPAN = contextlib.nullcontext()  # reusable: it holds no state


class InstrumentedStore:
    """``store``'s sync and async session calls, timed and counted into ``metrics``
    (if any) and wrapped in spans from ``otel_tracer`` (if any)."""

    def __init__(
        self, store: Any, app: str, metrics: SessionMetrics | None, otel_tracer: Any
    ) -> None:
        self.wrapped = store
        self._tracer = otel_tracer
        self._system = _SYSTEMS.get(type(store).__name__, "other")
        self._app = app
        self._timers: dict[str, Any] = {}  # labelled children, resolved once: the hot path
        self._errors: dict[str, Any] = {}
        self._loaded = self._saved = self._bytes = None
        if metrics is not None:
            self._timers = {op: metrics.store_seconds.labels(op) for op in OPERATIONS}
            self._errors = {op: metrics.store_errors.labels(op) for op in OPERATIONS}
            self._loaded = metrics.loaded.labels(app)
            self._saved = metrics.saved.labels(app)
            self._bytes = metrics.payload_bytes.labels(app)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"InstrumentedStore({self.wrapped!r})"

    def _span(self, operation: str) -> Any:
        if self._tracer is None or not _tracing():
            return _NO_SPAN  # no SDK configured: a span would record nothing, at a cost
        return self._tracer.start_as_current_span(
            f"{operation} sessionware",
            kind=_client_kind(),
            attributes={
                "db.system.name": self._system,
                "db.operation.name": operation,
                "db.namespace": self._app,
            },
            record_exception=True,
            set_status_on_exception=True,
        )

    def _failed(self, operation: str, span: Any, error: Exception) -> None:
        if span is not None:
            span.set_attribute("error.type", type(error).__qualname__)
        if self._errors:
            self._errors[operation].inc()

    def _quiet(self) -> bool:
        """Nothing would record this call: no metrics, and no OpenTelemetry SDK set up."""
        return not self._timers and (self._tracer is None or not _tracing())

    def _call(self, operation: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self._quiet():
            return method(*args, **kwargs)
        start = time.perf_counter()
        with self._span(operation) as span:
            try:
                return method(*args, **kwargs)
            except Exception as error:
                self._failed(operation, span, error)
                raise
            finally:
                if self._timers:
                    self._timers[operation].observe(time.perf_counter() - start)

    async def _acall(self, operation: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self._quiet():
            return await method(*args, **kwargs)
        start = time.perf_counter()
        with self._span(operation) as span:
            try:
                return await method(*args, **kwargs)
            except Exception as error:
                self._failed(operation, span, error)
                raise
            finally:
                if self._timers:
                    self._timers[operation].observe(time.perf_counter() - start)

    def _found(self, record: StoredSession | None) -> StoredSession | None:
        if record is not None and self._loaded is not None:
            self._loaded.inc()
        return record

    def _wrote(self, size: int, saved: bool = False) -> None:
        """A write that happened: its size, and (``saved``) one more save. A refused
        save or rotation (the session ended or moved meanwhile: a 409) wrote nothing."""
        if self._bytes is not None:
            self._bytes.observe(size)
            if saved and self._saved is not None:
                self._saved.inc()

    def _written(self, outcome: str) -> str:
        """A blind write counts as a save; its size is the store's, unknown here."""
        if outcome == WRITTEN and self._saved is not None:
            self._saved.inc()
        return outcome

    # -- sync ------------------------------------------------------------------------

    def load(self, session_id: str, **kwargs: Any) -> StoredSession | None:
        if self._quiet():
            found: StoredSession | None = self.wrapped.load(session_id, **kwargs)
            return found  # no metrics, no tracing: as is
        return self._found(self._call("load", self.wrapped.load, session_id, **kwargs))

    def create(self, session_id: str, data: Any, meta: Meta) -> None:
        self._call("create", self.wrapped.create, session_id, data, meta)
        self._wrote(meta.size_bytes)

    def save(self, session_id: str, changes: Changes) -> bool:
        saved: bool = self._call("save", self.wrapped.save, session_id, changes)
        if saved:
            self._wrote(changes.size_bytes, saved)
        return saved

    def write(self, session_id: str, write: BlindWrite) -> str:
        outcome: str = self._call("write", self.wrapped.write, session_id, write)
        return self._written(outcome)

    def rotate(self, old_id: str, new_id: str, data: Any, meta: Meta, **kwargs: Any) -> Any:
        result = self._call("rotate", self.wrapped.rotate, old_id, new_id, data, meta, **kwargs)
        if result:
            self._wrote(meta.size_bytes)
        return result

    def delete(self, session_id: str) -> None:
        self._call("delete", self.wrapped.delete, session_id)

    # -- async -----------------------------------------------------------------------

    async def aload(self, session_id: str, **kwargs: Any) -> StoredSession | None:
        if self._quiet():
            found: StoredSession | None = await self.wrapped.aload(session_id, **kwargs)
            return found  # no metrics, no tracing: as is
        return self._found(await self._acall("load", self.wrapped.aload, session_id, **kwargs))

    async def acreate(self, session_id: str, data: Any, meta: Meta) -> None:
        await self._acall("create", self.wrapped.acreate, session_id, data, meta)
        self._wrote(meta.size_bytes)

    async def asave(self, session_id: str, changes: Changes) -> bool:
        saved: bool = await self._acall("save", self.wrapped.asave, session_id, changes)
        if saved:
            self._wrote(changes.size_bytes, saved)
        return saved

    async def awrite(self, session_id: str, write: BlindWrite) -> str:
        outcome: str = await self._acall("write", self.wrapped.awrite, session_id, write)
        return self._written(outcome)

    async def arotate(self, old_id: str, new_id: str, data: Any, meta: Meta, **kwargs: Any) -> Any:
        args = (old_id, new_id, data, meta)
        result = await self._acall("rotate", self.wrapped.arotate, *args, **kwargs)
        if result:
            self._wrote(meta.size_bytes)
        return result

    async def adelete(self, session_id: str) -> None:
        await self._acall("delete", self.wrapped.adelete, session_id)


def _tracing() -> bool:
    """Whether an OpenTelemetry SDK is configured (a real TracerProvider is set); checked
    per call, so that one set after the middleware was built is honoured.

    The usual answer (none set, none named in the environment) costs an attribute
    read and one environment lookup, not an import and a provider call.
    """
    trace = _trace_module()
    if getattr(trace, "_TRACER_PROVIDER", True) is None and not _provider_named():
        return False  # what get_tracer_provider() would answer: a proxy, recording nothing
    return not isinstance(trace.get_tracer_provider(), _NOT_RECORDING)


_PROVIDER_VARIABLE = "OTEL_PYTHON_TRACER_PROVIDER"  # names a provider to load on first use


def _provider_named() -> bool:
    """Whether the environment names a provider now. ``os.environ`` answers a missing
    name by raising KeyError inside (about 0.5 us, per store call); its encoded table,
    where CPython has one, answers with a dict lookup."""
    table = getattr(os.environ, "_data", None)
    if type(table) is dict and _PROVIDER_KEY is not None:
        return _PROVIDER_KEY in table
    return _PROVIDER_VARIABLE in os.environ


_PROVIDER_KEY: object = None
with contextlib.suppress(Exception):  # os.environ's key encoding, where it has one
    _PROVIDER_KEY = os.environ.encodekey(_PROVIDER_VARIABLE)


@functools.cache
def _trace_module() -> Any:
    from opentelemetry import trace

    return trace


def _not_recording() -> tuple[type, ...]:
    try:
        from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider
    except ImportError:  # pragma: no cover - without opentelemetry-api there is no tracer
        return ()
    return (ProxyTracerProvider, NoOpTracerProvider)


_NOT_RECORDING = _not_recording()


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT
