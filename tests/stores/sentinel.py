"""A Sentinel-managed Redis for tests: a primary, a replica and three Sentinels.

``local_sentinel()`` starts them on free loopback ports in a temporary
directory, waits until the replica is in sync and every Sentinel knows the
replica and the other two Sentinels, and yields a :class:`Deployment`; on exit,
even after a failure, it stops every server it started.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import HOST, _start, _stop, _wait, client, free_ports, skip_without_tools

SERVICE = "sessionware-test"
DOWN_AFTER_MS = 500  # how soon a Sentinel calls an unanswering primary down
FAILOVER_TIMEOUT_MS = 3000


@dataclass
class Deployment:
    primary: int
    replica: int
    sentinels: list[int]
    directory: Path
    killed: list[int] = field(default_factory=list)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.sentinels]

    def primary_port(self) -> int:
        """The primary's port as the Sentinels now see it."""
        _host, port = client(self.sentinels[0]).sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def kill_primary(self) -> int:
        """Kill the current primary outright (SIGKILL, no goodbye); its port."""
        port = self.primary_port()
        pid = int((self.directory / f"redis-{port}.pid").read_text())
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
        self.killed.append(port)
        return port

    def wait_for_new_primary(self, old: int, timeout: float = 30.0) -> int:
        """Wait until the Sentinels have promoted another server and it takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                port = self.primary_port()
                if port != old and client(port, socket_timeout=1).set("sw-probe", "1", px=1000):
                    return port
            time.sleep(0.1)
        raise RuntimeError("the Sentinels did not promote a replica in time")


def _sentinel_conf(directory: Path, port: int, primary: int) -> Path:
    conf = directory / f"sentinel-{port}.conf"
    conf.write_text(
        "\n".join(
            [
                f"port {port}",
                f"bind {HOST}",
                f"dir {directory}",
                f"pidfile {directory}/redis-{port}.pid",
                f"logfile {directory}/sentinel-{port}.log",
                "daemonize yes",
                f"sentinel monitor {SERVICE} {HOST} {primary} 2",
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {SERVICE} 1",
                "",
            ]
        )
    )
    return conf


def _sentinels_ready(sentinels: list[int]) -> bool:
    for port in sentinels:
        node = client(port, socket_timeout=1)
        if len(node.sentinel_sentinels(SERVICE)) < len(sentinels) - 1:
            return False
        if not node.sentinel_slaves(SERVICE):
            return False
    return True


def _what_they_know(sentinels: list[int], directory: Path) -> str:
    """Each Sentinel's view of the others and the replica, and its log's end (for a
    failure's message)."""
    views = []
    for port in sentinels:
        try:
            node = client(port, socket_timeout=1)
            view = (
                f"{len(node.sentinel_sentinels(SERVICE))} other Sentinels, "
                f"{len(node.sentinel_slaves(SERVICE))} replicas"
            )
        except Exception as error:  # a diagnosis, whatever went wrong
            view = f"no answer ({error})"
        log = directory / f"sentinel-{port}.log"
        tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        views.append(f":{port} knows {view}; log ends {tail}")
    return "; ".join(views)


@contextlib.contextmanager
def local_sentinel() -> Iterator[Deployment]:
    skip_without_tools()
    primary, replica, *sentinels = free_ports(5)
    directory = Path(tempfile.mkdtemp(prefix="sessionware-sentinel-"))
    started: list[int] = []
    try:
        _start(primary, directory)
        started.append(primary)
        _start(replica, directory, "--replicaof", HOST, str(primary))
        started.append(replica)
        for port in (primary, replica):
            _wait(lambda p=port: client(p).ping(), f":{port}")
        _wait(
            lambda: client(replica).info("replication")["master_link_status"] == "up",
            "the replica's link",
        )
        for port in sentinels:
            import subprocess

            conf = _sentinel_conf(directory, port, primary)
            subprocess.run(
                ["redis-server", str(conf), "--sentinel"],
                check=True,
                capture_output=True,
                timeout=10,
            )
            started.append(port)
        for port in sentinels:
            _wait(lambda p=port: client(p).ping(), f"the Sentinel on :{port}")
        try:
            _wait(lambda: _sentinels_ready(sentinels), "the Sentinels to know each other", 30)
        except RuntimeError as error:
            raise RuntimeError(f"{error}: {_what_they_know(sentinels, directory)}") from None
        yield Deployment(primary, replica, sentinels, directory)
    finally:
        for port in started:
            _stop(port, directory)
        shutil.rmtree(directory, ignore_errors=True)


# -- for the shared suites: one deployment per pytest run, stores with their own prefix ------

_shared: list[Deployment] = []


def shared_sentinel(config: Any) -> Deployment:
    """The run's deployment, started on first use and stopped when pytest ends."""
    if not _shared:
        running = local_sentinel()
        _shared.append(running.__enter__())
        config.add_cleanup(lambda: running.__exit__(None, None, None))
    return _shared[0]


def sentinel_store(request: Any, **options: Any) -> Any:
    """A RedisStore.from_sentinel on the shared deployment, with the test's own prefix
    (its keys deleted after)."""
    from sessionware import RedisStore

    deployment = shared_sentinel(request.config)
    prefix = f"swtest:{uuid.uuid4().hex[:12]}:"
    store = RedisStore.from_sentinel(
        deployment.addresses, service_name=SERVICE, prefix=prefix, **options
    )

    def clean() -> None:
        store.close()
        primary = client(deployment.primary_port())
        keys = list(primary.scan_iter(match=prefix + "*", count=1000))
        if keys:
            primary.delete(*keys)

    request.addfinalizer(clean)
    return store
