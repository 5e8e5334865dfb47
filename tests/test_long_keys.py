"""A session key, user id or email over MAX_KEY_BYTES (1,024 bytes of UTF-8): refused alike
on every store.

PostgreSQL's btree index refuses a row over 2,704 bytes, so such a key or user id was
accepted and then failed every save there as a 503 ("cannot be reached"), while memory,
SQLite and Redis kept it. As for NUL (tests/test_nul_characters.py): a key is refused at
the assignment, a user id or email when the session is saved (a 500 with a log line).
"""

from __future__ import annotations

from typing import Any

import pytest

from sessionware import UnstorableValue, codec
from sessionware.codec import check_indexable, check_key

from .shells import shell_client
from .test_nul_characters import handler as nul_handler

LONG = "k" * 3200


def test_the_cap_counts_utf8_bytes() -> None:
    assert codec.MAX_KEY_BYTES == 1024
    assert check_key("é" * 512) == "é" * 512  # 1,024 bytes
    with pytest.raises(UnstorableValue, match="1026 bytes of UTF-8, over the 1024"):
        check_key("é" * 513)
    check_indexable("user id", "é" * 512, "user_id")
    with pytest.raises(UnstorableValue, match="over the 1024 session stores index"):
        check_indexable("user id", "é" * 513, "user_id")


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    if path == "/key":
        try:
            session[LONG] = 1
        except UnstorableValue as error:
            return 400, str(error), {}
    else:
        return nul_handler(session, path, params)
    return 200, dict(session), {}


@pytest.mark.parametrize("kind", ["starlette", "wsgi"])
def test_a_long_key_is_refused_at_the_assignment(kind: str, any_store: Any) -> None:
    with shell_client(kind, handler, any_store) as client:
        response = client.post("/key")
        assert response.status_code == 400
        assert "over the 1024 a session key may have" in response.json()
        assert client.post("/set", params={"key": "a", "value": "1"}).json() == {"a": "1"}


@pytest.mark.parametrize("key", ["user_id", "email"])
def test_a_user_id_or_email_at_the_cap_is_kept(key: str, any_store: Any) -> None:
    options = {"user_key": "user_id", "email_key": "email"}
    with shell_client("wsgi", handler, any_store, **options) as client:
        response = client.post("/set", params={"key": key, "value": "é" * 512})
        assert response.status_code == 200
        assert client.get("/").json() == {key: "é" * 512}
