"""The whole scenario suite again with encryption at rest on (issue 13), on every
framework, over the memory store and the real Redis: sealing must change nothing
a handler or a client can see."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from sessionware import Keyring

from .apps import FRAMEWORKS
from .conftest import STORES
from .test_scenarios import *  # noqa: F403  (every scenario, collected again here)

KEYRING = Keyring([os.urandom(32)])


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Any:
    return STORES[request.param](request)


@pytest.fixture(params=sorted(FRAMEWORKS))
def make_client(request: pytest.FixtureRequest, store: Any) -> Callable[..., Any]:
    factory = FRAMEWORKS[request.param]

    def make(**options: Any) -> Any:
        options.setdefault("encryption", KEYRING)
        return factory(options.pop("store", store), **options)

    return make


def test_this_suite_really_seals_what_it_stores(make_client: Any, store: Any) -> None:
    import time

    from sessionware import SessionManager
    from sessionware.encryption import is_sealed

    with make_client() as client:
        client.get("/put", params={"key": "a", "value": "secret-value"})
    (info,) = SessionManager(store).list().items
    data = store.read_data(info.id, now=time.time())
    assert data and all(is_sealed(raw) and b"secret-value" not in raw for raw in data.values())
