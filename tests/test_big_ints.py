"""Big ints: any int Python can write as decimal text is stored; a longer one is refused.

``str()`` (and so ``json.dumps``) refuses an int of over ``sys.get_int_max_str_digits()``
digits (4,300 by default). Such an int was accepted, then a user id made of it was a
bare ValueError at save (a 500), and a session holding one failed the console's "view
session content", every export and the CLI's export. Now it is refused at the
assignment; one stored where the limit was higher is exported as its ``hex()``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sessionware import MemoryStore, SessionManager, UnstorableValue, codec
from sessionware.admin import AdminConsole, Operator
from sessionware.export import stream_document
from sessionware.identity import UserPath
from sessionware.stores.base import Meta

from .cli.helpers import HOUR, run
from .conftest import REDIS_URL
from .shells import SHELLS, shell_client

HUGE = 2**20000  # 6,021 digits


@contextlib.contextmanager
def unlimited_digits() -> Iterator[None]:
    """As in a process that raised the limit (sys.set_int_max_str_digits(0))."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def test_an_int_with_no_decimal_text_is_refused_at_encode() -> None:
    for value in (10**5000, -(10**4300), HUGE):
        with pytest.raises(UnstorableValue, match=r"sys.get_int_max_str_digits\(\)"):
            codec.encode("n", value)
    for value in (10**4299, -(10**4300 - 1), 2**64, -(2**63) - 1):  # 4,300 digits: kept
        assert codec.decode(codec.encode("n", value)) == value
    # one stored under a higher limit names a user (far over the index cap) without a ValueError
    assert UserPath.parse("n").find({"n": HUGE}) == hex(HUGE)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    try:
        session["user_id"] = 10**5000
    except UnstorableValue as error:
        return 400, str(error), {}
    return 200, "stored", {}


@pytest.mark.parametrize("kind", SHELLS)
def test_a_big_int_user_id_is_refused_at_the_assignment(kind: str) -> None:
    with shell_client(kind, handler, MemoryStore(), user_key="user_id") as client:
        response = client.post("/")
    assert response.status_code == 400
    assert "decimal digits" in response.json()


def holding_huge(store: Any) -> str:
    """A live session whose value "n" is HUGE, stored under a higher limit; its id."""
    now = time.time()
    with unlimited_digits():
        data = {"n": codec.encode("n", HUGE), "m": codec.encode("m", 5)}
    meta = Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=now + HOUR,
        deadline=None,
        app="shop",
        user="ada",
        email=None,
        size_bytes=10,
        max_size_bytes=10,
        attribute_count=2,
    )
    store.create("b" * 32, data, meta)
    return "b" * 32


def test_exports_show_an_int_with_no_decimal_text_as_its_hex() -> None:
    store = MemoryStore()
    holding_huge(store)
    manager = SessionManager(store)
    (item,) = json.loads(json.dumps(manager.export(actor="op")))["items"]
    assert item["payload"] == {"n": hex(HUGE), "m": 5}
    items = manager.iter_export(actor="op", include_metadata=True)
    (item,) = json.loads("".join(stream_document(items)))["items"]
    assert item["payload"]["n"] == hex(HUGE)


def test_the_console_shows_and_exports_it() -> None:
    store = MemoryStore()
    session_id = holding_huge(store)
    console = AdminConsole(store, authorize=lambda request: Operator("ada", "admin"))
    client = TestClient(console, base_url="https://testserver", raise_server_exceptions=False)
    page = client.get(f"/session?id={session_id}")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None
    form, origin = {"csrf_token": match[1]}, {"origin": "https://testserver"}
    revealed = client.post("/reveal", data={"id": session_id, **form}, headers=origin)
    assert revealed.status_code == 200 and hex(HUGE)[:40] in revealed.text
    exported = client.post("/export", data=form, headers=origin)
    assert exported.status_code == 200
    assert json.loads(exported.text)["items"][0]["payload"]["n"] == hex(HUGE)


@pytest.mark.redis
def test_the_command_exports_it(redis_prefix: str) -> None:
    from sessionware import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        holding_huge(store)
    finally:
        store.close()
    result = run("sessions", "export", "--reason", "t", prefix=redis_prefix)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"][0]["payload"]["n"] == hex(HUGE)
