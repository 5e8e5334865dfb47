"""Metrics scraped from a real /metrics endpoint, OpenTelemetry spans, and the cost of
neither: prometheus-client is not imported and the store is not wrapped when off."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from sessionware import (
    ConfigurationError,
    MemoryStore,
    SessionManager,
    SessionMiddleware,
    WSGISessionMiddleware,
)
from sessionware.cookies import CookieSigner, new_token
from sessionware.stores.redis import RedisStore

from .scenarios.apps import SECRET, flask_client, starlette_client
from .stores.cluster import free_ports


class _WhileRecording(SimpleSpanProcessor):
    """Keeps spans only while a test here asks (the provider is global to the run)."""

    active = False

    def on_end(self, span: Any) -> None:
        if self.active:
            super().on_end(span)


EXPORTER = InMemorySpanExporter()
_RECORDER = _WhileRecording(EXPORTER)
_provider = TracerProvider()
_provider.add_span_processor(_RECORDER)
trace.set_tracer_provider(_provider)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    _RECORDER.active = True
    yield EXPORTER
    _RECORDER.active = False
    EXPORTER.clear()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def scrape(registry: CollectorRegistry) -> Iterator[Any]:
    """``scrape()`` → {(name, labels): value} from a real /metrics endpoint on loopback."""
    (port,) = free_ports(1)
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)

    def read() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        read.text = text  # type: ignore[attr-defined]
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    yield read
    server.shutdown()
    server.server_close()
    thread.join(5)


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scripted_visit(client: Any) -> None:
    client.get("/put", params={"key": "a", "value": "1"})  # created
    client.get("/get", params={"key": "a"})  # loaded
    client.get("/put", params={"key": "a", "value": "22"})  # loaded, saved (WSGI: written)
    client.post("/login", params={"user": "ada"})  # loaded, rotated
    client.post("/logout")  # (loaded,) cleared
    client.get("/get", params={"key": "a"}, headers={"cookie": "session=junk"})  # rejected


# ASGI loads every request's session up front; WSGI loads on first use, so a request
# that only sets a key is one blind write, and a logout that only clears never reads it.
@pytest.mark.parametrize(
    ("client_for", "loads", "writes"),
    [(starlette_client, 4, 0), (flask_client, 2, 1)],
    ids=["asgi", "flask"],
)
def test_a_scripted_run_shows_on_the_metrics_endpoint(
    client_for: Any,
    loads: int,
    writes: int,
    registry: CollectorRegistry,
    scrape: Any,
    redis_prefix: str,
) -> None:
    store = RedisStore.from_url("redis://127.0.0.1:6379/0", prefix=redis_prefix)
    with client_for(store, metrics=True, registry=registry, app_id="shop") as client:
        scripted_visit(client)
    samples = scrape()
    counts = {
        event: value(samples, f"sessionware_sessions_{event}_total", app="shop")
        for event in ("created", "loaded", "saved", "rotated", "cleared")
    }
    assert counts == {"created": 1, "loaded": loads, "saved": 1, "rotated": 1, "cleared": 1}
    assert value(samples, "sessionware_cookies_rejected_total", app="shop", reason="malformed") == 1
    for operation, calls in (
        ("load", loads),
        ("create", 1),
        ("save", 1 - writes),
        ("write", writes),
        ("rotate", 1),
        ("delete", 1),
    ):
        count = value(samples, "sessionware_store_call_seconds_count", operation=operation)
        assert count == calls, operation
    assert value(samples, "sessionware_payload_bytes_count", app="shop") == 3 - writes
    assert value(samples, "sessionware_store_errors_total", operation="load") == 0
    assert not re.search(r"[0-9a-f]{32}", scrape.text)  # no session id in any label
    store.close()


def test_a_refused_save_adds_no_payload_bytes(registry: CollectorRegistry, scrape: Any) -> None:
    """The session is revoked between a request's load and its save: a 409, nothing
    written, so nothing counted as written."""
    from sessionware import SessionManager

    class RevokedMeanwhile(MemoryStore):
        revoking = False

        def save(self, session_id: str, changes: Any) -> bool:
            if self.revoking:
                SessionManager(self).revoke(session_id, actor="ops")
            return super().save(session_id, changes)

    store = RevokedMeanwhile()
    with starlette_client(store, metrics=True, registry=registry, app_id="a") as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        assert client.get("/put", params={"key": "a", "value": "2"}).status_code == 200
        before = value(scrape(), "sessionware_payload_bytes_count", app="a")
        assert before == 2  # the create and the save
        store.revoking = True
        assert client.get("/put", params={"key": "a", "value": "3" * 50}).status_code == 409
    assert value(scrape(), "sessionware_payload_bytes_count", app="a") == before


def test_store_errors_are_counted_by_operation(registry: CollectorRegistry, scrape: Any) -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.5)
    cookie = CookieSigner(SECRET).sign(new_token())
    with starlette_client(store, metrics=True, registry=registry) as client:
        response = client.get("/get", params={"key": "a"}, headers={"cookie": f"session={cookie}"})
    assert response.status_code == 503
    assert value(scrape(), "sessionware_store_errors_total", operation="load") == 1


def test_two_apps_share_one_registry(registry: CollectorRegistry, scrape: Any) -> None:
    store = MemoryStore()
    with starlette_client(store, metrics=True, registry=registry, app_id="a") as one:
        one.get("/put", params={"key": "a", "value": "1"})
    with flask_client(store, metrics=True, registry=registry, app_id="b") as two:
        two.get("/put", params={"key": "a", "value": "1"})
    samples = scrape()
    assert value(samples, "sessionware_sessions_created_total", app="a") == 1
    assert value(samples, "sessionware_sessions_created_total", app="b") == 1


def test_store_calls_are_traced_as_database_client_spans(spans: InMemorySpanExporter) -> None:
    with starlette_client(MemoryStore(), app_id="shop") as client:
        client.get("/put", params={"key": "a", "value": "1"})
        client.get("/get", params={"key": "a"})
    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == ["create sessionware", "load sessionware"]
    create = finished[0]
    assert create.kind == trace.SpanKind.CLIENT
    assert dict(create.attributes or {}) == {
        "db.system.name": "other",
        "db.operation.name": "create",
        "db.namespace": "shop",
    }


def test_a_failing_store_call_is_an_error_span(spans: InMemorySpanExporter) -> None:
    (port,) = free_ports(1)
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=0.5)
    cookie = CookieSigner(SECRET).sign(new_token())
    with starlette_client(store) as client:
        client.get("/get", params={"key": "a"}, headers={"cookie": f"session={cookie}"})
    (span,) = spans.get_finished_spans()
    assert span.attributes is not None and span.attributes["db.system.name"] == "redis"
    assert span.attributes["error.type"] == "StoreUnavailable"
    assert span.status.status_code == trace.StatusCode.ERROR


def python_prints(code: str) -> str:
    """What ``code`` prints when run by a fresh interpreter (its stderr if it fails)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.stdout or result.stderr


def test_a_provider_named_in_the_environment_later_is_honoured() -> None:
    """OpenTelemetry loads the provider ``OTEL_PYTHON_TRACER_PROVIDER`` names on first use;
    sessionware reads the variable on each store call, as set now, not at import."""
    code = (
        "import os\n"
        "os.environ.pop('OTEL_PYTHON_TRACER_PROVIDER', None)\n"
        "from sessionware import instrumented\n"
        "before = instrumented._tracing()\n"
        "os.environ['OTEL_PYTHON_TRACER_PROVIDER'] = 'sdk_tracer_provider'\n"
        "print(before, instrumented._tracing())\n"
    )
    assert python_prints(code) == "False True\n"


def test_disabled_means_no_prometheus_import_and_no_wrapper() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "from sessionware import SessionMiddleware, WSGISessionMiddleware\n"
        "asgi = SessionMiddleware(lambda *a: None, secret_key='k')\n"
        "wsgi = WSGISessionMiddleware(lambda *a: [], secret_key='k')\n"
        "assert asgi._calls is asgi.store and wsgi.sessions._calls is wsgi.store\n"
        "assert 'prometheus_client' not in sys.modules\n"
        "print('ok')\n"
    )
    assert python_prints(code) == "ok\n"


def test_metrics_options_are_checked(registry: CollectorRegistry) -> None:
    with pytest.raises(ConfigurationError, match="pass metrics=True"):
        SessionMiddleware(lambda *a: None, secret_key="k", registry=registry)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="CollectorRegistry"):
        WSGISessionMiddleware(lambda *a: [], secret_key="k", metrics=True, registry=object())
    with pytest.raises(ConfigurationError, match="True or False"):
        SessionMiddleware(lambda *a: None, secret_key="k", metrics="yes")  # type: ignore[arg-type]


def test_no_span_is_made_while_no_opentelemetry_sdk_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """opentelemetry-api alone (a library's dependency, no SDK set up) costs no spans;
    a provider set later is honoured at once."""
    import time as clock

    from opentelemetry.trace import ProxyTracerProvider

    from sessionware.instrumented import InstrumentedStore

    made: list[str] = []

    class Tracer:
        def start_as_current_span(self, name: str, **options: Any) -> Any:
            import contextlib

            made.append(name)
            return contextlib.nullcontext()

    store = InstrumentedStore(MemoryStore(), "app", None, Tracer())
    monkeypatch.setattr(trace, "get_tracer_provider", ProxyTracerProvider)
    store.load("nope", now=clock.time(), idle_seconds=None)
    assert made == []
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: _provider)
    store.load("nope", now=clock.time(), idle_seconds=None)
    assert made == ["load sessionware"]


DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "dashboards" / "grafana-sessionware.json"


def _queries(dashboard: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    variables = dashboard["templating"]["list"]
    return found + [v["query"]["query"] for v in variables if isinstance(v.get("query"), dict)]


def test_the_grafana_dashboard_queries_only_series_and_labels_the_endpoint_has(
    registry: CollectorRegistry, scrape: Any, redis_prefix: str
) -> None:
    """Every metric the shipped dashboard names, with every label it filters or groups
    by, is on a real /metrics endpoint after a scripted visit (a renamed metric or
    label would leave a panel empty without a word)."""
    store = RedisStore.from_url("redis://127.0.0.1:6379/0", prefix=redis_prefix)
    options = {"metrics": True, "registry": registry, "app_id": "shop"}
    with starlette_client(store, **options) as client:
        scripted_visit(client)
        client.get("/put", params={"key": "b", "value": "1"})  # a session to revoke
        (listed,) = SessionManager(store).list(app="shop", status="active").items
        SessionManager(store).revoke(listed.id, actor="ops")
        client.get("/get", params={"key": "b"})  # revoked
    with starlette_client(store, idle_timeout=1, **options) as client:
        client.get("/put", params={"key": "c", "value": "1"})
        time.sleep(1.2)
        client.get("/get", params={"key": "c"})  # expired
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_ports(1)[0]}/0", prefix=redis_prefix)
    with starlette_client(down, **options) as client:
        assert client.get("/put", params={"key": "d", "value": "1"}).status_code == 503
    samples = scrape()
    exposed: dict[str, set[str]] = {}
    for name, labels in samples:
        exposed.setdefault(name, set()).update(key for key, _ in labels)
    queries = _queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 10
    for query in queries:
        named = re.findall(r"\b(sessionware_[a-z_]+)\b", query)
        assert named, query
        for name in named:
            assert name in exposed, (name, query)
        selected = re.findall(r"([a-z_]+)\s*=~?\s*\"", query)  # {app=~"$app"}
        grouped = [g.strip() for by in re.findall(r"by \(([^)]*)\)", query) for g in by.split(",")]
        for label in selected + grouped:
            assert any(label in exposed[name] for name in named), (label, query)
