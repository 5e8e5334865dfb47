"""A type updated in another process (a subprocess with its own store object) is
seen by a middleware in this one once its cache lapses."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from sessionware import SessionManager
from sessionware.session_types import registry

from ..conftest import REDIS_URL
from ..shells import SHELLS, shell_client

UPDATE = """
import sys
from sessionware import SessionManager, RedisStore, SQLiteStore
kind, where, prefix = sys.argv[1:4]
store = RedisStore.from_url(where, prefix=prefix) if kind == "redis" else SQLiteStore(where)
SessionManager(store).types.update("cart", schema={"items": "array", "total": "decimal"})
store.close()
"""


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    try:
        session["total"] = 9.5
    except TypeError as error:
        return 422, {"error": str(error)}, {}
    return 200, {}, {}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_a_type_updated_in_another_process_reaches_the_middleware(
    shell: str, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kind == "redis":
        from sessionware import RedisStore

        prefix = request.getfixturevalue("redis_prefix")
        store: Any = RedisStore.from_url(REDIS_URL, prefix=prefix)
        where = REDIS_URL
    else:
        from sessionware import SQLiteStore

        prefix = ""
        where = str(request.getfixturevalue("tmp_path") / "sessions.db")
        store = SQLiteStore(where)
    SessionManager(store).types.create(
        name="Cart", schema={"items": "array", "total": "number"}, expiry=1, period="hours"
    )
    monkeypatch.setattr(registry, "CACHE_SECONDS", 0.0)  # no waiting in a test
    with shell_client(shell, handler, store, session_type="cart") as client:
        assert client.get("/").status_code == 200  # a float is a number
        subprocess.run([sys.executable, "-c", UPDATE, kind, where, prefix], check=True)
        refused = client.get("/")
    assert refused.status_code == 422
    assert "'total' expects decimal, got float" in refused.json()["error"]
    store.close()
