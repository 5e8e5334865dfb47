"""A throwaway local Redis Cluster (3 masters, loopback only) and throwaway servers.

``local_cluster()`` starts three ``redis-server --cluster-enabled yes`` on free
127.0.0.1 ports, joins them with ``redis-cli --cluster create``, waits for
``cluster_state:ok`` and yields the ports; on exit, even after a failure, it
shuts each node down (SHUTDOWN NOSAVE, then its pid if that fails) and deletes
its directory. ``throwaway_server()`` does the same for one plain server, for
tests that kill or pause it. Nothing here touches the shared server on 6379.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..conftest import IN_CI

HOST = "127.0.0.1"


def _worker_offset() -> int:
    """10 ports per pytest-xdist worker (gw0, gw1, ...), so parallel runs never race."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 10 * int(worker[2:]) if worker[2:].isdigit() else 0


CLUSTER_PORTS = tuple(7391 + _worker_offset() + i for i in range(3))


def tools_missing() -> str | None:
    """Why a local server cannot be started here, or ``None``."""
    missing = [tool for tool in ("redis-server", "redis-cli") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not on PATH" if missing else None


def skip_without_tools() -> None:
    """Skip the test when no local server can be started (under ``CI=true``: fail)."""
    reason = tools_missing()
    if reason is not None:
        message = f"cannot start a local Redis server: {reason}"
        if IN_CI:
            pytest.fail(message + " — CI=true requires it")
        pytest.skip(message)


def free_ports(count: int, preferred: tuple[int, ...] = ()) -> list[int]:
    """``count`` loopback ports nobody listens on: ``preferred`` if free, else any.

    They are drawn from below the kernel's ephemeral range, so that no outgoing
    connection (the suite makes thousands) takes one between this choice and the
    server's start (a daemonized redis-server that fails to bind exits quietly),
    and from this pytest-xdist worker's own slice, so that two workers never draw
    the same one (up to 8 workers). A cluster node's bus (port + 10000) stays below
    the range too, and clear of every worker's slice.
    """
    if len(preferred) == count and all(_free(p) and _free(p + 10000) for p in preferred):
        return list(preferred)
    low = _SLICE_START + _worker_offset() * _SLICE_PER_OFFSET
    high = min(low + _SLICE, _SLICE_START + 10000, _ephemeral_start() - 10000)
    ports: list[int] = []
    for _ in range(1000):
        if len(ports) == count:
            return ports
        port = random.randrange(low, high) if high - low > count else _any_port()
        if port not in ports and port + 10000 < 65536 and _free(port) and _free(port + 10000):
            ports.append(port)
    raise RuntimeError(f"no {count} free loopback ports in {low}-{high}")


# Ports 10000-19999, 1,250 per worker (gw0-gw7; later ones take any free port): a
# cluster bus (port + 10000) is then at 20000-29999, clear of every worker's ports.
_SLICE_START = 10000
_SLICE = 1250
_SLICE_PER_OFFSET = _SLICE // 10  # (_worker_offset() is 10 per worker)


def _ephemeral_start() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux; else 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _any_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server does
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def client(port: int, **options: Any) -> redis.Redis:
    """A client for a local server that fails at once instead of retrying."""
    return redis.Redis(host=HOST, port=port, retry=Retry(NoBackoff(), 0), **options)


def _start(port: int, directory: Path, *extra: str) -> None:
    pidfile = str(directory / f"redis-{port}.pid")
    where = ["--port", str(port), "--bind", HOST, "--dir", str(directory), "--pidfile", pidfile]
    quiet = ["--save", "", "--appendonly", "no", "--daemonize", "yes"]
    subprocess.run(
        ["redis-server", *where, *quiet, *extra],
        check=True,
        capture_output=True,
        timeout=10,
    )


def _wait(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(port: int, directory: Path) -> None:
    """SHUTDOWN NOSAVE; if the server does not answer, kill its pid (ours only)."""
    try:
        client(port, socket_timeout=2).shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # SHUTDOWN closes the connection: that is success
    except redis.RedisError:
        pidfile = directory / f"redis-{port}.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _cluster_info(port: int) -> dict[str, object]:
    info: dict[str, object] = client(port).execute_command("CLUSTER INFO")
    return info


@contextlib.contextmanager
def throwaway_server(*extra: str) -> Iterator[int]:
    """A plain redis-server on a free loopback port; yields the port, stops it after."""
    skip_without_tools()
    (port,) = free_ports(1)
    directory = Path(tempfile.mkdtemp(prefix="sessionware-redis-"))
    try:
        _start(port, directory, *extra)
        _wait(lambda: client(port, socket_timeout=1).ping(), f":{port}")
        yield port
    finally:
        _stop(port, directory)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def local_cluster() -> Iterator[list[int]]:
    """A 3-master Redis Cluster on loopback ports; yields the ports, stops it after."""
    ports = free_ports(3, CLUSTER_PORTS)
    directory = Path(tempfile.mkdtemp(prefix="sessionware-cluster-"))
    started: list[int] = []
    try:
        for port in ports:
            conf = str(directory / f"nodes-{port}.conf")
            _start(port, directory, "--cluster-enabled", "yes", "--cluster-config-file", conf)
            started.append(port)
        for port in ports:
            _wait(lambda p=port: client(p).ping(), f"node :{port}")
        nodes = [f"{HOST}:{port}" for port in ports]
        options = ["--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, *options],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for port in ports:
            _wait(lambda p=port: _cluster_info(p)["cluster_state"] == "ok", f"node :{port} ok")
        yield ports
    finally:
        for port in started:
            _stop(port, directory)
        shutil.rmtree(directory, ignore_errors=True)


# -- for test suites: one cluster per pytest run, stores with their own key prefix ------------

_shared: list[int] = []


def shared_cluster(config: pytest.Config) -> list[int]:
    """The run's cluster, started on first use and stopped when pytest ends.

    Skips the test when redis-server or redis-cli is missing, except under
    ``CI=true``, where that is a failure.
    """
    if not _shared:
        skip_without_tools()
        running = local_cluster()
        _shared.extend(running.__enter__())
        config.add_cleanup(lambda: running.__exit__(None, None, None))
    return _shared


def delete_prefix(ports: list[int], prefix: str) -> None:
    """Delete the keys under ``prefix`` on every node (one by one: they span slots)."""
    for port in ports:
        node = client(port)
        for key in list(node.scan_iter(match=prefix + "*", count=1000)):
            node.unlink(key)


def cluster_store(request: pytest.FixtureRequest, **options: Any) -> Any:
    """A RedisStore on the run's cluster (sync and async clients), with its own prefix
    whose keys are deleted after the test."""
    from sessionware import RedisStore

    ports = shared_cluster(request.config)
    prefix = f"swtest:{uuid.uuid4().hex[:12]}:"
    url = f"redis://{HOST}:{ports[0]}"
    store = RedisStore.from_url(url, prefix=prefix, cluster=True, **options)
    request.addfinalizer(lambda: delete_prefix(ports, prefix))
    request.addfinalizer(store.close)
    return store
