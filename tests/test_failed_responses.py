"""A response of 500 or above saves nothing (Django's rule: the request failed), and
says so in the log when that dropped a change: Starlette, Flask and Flask-Session
save it, so a user coming from them must not lose it unseen. On each shell."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sessionware import MemoryStore

from .shells import SHELLS, shell_client


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    status = int(params.get("status", "200"))
    if path == "/put":
        session[params["key"]] = params["value"]
    elif path == "/logout":
        session.clear()
    elif path == "/peek":
        session.get("a")
    return status, {"keys": sorted(session)}, {}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_5xx_saves_nothing_and_says_so_when_it_dropped_a_change(
    shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    with shell_client(shell, handler, MemoryStore()) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            failed = client.get("/put", params={"key": "b", "value": "2", "status": "502"})
            assert failed.status_code == 502
            out = client.get("/logout", params={"status": "503"})
            assert out.status_code == 503
            read = client.get("/peek", params={"status": "500"})  # a read: nothing lost
            assert read.status_code == 500
        dropped = [r.getMessage() for r in caplog.records if "were not saved" in r.getMessage()]
        assert len(dropped) == 2, dropped
        assert "response is 502" in dropped[0] and "response is 503" in dropped[1]
        assert client.get("/read").json() == {"keys": ["a"]}  # neither the key nor the logout


@pytest.mark.parametrize("shell", SHELLS)
def test_a_new_session_dropped_by_a_5xx_is_called_new_not_none(
    shell: str, caplog: pytest.LogCaptureFixture
) -> None:
    with shell_client(shell, handler, MemoryStore()) as client:
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            failed = client.get("/put", params={"key": "a", "value": "1", "status": "500"})
            assert failed.status_code == 500
        (dropped,) = [r.getMessage() for r in caplog.records if "were not saved" in r.message]
        assert "so the new session's changes were not saved" in dropped, dropped
