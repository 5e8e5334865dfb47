"""``python -m benchmarks.redis_clients``: the Redis client, chosen by measurement.

Every installed client library runs sessionware's workload against one server
(``--url``, default ``redis://127.0.0.1:6379/0``), one call at a time:

* A: ``GET`` of a 200-byte value;
* B: ``EVALSHA`` of ``redis_scripts.SESSION`` with the exact keys and arguments
  ``RedisStore``'s load flow sends for a live session (created first through
  ``RedisStore`` under this run's prefix);
* C: a transaction of 3 commands (``MULTI``, ``SET``, ``INCR``, ``PEXPIRE``,
  ``EXEC``: one round trip);
* D: ``RedisStore.load`` / ``aload`` of that session, for the clients the store
  can drive (redis-py, and its own lean connections of ``redis_wire``).

Candidates: redis-py sync and asyncio, each with hiredis and with its pure-Python
RESP2 parser; coredis (asyncio); valkey-glide (asyncio, and glide-sync); the
store's lean connections (``sessionware.stores.redis_wire`` and
``redis_wire_sync``); and a floor: :class:`FloorClient` below, a bare asyncio
protocol around ``hiredis.Reader`` (no timeouts, no reconnect: not a client).
A library that is not installed is reported as such and skipped.

Repetitions are interleaved (each round runs every candidate and workload once,
in a rotated order) and each cell is the median over rounds of the per-call
time: wall (µs per call, round trip included) and client CPU
(``time.process_time`` over the loop, per call: the whole process, so a
library's own threads count, e.g. glide's Rust runtime). The server is shared:
wall times carry its noise; CPU times are the client's own.

``--cluster`` adds a throwaway 3-primary Redis Cluster on free loopback ports
(in a temporary directory, shut down after): GET, the RECORD EVALSHA of the
cluster load flow, and ``RedisStore.load`` on redis-py's cluster clients.

Keys: only under ``bench-clients:<random>:``, unlinked at the end. Default run
about 70 s (``--quick``: about 15 s; ``--cluster``: about 30 s more).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import hiredis
import redis
import redis.asyncio
from redis._parsers import _AsyncRESP2Parser, _RESP2Parser
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from sessionware.stores.base import Meta
from sessionware.stores.redis import RedisStore
from sessionware.stores.redis_scripts import RECORD, SESSION
from sessionware.stores.redis_wire import WireClient, wire_options
from sessionware.stores.redis_wire_sync import SyncWireClient

from .redis_keys import delete_prefix, server_version, unavailable_reason

DEFAULT_URL = "redis://127.0.0.1:6379/0"
WORKLOADS = ("A get", "B evalsha", "C multi/3", "D store load")
IDLE_SECONDS = 1800.0

Op = Callable[[], Any]  # a sync call, or a coroutine function (Candidate.is_async)


@dataclass
class Candidate:
    name: str
    is_async: bool
    ops: dict[str, Op]
    close: Callable[[], Awaitable[None]]
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Workload:
    """What every candidate sends: keys and arguments, built once."""

    prefix: str
    get_key: str
    tx_key: str
    counter_key: str
    value: bytes
    evalsha: tuple[Any, ...]  # the load flow's EVALSHA, as RedisStore sends it
    session_id: str

    def tx_commands(self) -> list[tuple[Any, ...]]:
        return [
            ("MULTI",),
            ("SET", self.tx_key, self.value),
            ("INCR", self.counter_key),
            ("PEXPIRE", self.tx_key, 60000),
            ("EXEC",),
        ]


# -- the floor: a bare asyncio protocol around hiredis (a reference, not a client) --------


class _FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))


class FloorClient:
    """One connection; commands are packed by hiredis, replies matched in order."""

    def __init__(self, protocol: _FloorProtocol) -> None:
        self._protocol = protocol

    @classmethod
    async def connect(cls, host: str, port: int) -> FloorClient:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_FloorProtocol, host, port)
        return cls(protocol)

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        self._protocol.waiting.extend(futures)
        assert self._protocol.transport is not None
        self._protocol.transport.write(b"".join(hiredis.pack_command(c) for c in commands))
        return [await future for future in futures]

    async def call(self, *args: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._protocol.waiting.append(future)
        assert self._protocol.transport is not None
        self._protocol.transport.write(hiredis.pack_command(args))
        return await future

    async def aclose(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()


# -- the candidates ---------------------------------------------------------------------


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def candidate_names() -> list[str]:
    """The rows this run prints, given what is installed."""
    names = ["redis-py sync hiredis", "redis-py sync python", "redis-py async hiredis"]
    names += ["redis-py async python"]
    if installed("coredis"):
        names.append("coredis async")
    if installed("glide"):
        names.append("valkey-glide async")
    if installed("glide_sync"):
        names.append("valkey-glide sync")
    names += ["sessionware wire async", "sessionware wire sync", "hiredis floor async"]
    return names


async def _nothing() -> None:
    return None


def _redis_py_sync(
    name: str, url: str, w: Workload, parser: Any, store_url: str | None
) -> Candidate:
    kwargs = {"parser_class": parser} if parser is not None else {}
    client = redis.Redis.from_url(url, **kwargs)

    def tx() -> Any:
        pipe = client.pipeline(transaction=True)
        pipe.set(w.tx_key, w.value)
        pipe.incr(w.counter_key)
        pipe.pexpire(w.tx_key, 60000)
        return pipe.execute()

    ops: dict[str, Op] = {
        WORKLOADS[0]: lambda: client.get(w.get_key),
        WORKLOADS[1]: lambda: client.execute_command(*w.evalsha),
        WORKLOADS[2]: tx,
    }
    store = None
    if store_url is not None:
        store = RedisStore.from_url(store_url, prefix=w.prefix, lean=False)
        ops[WORKLOADS[3]] = lambda: store.load(
            w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS
        )

    async def close() -> None:
        client.close()
        if store is not None:
            store.close()

    return Candidate(name, False, ops, close)


def _redis_py_async(
    name: str, url: str, w: Workload, parser: Any, store_url: str | None
) -> Candidate:
    kwargs = {"parser_class": parser} if parser is not None else {}
    client = redis.asyncio.Redis.from_url(url, **kwargs)

    async def tx() -> Any:
        pipe = client.pipeline(transaction=True)
        pipe.set(w.tx_key, w.value)
        pipe.incr(w.counter_key)
        pipe.pexpire(w.tx_key, 60000)
        return await pipe.execute()

    async def get() -> Any:
        return await client.get(w.get_key)

    async def evalsha() -> Any:
        return await client.execute_command(*w.evalsha)

    ops: dict[str, Op] = {WORKLOADS[0]: get, WORKLOADS[1]: evalsha, WORKLOADS[2]: tx}
    store = None
    if store_url is not None:
        store = RedisStore.from_url(store_url, prefix=w.prefix, lean=False)

        async def load() -> Any:
            return await store.aload(w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS)

        ops[WORKLOADS[3]] = load

    async def close() -> None:
        await client.aclose()
        if store is not None:
            await store.aclose()

    return Candidate(name, True, ops, close)


async def _coredis(url: str, w: Workload, stack: contextlib.AsyncExitStack) -> Candidate:
    import coredis

    where = urlparse(url)
    client: Any = coredis.Redis(where.hostname or "127.0.0.1", where.port or 6379)
    await stack.enter_async_context(client)
    keys, args = _split_evalsha(w.evalsha)

    async def get() -> Any:
        return await client.get(w.get_key)

    async def evalsha() -> Any:
        return await client.evalsha(w.evalsha[1], keys=keys, args=args)

    async def tx() -> Any:
        async with client.pipeline(transaction=True) as pipe:
            replies = (
                pipe.set(w.tx_key, w.value),
                pipe.incr(w.counter_key),
                pipe.pexpire(w.tx_key, 60000),
            )
        return [await reply for reply in replies]

    ops: dict[str, Op] = {WORKLOADS[0]: get, WORKLOADS[1]: evalsha, WORKLOADS[2]: tx}
    return Candidate("coredis async", True, ops, _nothing)  # closed by the exit stack


def _split_evalsha(args: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
    count = int(args[2])
    return list(args[3 : 3 + count]), list(args[3 + count :])


def _glide_args(args: tuple[Any, ...]) -> list[str | bytes]:
    return [a if isinstance(a, (str, bytes)) else str(a) for a in args]


async def _glide_async(url: str, w: Workload) -> Candidate:
    import glide

    where = urlparse(url)
    config = glide.GlideClientConfiguration(
        [glide.NodeAddress(where.hostname or "127.0.0.1", where.port or 6379)], request_timeout=1000
    )
    client = await glide.GlideClient.create(config)
    evalsha = _glide_args(w.evalsha)

    async def get() -> Any:
        return await client.get(w.get_key)

    async def script() -> Any:
        return await client.custom_command(evalsha)

    async def tx() -> Any:
        batch = glide.Batch(is_atomic=True)
        batch.set(w.tx_key, w.value)
        batch.incr(w.counter_key)
        batch.pexpire(w.tx_key, 60000)
        return await client.exec(batch, raise_on_error=True)

    async def close() -> None:
        await client.close()

    ops: dict[str, Op] = {WORKLOADS[0]: get, WORKLOADS[1]: script, WORKLOADS[2]: tx}
    return Candidate("valkey-glide async", True, ops, close)


def _glide_sync(url: str, w: Workload) -> Candidate:
    import glide_sync

    where = urlparse(url)
    config = glide_sync.GlideClientConfiguration(
        [glide_sync.NodeAddress(where.hostname or "127.0.0.1", where.port or 6379)],
        request_timeout=1000,
    )
    client = glide_sync.GlideClient.create(config)
    evalsha = _glide_args(w.evalsha)

    def tx() -> Any:
        batch = glide_sync.Batch(is_atomic=True)
        batch.set(w.tx_key, w.value)
        batch.incr(w.counter_key)
        batch.pexpire(w.tx_key, 60000)
        return client.exec(batch, raise_on_error=True)

    async def close() -> None:
        client.close()

    ops: dict[str, Op] = {
        WORKLOADS[0]: lambda: client.get(w.get_key),
        WORKLOADS[1]: lambda: client.custom_command(evalsha),
        WORKLOADS[2]: tx,
    }
    return Candidate("valkey-glide sync", False, ops, close)


def _wire_async(url: str, w: Workload) -> Candidate:
    settings = wire_options(url, {"socket_timeout": 1.0, "socket_connect_timeout": 1.0})
    assert settings is not None
    client = WireClient(settings)
    store = RedisStore.from_url(url, prefix=w.prefix)  # lean=True: the store's default
    get, evalsha, tx = [("GET", w.get_key)], [w.evalsha], w.tx_commands()

    async def do_get() -> Any:
        return await client.execute(get)

    async def do_evalsha() -> Any:
        return await client.execute(evalsha)

    async def do_tx() -> Any:
        return await client.execute(tx)

    async def load() -> Any:
        return await store.aload(w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS)

    async def close() -> None:
        await client.aclose()
        await store.aclose()

    ops: dict[str, Op] = {
        WORKLOADS[0]: do_get,
        WORKLOADS[1]: do_evalsha,
        WORKLOADS[2]: do_tx,
        WORKLOADS[3]: load,
    }
    return Candidate("sessionware wire async", True, ops, close)


def _wire_sync(url: str, w: Workload) -> Candidate:
    settings = wire_options(url, {"socket_timeout": 1.0, "socket_connect_timeout": 1.0})
    assert settings is not None
    client = SyncWireClient(settings)
    store = RedisStore.from_url(url, prefix=w.prefix)
    get, evalsha, tx = [("GET", w.get_key)], [w.evalsha], w.tx_commands()

    async def close() -> None:
        client.close()
        store.close()

    ops: dict[str, Op] = {
        WORKLOADS[0]: lambda: client.execute(get),
        WORKLOADS[1]: lambda: client.execute(evalsha),
        WORKLOADS[2]: lambda: client.execute(tx),
        WORKLOADS[3]: lambda: store.load(w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS),
    }
    return Candidate("sessionware wire sync", False, ops, close)


async def _floor(url: str, w: Workload) -> Candidate:
    where = urlparse(url)
    client = await FloorClient.connect(where.hostname or "127.0.0.1", where.port or 6379)
    tx = w.tx_commands()

    async def get() -> Any:
        return await client.call("GET", w.get_key)

    async def evalsha() -> Any:
        return await client.call(*w.evalsha)

    async def do_tx() -> Any:
        return await client.execute(tx)

    ops: dict[str, Op] = {WORKLOADS[0]: get, WORKLOADS[1]: evalsha, WORKLOADS[2]: do_tx}
    return Candidate("hiredis floor async", True, ops, client.aclose)


# -- the run ----------------------------------------------------------------------------


def prepare(url: str, prefix: str) -> Workload:
    """Write the GET value and one live session (through RedisStore); capture the
    load flow's EVALSHA for it, as the store sends it on a single server."""
    client = redis.Redis.from_url(url)
    value = secrets.token_bytes(100).hex().encode()  # 200 bytes
    get_key = f"{prefix}get"
    client.set(get_key, value, ex=600)
    client.script_load(SESSION.source)
    client.close()
    store = RedisStore.from_url(url, prefix=prefix, lean=False)
    session_id = secrets.token_hex(16)
    now = time.time()
    data = {"user": b"\xa5alice", "cart": b"\x92\xa4sku1\xa4sku2", "email": b"\xafa@example.test"}
    meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 900)
    store.create(session_id, data, meta)
    step = next(store._flows.load(session_id, now, IDLE_SECONDS))
    store.close()
    # the load's script call (its HGETALL of the data, the second command, is not timed)
    assert isinstance(step, list) and len(step) == 2 and step[0].script is SESSION
    return Workload(
        prefix=prefix,
        get_key=get_key,
        tx_key=f"{prefix}tx",
        counter_key=f"{prefix}n",
        value=value,
        evalsha=step[0].args,
        session_id=session_id,
    )


async def build(url: str, w: Workload, stack: contextlib.AsyncExitStack) -> list[Candidate]:
    candidates = [
        _redis_py_sync("redis-py sync hiredis", url, w, None, url),
        _redis_py_sync("redis-py sync python", url, w, _RESP2Parser, None),
        _redis_py_async("redis-py async hiredis", url, w, None, url),
        _redis_py_async("redis-py async python", url, w, _AsyncRESP2Parser, None),
    ]
    optional: list[tuple[str, str, Callable[[], Any]]] = [
        ("coredis", "coredis async", lambda: _coredis(url, w, stack)),
        ("glide", "valkey-glide async", lambda: _glide_async(url, w)),
        ("glide_sync", "valkey-glide sync", lambda: _glide_sync(url, w)),
    ]
    for module, name, make in optional:
        if not installed(module):
            print(f"note: {name} skipped: `{module}` is not installed (pip install -e '.[bench]')")
            continue
        made = make()
        candidates.append(await made if asyncio.iscoroutine(made) else made)
    candidates += [_wire_async(url, w), _wire_sync(url, w), await _floor(url, w)]
    return candidates


async def run_op(candidate: Candidate, op: Op, calls: int) -> tuple[float, float]:
    """µs per call over ``calls`` calls: wall, process CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    if candidate.is_async:
        for _ in range(calls):
            await op()
    else:
        for _ in range(calls):
            op()
    return (time.perf_counter() - wall) / calls * 1e6, (time.process_time() - cpu) / calls * 1e6


async def check(candidates: list[Candidate], w: Workload) -> None:
    """Every candidate gets the same answers: the value, a live load, a 3-reply EXEC."""
    for c in candidates:
        ops = c.ops
        got = await ops[WORKLOADS[0]]() if c.is_async else ops[WORKLOADS[0]]()
        loaded = await ops[WORKLOADS[1]]() if c.is_async else ops[WORKLOADS[1]]()
        if c.name.startswith("sessionware wire"):  # execute() returns a list of replies
            got, loaded = got[0], loaded[0]
        if got != w.value:
            raise SystemExit(f"{c.name}: GET returned {got!r:.60}")
        if int(loaded[0]) != 1:
            raise SystemExit(f"{c.name}: the load script did not find the session: {loaded!r:.80}")


async def measure(
    url: str, prefix: str, rounds: int, calls: int, *, cluster: bool = False
) -> list[Candidate]:
    """Every candidate checked, then timed; ``cluster``: against a Redis Cluster node."""
    w = (prepare_cluster if cluster else prepare)(url, prefix)
    async with contextlib.AsyncExitStack() as stack:
        candidates = await (build_cluster if cluster else build)(url, w, stack)
        try:
            await check(candidates, w)
            await _rounds(candidates, rounds, calls)
        finally:
            for c in candidates:
                await c.close()
    return candidates


async def _rounds(candidates: list[Candidate], rounds: int, calls: int) -> None:
    """Warm every cell up, then ``rounds`` interleaved rounds, each in a rotated order."""
    for c in candidates:
        for op in c.ops.values():
            await run_op(c, op, 20)
    for r in range(rounds):
        shift = r % len(candidates)
        for c in candidates[shift:] + candidates[:shift]:
            for name, op in c.ops.items():
                wall, cpu = await run_op(c, op, calls)
                c.wall.setdefault(name, []).append(wall)
                c.cpu.setdefault(name, []).append(cpu)


# -- optional: a throwaway 3-node Redis Cluster on loopback ports (--cluster) -----------

CLUSTER_WORKLOADS = ("A get", "B evalsha", "D store load")


@contextlib.contextmanager
def local_cluster() -> Iterator[list[int]]:
    """Three ``redis-server --cluster-enabled yes`` on free 127.0.0.1 ports, joined by
    ``redis-cli --cluster create``, in a temporary directory; shut down after."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not on PATH")
    ports = _free_ports(3)
    directory = tempfile.mkdtemp(prefix="bench-clients-cluster-")
    started: list[int] = []
    try:
        for port in ports:
            where = ["--port", str(port), "--bind", "127.0.0.1", "--dir", directory]
            where += ["--pidfile", os.path.join(directory, f"{port}.pid")]
            mode = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            quiet = ["--save", "", "--appendonly", "no", "--daemonize", "yes"]
            subprocess.run(
                ["redis-server", *where, *mode, *quiet],
                check=True,
                capture_output=True,
                timeout=10,
            )
            started.append(port)
        for port in ports:
            _until(lambda p=port: redis.Redis(port=p).ping())
        nodes = [f"127.0.0.1:{port}" for port in ports]
        options = ["--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, *options],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for port in ports:
            _until(lambda p=port: redis.Redis(port=p).cluster("info")["cluster_state"] == "ok")
        yield ports
    finally:
        for port in started:
            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=port, socket_timeout=2).shutdown(nosave=True)
        shutil.rmtree(directory, ignore_errors=True)


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in ports and port + 10000 < 65536:  # the cluster bus: port + 10000
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
    return ports


def _until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError):
            if condition():
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the local cluster did not come up")
        time.sleep(0.05)


def prepare_cluster(url: str, prefix: str) -> Workload:
    """As :func:`prepare`, on the cluster: the load flow there is RECORD on the
    session's slot plus INDEX on the index's, as one pipeline; B times the RECORD
    EVALSHA (one slot, one node), D the store's whole load."""
    client = RedisCluster.from_url(url)
    value = secrets.token_bytes(100).hex().encode()
    get_key = f"{prefix}get"
    client.set(get_key, value, ex=600)
    client.close()
    store = RedisStore.from_url(url, prefix=prefix, cluster=True)
    session_id = secrets.token_hex(16)
    now = time.time()
    meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 900)
    store.create(session_id, {"user": b"\xa5alice"}, meta)
    step = next(store._flows.load(session_id, now, IDLE_SECONDS))
    store.close()
    assert isinstance(step, list) and step[0].script is RECORD
    return Workload(prefix, get_key, "", "", value, step[0].args, session_id)


async def build_cluster(url: str, w: Workload, stack: contextlib.AsyncExitStack) -> list[Candidate]:
    where = urlparse(url)
    host, port = where.hostname or "127.0.0.1", where.port or 6379
    sync_client = RedisCluster.from_url(url)
    sync_store = RedisStore.from_url(url, prefix=w.prefix, cluster=True)
    async_client = AsyncRedisCluster.from_url(url)
    async_store = RedisStore.from_url(url, prefix=w.prefix, cluster=True)

    async def sync_close() -> None:
        sync_client.close()
        sync_store.close()

    async def async_close() -> None:
        await async_client.aclose()
        await async_store.aclose()

    async def aget() -> Any:
        return await async_client.get(w.get_key)

    async def aevalsha() -> Any:
        return await async_client.execute_command(*w.evalsha)

    async def aload() -> Any:
        return await async_store.aload(w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS)

    candidates = [
        Candidate(
            "redis-py sync cluster",
            False,
            {
                "A get": lambda: sync_client.get(w.get_key),
                "B evalsha": lambda: sync_client.execute_command(*w.evalsha),
                "D store load": lambda: sync_store.load(
                    w.session_id, now=time.time(), idle_seconds=IDLE_SECONDS
                ),
            },
            sync_close,
        ),
        Candidate(
            "redis-py async cluster",
            True,
            {"A get": aget, "B evalsha": aevalsha, "D store load": aload},
            async_close,
        ),
    ]
    if installed("coredis"):
        import coredis

        cluster: Any = coredis.RedisCluster(host, port)
        await stack.enter_async_context(cluster)
        keys, args = _split_evalsha(w.evalsha)

        async def cget() -> Any:
            return await cluster.get(w.get_key)

        async def cevalsha() -> Any:
            return await cluster.evalsha(w.evalsha[1], keys=keys, args=args)

        ops: dict[str, Op] = {"A get": cget, "B evalsha": cevalsha}
        candidates.append(Candidate("coredis async cluster", True, ops, _nothing))
    if installed("glide"):
        import glide

        config = glide.GlideClusterClientConfiguration(
            [glide.NodeAddress(host, port)], request_timeout=1000
        )
        gclient = await glide.GlideClusterClient.create(config)
        evalsha = _glide_args(w.evalsha)

        async def gget() -> Any:
            return await gclient.get(w.get_key)

        async def gevalsha() -> Any:
            return await gclient.custom_command(evalsha)

        candidates.append(
            Candidate(
                "valkey-glide async cluster",
                True,
                {"A get": gget, "B evalsha": gevalsha},
                gclient.close,
            )
        )
    if installed("glide_sync"):
        import glide_sync

        sconfig = glide_sync.GlideClusterClientConfiguration(
            [glide_sync.NodeAddress(host, port)], request_timeout=1000
        )
        sclient = glide_sync.GlideClusterClient.create(sconfig)
        sevalsha = _glide_args(w.evalsha)

        async def sclose() -> None:
            sclient.close()

        candidates.append(
            Candidate(
                "valkey-glide sync cluster",
                False,
                {
                    "A get": lambda: sclient.get(w.get_key),
                    "B evalsha": lambda: sclient.custom_command(sevalsha),
                },
                sclose,
            )
        )
    return candidates


def table(candidates: list[Candidate], workloads: tuple[str, ...] = WORKLOADS) -> str:
    head = f"{'client':<28}" + "".join(f"{w:>18}" for w in workloads)
    lines = [head, f"{'':<28}" + "".join(f"{'wall / cpu µs':>18}" for _ in workloads)]
    for c in candidates:
        cells = []
        for w in workloads:
            if w in c.wall:
                cell = f"{statistics.median(c.wall[w]):.1f} / {statistics.median(c.cpu[w]):.1f}"
            else:
                cell = "—"
            cells.append(f"{cell:>18}")
        lines.append(f"{c.name:<28}" + "".join(cells))
    return "\n".join(lines)


FEATURES = (
    # feature, redis-py, coredis, valkey-glide, sessionware wire
    ("pipelines / MULTI-EXEC", "yes / yes", "yes / yes", "Batch / atomic Batch", "pipeline / raw"),
    ("EVALSHA / FCALL", "yes / yes", "yes / yes", "custom_command+Script / fcall", "yes / yes"),
    ("timeouts", "socket, connect, pool", "stream, connect, pool", "request_timeout", "socket"),
    ("reconnect", "Retry policy", "RetryPolicy", "backoff strategy (Rust)", "once, at once"),
    ("AUTH / TLS", "yes / yes", "yes / yes", "yes / yes", "yes / yes"),
    ("Cluster MOVED/ASK", "yes", "yes", "yes", "no (redis-py)"),
    ("Sentinel", "yes", "yes", "no", "no (redis-py)"),
    ("RESP3 client tracking", "yes (cache_config)", "yes (TrackingCache)", "TTL cache*", "no"),
)


def feature_matrix() -> str:
    cols = ("feature", "redis-py", "coredis", "valkey-glide", "sessionware wire")
    widths = [max(len(r[i]) for r in (cols, *FEATURES)) + 2 for i in range(len(cols))]
    rows = [cols, *FEATURES]
    out = ["".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    out.append(
        "* glide 2.6's ClientSideCache: entries expire by TTL; server-assisted "
        "invalidation is an opt-in flag (server_assisted). From the libraries' docs "
        "and installed sources; not measured."
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--quick", action="store_true", help="about 15 s instead of about 70 s")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None, help="calls per cell per round")
    parser.add_argument(
        "--cluster", action="store_true", help="also a throwaway 3-node cluster (about 30 s more)"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 9)
    calls = args.calls or (600 if args.quick else 1400)
    reason = unavailable_reason(args.url)
    if reason is not None:
        print(f"skipped: {reason}")
        return 1
    prefix = f"bench-clients:{secrets.token_hex(4)}:"
    versions = {m: _version(m) for m in ("redis", "hiredis", "coredis", "valkey-glide")}
    print(
        f"Redis {server_version(args.url)} at {args.url}; Python {sys.version.split()[0]}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    print(f"{rounds} interleaved rounds x {calls} calls per cell; medians over rounds\n")
    started = time.perf_counter()
    try:
        candidates = asyncio.run(measure(args.url, prefix, rounds, calls))
    finally:
        deleted = delete_prefix(args.url, prefix)
    print(table(candidates))
    print(f"\n({time.perf_counter() - started:.0f} s; {deleted} keys of {prefix} deleted)\n")
    if args.cluster:
        run_cluster(prefix, max(3, rounds // 2), calls)
    print(feature_matrix())
    return 0


def run_cluster(prefix: str, rounds: int, calls: int) -> None:
    started = time.perf_counter()
    with local_cluster() as ports:
        url = f"redis://127.0.0.1:{ports[0]}/0"
        print(f"Redis Cluster of 3 primaries on 127.0.0.1:{','.join(map(str, ports))}")
        print(f"{rounds} interleaved rounds x {calls} calls per cell; medians over rounds\n")
        candidates = asyncio.run(measure(url, prefix, rounds, calls, cluster=True))
    print(table(candidates, CLUSTER_WORKLOADS))
    print(f"\n({time.perf_counter() - started:.0f} s; the cluster is shut down)\n")


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
