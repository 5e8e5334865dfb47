"""The error answers sessionware sends in place of the app's (503, 409, ...) are JSON,
``{"detail": ...}`` as FastAPI's own errors, for a client that asks for JSON, and the
same text as plain text for a browser or a client that names no type. On each shell."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sessionware import MemoryStore, SessionManager, StoreUnavailable
from sessionware.responses import ERROR_BODIES, wants_json

from .shells import SHELLS, shell_client


class Flaky(MemoryStore):
    """A memory store that can be down (loads fail) or see its session revoked by an
    operator between a request's load and its save."""

    down = False
    revoking = False

    def load(self, session_id: str, **kwargs: Any) -> Any:
        if self.down:
            raise StoreUnavailable("the test's store is down")
        return super().load(session_id, **kwargs)

    def save(self, session_id: str, changes: Any) -> bool:
        if self.revoking:
            SessionManager(self).revoke(session_id, actor="ops")
        return super().save(session_id, changes)


def handler(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    session[params["key"]] = session.get(params["key"], "") + params["value"]
    return 200, {"keys": sorted(session)}, {}


API = {"accept": "application/json, text/plain, */*"}  # what axios sends
PAGE = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("shell", SHELLS)
def test_a_client_that_asks_for_json_gets_its_errors_as_json(shell: str) -> None:
    store = Flaky()
    with shell_client(shell, handler, store) as client:
        assert client.get("/put", params={"key": "a", "value": "1"}).status_code == 200
        store.down = True
        for headers, as_json in ((API, True), (PAGE, False), ({"accept": "*/*"}, False)):
            answer = client.get("/put", params={"key": "a", "value": "2"}, headers=headers)
            assert answer.status_code == 503
            if as_json:
                assert answer.headers["content-type"] == "application/json"
                assert json.loads(answer.content) == {"detail": ERROR_BODIES[503].decode()}
            else:
                assert answer.headers["content-type"].startswith("text/plain")
                assert answer.content == ERROR_BODIES[503]
            assert int(answer.headers["content-length"]) == len(answer.content)
        store.down, store.revoking = False, True
        conflict = client.get("/put", params={"key": "a", "value": "3"}, headers=API)
        assert conflict.status_code == 409
        assert conflict.json()["detail"].startswith("Conflict: another request changed")


def test_what_counts_as_asking_for_json() -> None:
    assert wants_json("application/json") and wants_json(b"application/problem+json")
    assert not wants_json(None) and not wants_json("") and not wants_json("*/*")
    assert not wants_json("text/html, application/json")  # a page load reads text
