"""A Redis Cluster with no node left: every shell answers 503, never a 500, and the
command says so in one line.

From a Cluster trial (helper-53): redis-py's cluster client raises
RedisClusterUnreachableError, which is no RedisError, and it went through as a 500.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from sessionware import RedisStore, StoreUnavailable
from sessionware.errors import ConfigurationError

from ..conftest import REDIS_URL
from ..shells import SHELLS, shell_client
from .cluster import HOST, free_ports, local_cluster

pytestmark = pytest.mark.cluster


def _counter(session: Any, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
    session["count"] = session.get("count", 0) + 1
    return 200, {"count": session["count"]}, {}


def test_a_cluster_with_no_node_left_answers_503_on_every_shell() -> None:
    prefix = f"swtest:{uuid.uuid4().hex[:8]}:"
    with local_cluster() as ports:
        store = RedisStore.from_url(
            f"redis://{HOST}:{ports[0]}", cluster=True, prefix=prefix, socket_timeout=0.3
        )
        clients = [
            shell_client(shell, _counter, store, base_url="http://testserver", secure=False)
            for shell in SHELLS
        ]
        opened = [c.__enter__() for c in clients]
        for c in opened:
            assert c.get("/incr").json() == {"count": 1}
    try:  # every node stopped: the cluster is gone (the client's first failures are
        # connection errors; once it gives up its node list, RedisClusterUnreachableError)
        for c in opened:
            statuses = [c.get("/incr").status_code for _ in range(4)]
            assert statuses == [503] * 4
    finally:
        for c in clients:
            c.__exit__(None, None, None)
        store.close()


def test_an_app_started_while_the_cluster_is_down_answers_503() -> None:
    """The asyncio cluster client asks for the slot map on first use; with no node
    reachable it raises RedisClusterUnreachableError (no RedisError), which was a 500."""
    import redis.asyncio.cluster

    (port,) = free_ports(1)
    client = redis.asyncio.cluster.RedisCluster(host=HOST, port=port, socket_timeout=0.3)
    store = RedisStore(client, prefix="swtest:down:")
    with shell_client("starlette", _counter, store, base_url="http://testserver") as c:
        c.cookies.set("session", "x")  # (with or without a cookie: the write needs the store)
        assert [c.get("/incr").status_code for _ in range(3)] == [503] * 3


def test_a_cluster_url_with_no_node_reachable_is_store_unavailable() -> None:
    (port,) = free_ports(1)
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        RedisStore.from_url(f"redis://{HOST}:{port}", cluster=True, socket_timeout=0.3)
    with pytest.raises(ConfigurationError, match="names one node"):
        RedisStore.from_url(f"redis://{HOST}:{port},{HOST}:{port + 1}", cluster=True)
    # a comma in a password or the query is no node list; a bad URL is no outage
    with pytest.raises(StoreUnavailable):
        RedisStore.from_url(f"redis://:pa,ss@{HOST}:{port}", cluster=True, socket_timeout=0.3)
    with pytest.raises(StoreUnavailable):
        RedisStore.from_url(f"redis://{HOST}:{port}?client_name=a,b", cluster=True)
    with pytest.raises(ConfigurationError, match="db"):
        RedisStore.from_url(f"redis://{HOST}:{port}/1", cluster=True)


def test_a_slot_on_the_move_is_not_reported_as_a_server_down() -> None:
    """redis-py gives up on a slot that kept answering TRYAGAIN or redirecting
    (a resharding, a failover) with "TTL exhausted": the 503's message said to check
    that the server runs."""
    store = RedisStore.from_url(REDIS_URL)
    try:
        for error in (
            redis.exceptions.ClusterError("TTL exhausted."),
            redis.exceptions.TryAgainError("x"),
        ):
            message = str(store._unavailable(error))
            assert "slot was moving between nodes" in message
            assert "Check that the server is running" not in message
        assert "Check that the server is running" in str(store._unavailable(redis.TimeoutError()))
        down = str(store._unavailable(redis.exceptions.ClusterDownError("CLUSTERDOWN")))
        assert "a slot has no working primary" in down and "moving" not in down
        # (redis-py's MasterDownError is a ClusterDownError: a lone replica is no cluster)
        lone = str(store._unavailable(redis.exceptions.MasterDownError("link down")))
        assert "replica that lost its primary" in lone and "Cluster" not in lone
        acl = store._unavailable(redis.exceptions.NoPermissionError("no permissions: 'eval'"))
        assert "ACL" in str(acl) and acl.misconfigured
    finally:
        store.close()
