"""Prometheus metrics (``metrics=True`` on a shell; the ``metrics`` extra).

This module is imported only when metrics are switched on. Collectors are made
once per registry (prometheus-client's default one unless ``registry=`` is
given) and shared by every shell that reports into it; labels are bounded: the
app id, the store operation, the refusal reason, never a session or user id.

=====================================  =========  =========================
metric                                 labels     counts
=====================================  =========  =========================
sessionware_sessions_created_total     app        sessions stored for the first time
sessionware_sessions_loaded_total      app        loads that found a live session
sessionware_sessions_saved_total       app        changes written to a live session
sessionware_sessions_rotated_total     app        new ids (``regenerate()``, a login)
sessionware_sessions_cleared_total     app        emptied sessions deleted (logout)
sessionware_sessions_revoked_total     app        cookies naming a revoked session
sessionware_sessions_expired_total     app        cookies naming an expired session
sessionware_cookies_rejected_total     app,       cookies naming no session, by reason
                                       reason
sessionware_store_errors_total         operation  store calls that failed
sessionware_store_call_seconds         operation  store call latency (histogram)
sessionware_payload_bytes              app        encoded payload size written (histogram;
                                                  not a blind write's: the store's alone)
=====================================  =========  =========================
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import missing_extra
from .lifecycle import SessionEvent

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("metrics=True", "metrics") from error

_EVENTS = {  # lifecycle event kind -> counter name
    "created": "sessionware_sessions_created",
    "rotated": "sessionware_sessions_rotated",
    "logout": "sessionware_sessions_cleared",
    "revoked": "sessionware_sessions_revoked",
    "expired": "sessionware_sessions_expired",
}
_DOC = {
    "sessionware_sessions_created": "Sessions stored for the first time.",
    "sessionware_sessions_rotated": "Sessions given a new id (a login, regenerate).",
    "sessionware_sessions_cleared": "Emptied sessions deleted (logout).",
    "sessionware_sessions_revoked": "Cookies that named a revoked session.",
    "sessionware_sessions_expired": "Cookies that named an expired session.",
}
PAYLOAD_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
_lock = threading.Lock()
_by_registry: dict[int, tuple[CollectorRegistry, SessionMetrics]] = {}


class SessionMetrics:
    """The collectors of one registry; also a lifecycle observer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.events = {kind: counter(name, _DOC[name], "app") for kind, name in _EVENTS.items()}
        self.loaded = counter("sessionware_sessions_loaded", "Loads that found a session.", "app")
        self.saved = counter("sessionware_sessions_saved", "Changes written to a session.", "app")
        self.rejected = counter(
            "sessionware_cookies_rejected", "Cookies naming no session.", "app", "reason"
        )
        self.store_errors = counter(
            "sessionware_store_errors", "Store calls that failed.", "operation"
        )
        self.store_seconds = Histogram(
            "sessionware_store_call_seconds",
            "Store call latency.",
            ["operation"],
            registry=registry,
        )
        self.payload_bytes = Histogram(
            "sessionware_payload_bytes",
            "Encoded payload size written to the store (creates, saves, rotations; "
            "not blind writes).",
            ["app"],
            buckets=PAYLOAD_BUCKETS,
            registry=registry,
        )

    def observe(self, event: SessionEvent) -> None:
        """Count a lifecycle event."""
        if event.kind == "refused":
            self.rejected.labels(event.app, event.reason or "unknown").inc()
        elif event.kind in self.events:
            self.events[event.kind].labels(event.app).inc()


def metrics_for(registry: Any = None) -> SessionMetrics:
    """The collectors of ``registry`` (default: prometheus-client's), made on first use."""
    registry = REGISTRY if registry is None else registry
    if not isinstance(registry, CollectorRegistry):
        from .errors import ConfigurationError

        raise ConfigurationError(
            f"registry must be a prometheus_client.CollectorRegistry, not "
            f"{type(registry).__qualname__}"
        )
    with _lock:
        found = _by_registry.get(id(registry))
        if found is None or found[0] is not registry:
            found = _by_registry[id(registry)] = (registry, SessionMetrics(registry))
        return found[1]
