"""A middleware bound to a type that is not in the store stops the app at start-up.

Every request would otherwise answer 500 (UnknownSessionType): a typo in
``session_type``, or a type deleted while the app was down. ASGI: the middleware
answers the lifespan startup with startup failed, so real uvicorn exits (its default
``--lifespan auto`` included); WSGI and Flask: building the middleware raises. A store
that cannot be read at start-up stops nothing (requests answer 503 until it can).
"""

from __future__ import annotations

from pathlib import Path

import flask
import pytest

from sessionware import ConfigurationError, RedisStore, SessionManager, WSGISessionMiddleware
from sessionware.flask import Sessionware

from ..conftest import REDIS_URL
from ..stores import served

pytestmark = pytest.mark.redis

APP = """
import os
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from sessionware import RedisStore, SessionMiddleware


async def home(request):
    return PlainTextResponse(repr(dict(request.session)))


app = Starlette(routes=[Route("/", home)])
store = RedisStore.from_url(os.environ["STORE_URL"], prefix=os.environ["STORE_PREFIX"])
app.add_middleware(
    SessionMiddleware, secret_key="k" * 40, store=store, session_type=os.environ["TAG"]
)
"""


def test_uvicorn_stops_at_start_up_for_a_type_the_store_lacks(
    tmp_path: Path, redis_prefix: str
) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path), "STORE_URL": REDIS_URL, "STORE_PREFIX": redis_prefix}
    app = served.uvicorn(["app:app"], tmp_path, {**env, "TAG": "cart"}, probe="/")
    with pytest.raises(RuntimeError) as stopped, app:
        pytest.fail("uvicorn served an app whose session type does not exist")
    said = str(stopped.value)
    assert "session_type='cart' names no session type in the store" in said
    assert "none is registered yet" in said and "Application startup failed" in said

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    SessionManager(store).types.create(name="Cart")
    store.close()
    with served.uvicorn(["app:app"], tmp_path, {**env, "TAG": "cart"}, probe="/") as http:
        assert http.get("/").status_code == 200


def test_wsgi_and_flask_refuse_a_type_the_store_lacks_when_built(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    with pytest.raises(ConfigurationError, match="names no session type in the store"):
        WSGISessionMiddleware(lambda e, s: [], secret_key="k" * 40, store=store, session_type="x")
    with pytest.raises(ConfigurationError, match="names no session type in the store"):
        Sessionware(flask.Flask("t"), secret_key="k" * 40, store=store, session_type="x")
    SessionManager(store).types.create(name="X")
    WSGISessionMiddleware(lambda e, s: [], secret_key="k" * 40, store=store, session_type="x")
    store.close()


def test_a_store_that_cannot_be_read_at_start_up_stops_nothing() -> None:
    (port,) = served.free_ports(1)  # nothing listens there
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=0.5)
    WSGISessionMiddleware(lambda e, s: [], secret_key="k" * 40, store=store, session_type="x")
    store.close()


def test_sessions_turned_off_read_no_type_at_start_up() -> None:
    """enabled=False does no store I/O: the type it would never use is not read."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from sessionware import MemoryStore, SessionMiddleware

    store = MemoryStore()
    WSGISessionMiddleware(lambda e, s: [], secret_key="k" * 40, store=store, session_type="x",
                          enabled=False)  # fmt: skip
    app = Starlette()
    app.add_middleware(
        SessionMiddleware, secret_key="k" * 40, store=store, session_type="x", enabled=False
    )
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/").status_code == 404  # (started: no route, no session)
