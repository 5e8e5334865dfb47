"""``max_connections`` and ``pool_timeout`` on a Redis Cluster, as on a single server.

From a tester's trial: ``from_url("redis+cluster://...", max_connections=...)``
did not pass the limit to the cluster clients, so redis-py's asyncio default
applied, 100 per node, and past it a request failed at once ("503
MaxConnectionsError: ."), while the sync client's pools per node were unbounded.
Here: a burst bigger than the limit queues and succeeds, no node holds more than
the limit (plus the asyncio client's few for topology refreshes), and a wait that
runs out says what to do. On the run's throwaway cluster (tests/stores/cluster.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from sessionware import StoreUnavailable
from sessionware.stores.base import Meta

from .cluster import client, cluster_store, shared_cluster

pytestmark = [pytest.mark.cluster, pytest.mark.redis]

SESSION = "pool-" + "a" * 27
REFRESH_CONNECTIONS = 4  # what redis.py allows a node beyond max_connections (asyncio)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def record() -> Meta:
    now = time.time()
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60)


def named_store(request: pytest.FixtureRequest, **options: Any) -> tuple[Any, str]:
    """A cluster store whose connections carry a name of their own, and that name."""
    name = f"swpool-{uuid.uuid4().hex[:8]}"
    return cluster_store(request, client_name=name, **options), name


def most_connections(request: pytest.FixtureRequest, name: str) -> int:
    """The most connections named ``name`` that one node of the cluster holds."""
    ports = shared_cluster(request.config)
    return max(
        sum(1 for entry in client(port).client_list() if entry.get("name") == name)
        for port in ports
    )


@pytest.mark.anyio
async def test_an_async_burst_beyond_the_limit_queues(request: pytest.FixtureRequest) -> None:
    """300 loads at once of one session (one node) with max_connections=5: redis-py's
    asyncio cluster client failed every one past its default 100 at once."""
    store, name = named_store(request, max_connections=5)
    try:
        await store.acreate(SESSION, {"n": b"1"}, record())
        loads = await asyncio.gather(
            *(store.aload(SESSION, now=time.time(), idle_seconds=60) for _ in range(300)),
            return_exceptions=True,
        )
        failed = [repr(load) for load in loads if isinstance(load, BaseException)]
        assert not failed, failed[:3]
        assert all(load is not None and load.data == {"n": b"1"} for load in loads)
        assert most_connections(request, name) <= 5 + REFRESH_CONNECTIONS
    finally:
        await store.aclose()


def test_a_sync_burst_stays_within_the_limit(request: pytest.FixtureRequest) -> None:
    """40 threads loading at once with max_connections=4: each node's pool was
    unbounded (one connection per thread)."""
    store, name = named_store(request, max_connections=4)
    store.create(SESSION, {"n": b"1"}, record())
    start, results = threading.Barrier(40), []

    def load() -> None:
        start.wait()
        for _ in range(5):
            loaded = store.load(SESSION, now=time.time(), idle_seconds=60)
            results.append(loaded is not None and loaded.data == {"n": b"1"})

    threads = [threading.Thread(target=load) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [True] * 200
    assert most_connections(request, name) <= 4


@pytest.mark.anyio
async def test_a_wait_for_a_connection_that_runs_out_says_what_to_do(
    request: pytest.FixtureRequest,
) -> None:
    """One connection, held by a load to a paused node: the next waits pool_timeout,
    then fails as the store being unavailable, naming the settings to raise."""
    store, _ = named_store(request, max_connections=1, pool_timeout=0.2, socket_timeout=1.5)
    ports = shared_cluster(request.config)
    try:
        await store.acreate(SESSION, {"n": b"1"}, record())
        for port in ports:  # (the node holding the session, and any it touches)
            client(port).execute_command("CLIENT", "PAUSE", "800", "ALL")
        loop = asyncio.get_running_loop()

        async def timed() -> tuple[float, BaseException | None]:
            started = loop.time()
            try:
                await store.aload(SESSION, now=time.time(), idle_seconds=60)
            except StoreUnavailable as error:
                return loop.time() - started, error
            return loop.time() - started, None

        first = asyncio.ensure_future(timed())
        await asyncio.sleep(0.05)  # the first holds the one connection, waiting on the node
        took, error = await timed()
        assert error is not None and "raise max_connections or pool_timeout" in str(error)
        assert 0.15 < took < 0.6, took
        took, error = await first  # the node answers once the pause is over
        assert error is None, error
    finally:
        for port in ports:
            client(port).execute_command("CLIENT", "UNPAUSE")
        await store.aclose()
