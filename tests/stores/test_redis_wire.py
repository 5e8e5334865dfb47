"""The lean connections (``sessionware/stores/redis_wire*.py``) on real servers.

The contract, hardening and scenario suites already run every async RedisStore
operation over it (``from_url`` turns it on); here: what it must do besides,
AUTH, SELECT, TLS, a dropped connection, replies matched to their callers under
concurrency, and staying off when an option is one it does not implement.
Extra servers run on free loopback ports and are stopped even after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sessionware import RedisStore, StoreUnavailable
from sessionware.stores.base import Changes, Meta
from sessionware.stores.redis_scripts import LIBRARY
from sessionware.stores.redis_wire import WireClient, wire_options

from ..conftest import REDIS_URL
from .cluster import HOST, _start, _wait, free_ports, skip_without_tools

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def record(now: float) -> Meta:
    return Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60)


@contextlib.contextmanager
def server(*extra: str, ping: dict[str, object] | None = None) -> Iterator[int]:
    """A redis-server with ``extra`` options (``{port}`` stands for its port) on a free
    port; killed (ours only) after."""
    skip_without_tools()
    (port,) = free_ports(1)
    directory = Path(tempfile.mkdtemp(prefix="sessionware-wire-"))
    try:
        _start(port, directory, *(option.format(port=port) for option in extra))
        options = {"host": HOST, "port": port, "socket_timeout": 1, **(ping or {})}
        _wait(lambda: redis.Redis(**options).ping(), f":{port}")  # type: ignore[arg-type]
        yield port
    finally:
        with contextlib.suppress(OSError, ValueError):
            pid = int((directory / f"redis-{port}.pid").read_text())
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


async def round_trip(store: RedisStore, session_id: str = "s1") -> dict[str, bytes]:
    """Create, save and load one session through the async store; its data."""
    now = time.time()
    await store.acreate(session_id, {"a": b"1"}, record(now))
    assert await store.asave(session_id, Changes(set={"b": b"2"}, updated_at=now)) is True
    loaded = await store.aload(session_id, now=now, idle_seconds=60)
    assert loaded is not None
    return loaded.data


def sync_round_trip(store: RedisStore, session_id: str = "s2") -> dict[str, bytes]:
    """:func:`round_trip` through the sync methods."""
    now = time.time()
    store.create(session_id, {"a": b"1"}, record(now))
    assert store.save(session_id, Changes(set={"b": b"2"}, updated_at=now)) is True
    loaded = store.load(session_id, now=now, idle_seconds=60)
    assert loaded is not None
    return loaded.data


def used_sync_wire(store: RedisStore) -> bool:
    """Whether the sync calls went over the lean connection (it keeps a socket)."""
    return store._sync_wire is not None and bool(store._sync_wire._idle)


async def test_from_url_sends_sessions_over_the_lean_connection(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    assert await round_trip(store) == {"a": b"1", "b": b"2"}
    assert store._wires, "the async calls went over the lean connection"
    assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
    assert used_sync_wire(store)
    await store.aclose()
    store.close()


async def test_an_option_it_does_not_implement_keeps_redis_py(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, health_check_interval=30)
    assert store._wire_settings is None
    assert await round_trip(store) == {"a": b"1", "b": b"2"}
    assert not store._wires
    assert sync_round_trip(store) == {"a": b"1", "b": b"2"} and store._sync_wire is None
    await store.aclose()
    store.close()
    off = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, lean=False)
    assert off._wire_settings is None
    off.close()


async def test_concurrent_calls_each_get_their_own_reply(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    now = time.time()
    ids = [f"s{i}" for i in range(200)]
    await asyncio.gather(*(store.acreate(i, {"me": i.encode()}, record(now)) for i in ids))
    loads = await asyncio.gather(*(store.aload(i, now=now, idle_seconds=60) for i in ids))
    assert [loaded.data["me"] if loaded else None for loaded in loads] == [i.encode() for i in ids]
    await store.aclose()
    store.close()


async def test_calls_made_in_one_pass_of_the_loop_go_out_in_one_write(
    redis_prefix: str,
) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    now = time.time()
    ids = [f"s{i}" for i in range(50)]
    await asyncio.gather(*(store.acreate(i, {"me": i.encode()}, record(now)) for i in ids))
    protocol = store._wires.get()._protocol
    assert protocol is not None and protocol.transport is not None
    transport, writes = protocol.transport, []
    write = transport.write

    def counted(data: bytes) -> None:
        writes.append(data.count(b"FCALL"))
        write(data)

    transport.write = counted  # type: ignore[method-assign]
    loads = await asyncio.gather(*(store.aload(i, now=now, idle_seconds=60) for i in ids))
    assert [loaded.data["me"] if loaded else None for loaded in loads] == [i.encode() for i in ids]
    assert writes == [50]  # the 50 loads' commands, each reply still its caller's
    loaded = await store.aload("s7", now=now, idle_seconds=60)  # alone: a write of its own
    assert loaded is not None and loaded.data == {"me": b"s7"} and writes == [50, 1]
    await store.aclose()
    store.close()


async def test_auth_and_select(redis_prefix: str) -> None:
    with server("--requirepass", "s3cret", ping={"password": "s3cret"}) as port:
        store = RedisStore.from_url(f"redis://:s3cret@{HOST}:{port}/3", prefix=redis_prefix)
        assert await round_trip(store) == {"a": b"1", "b": b"2"}
        assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
        assert store._wires and used_sync_wire(store)
        in_db3 = redis.Redis(host=HOST, port=port, password="s3cret", db=3)
        assert in_db3.exists(f"{redis_prefix}{{s1}}:d") == 1
        assert in_db3.exists(f"{redis_prefix}{{s2}}:d") == 1
        assert redis.Redis(host=HOST, port=port, password="s3cret").dbsize() == 0
        await store.aclose()
        store.close()
        wrong = RedisStore.from_url(f"redis://:nope@{HOST}:{port}", prefix=redis_prefix)
        with pytest.raises(StoreUnavailable, match=r"AuthenticationError|WRONGPASS|invalid"):
            await wrong.aload("s1", now=time.time(), idle_seconds=60)
        with pytest.raises(StoreUnavailable, match=r"AuthenticationError|WRONGPASS|invalid"):
            wrong.load("s1", now=time.time(), idle_seconds=60)
        await wrong.aclose()
        wrong.close()


async def test_a_dropped_connection_is_made_again(redis_prefix: str) -> None:
    with server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", prefix=redis_prefix)
        assert await round_trip(store) == {"a": b"1", "b": b"2"}
        admin = redis.Redis(host=HOST, port=port)
        assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 2
        loaded = await store.aload("s1", now=time.time(), idle_seconds=60)
        assert loaded is not None and loaded.data == {"a": b"1", "b": b"2"}
        loaded = store.load("s2", now=time.time(), idle_seconds=60)
        assert loaded is not None and loaded.data == {"a": b"1", "b": b"2"}
        await store.aclose()
        store.close()


async def test_each_call_times_out_at_its_own_deadline(redis_prefix: str) -> None:
    """Calls sent 0.2 s apart to a paused server each give up 0.5 s after they were sent
    (one timer serves them all), and once the server is back a new call reads its own
    reply, not a late one of theirs; no finished call is kept."""
    with server() as port:
        wire = WireClient(wire_options(f"redis://{HOST}:{port}", {"socket_timeout": 0.5}))
        admin = redis.Redis(host=HOST, port=port)
        try:
            assert await wire.execute([]) == []  # nothing to send: no round trip
            assert await wire.execute([("SET", f"{redis_prefix}k", "v")]) == [b"OK"]
            admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")
            loop = asyncio.get_running_loop()

            async def waited(delay: float) -> float:
                await asyncio.sleep(delay)
                sent = loop.time()
                with pytest.raises(redis.TimeoutError):
                    await wire.execute([("GET", f"{redis_prefix}k")])
                return loop.time() - sent

            waits = await asyncio.gather(*(waited(delay) for delay in (0.0, 0.2, 0.4)))
            assert all(0.45 < wait < 0.8 for wait in waits), waits
            await asyncio.sleep(1.2)  # the pause is over: the late replies come, and are dropped
            both = [("SET", f"{redis_prefix}k", "w"), ("GET", f"{redis_prefix}k")]
            assert await wire.execute(both) == [b"OK", b"w"]
            assert not wire._deadlines  # every call ended: none of their replies kept
        finally:
            await wire.aclose()
            admin.close()


async def test_a_server_that_is_gone_is_a_store_failure(redis_prefix: str) -> None:
    (port,) = free_ports(1)  # nothing listens there
    store = RedisStore.from_url(f"redis://{HOST}:{port}", prefix=redis_prefix)
    with pytest.raises(StoreUnavailable):
        await store.aload("s1", now=time.time(), idle_seconds=60)
    with pytest.raises(StoreUnavailable):
        store.load("s1", now=time.time(), idle_seconds=60)
    await store.aclose()
    store.close()


def test_a_forked_child_opens_its_own_socket(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
    parent_socket = store._sync_wire._idle[-1].sock.fileno()  # type: ignore[union-attr]
    pid = os.fork()
    if pid == 0:  # the child: its loads must not share the parent's socket
        try:
            ok = all(store.load("s2", now=time.time(), idle_seconds=60) for _ in range(50))
            os._exit(0 if ok else 1)
        finally:
            os._exit(2)
    for _ in range(50):  # the parent keeps using its socket meanwhile
        assert store.load("s2", now=time.time(), idle_seconds=60) is not None
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._sync_wire._idle[-1].sock.fileno() == parent_socket  # type: ignore[union-attr]
    store.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the TLS test (Debian's openssl package)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


async def test_tls(redis_prefix: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    with server(
        *tls, "--port", "0", "--tls-port", "{port}", ping={"ssl": True, "ssl_ca_certs": str(cert)}
    ) as port:
        url = f"rediss://{HOST}:{port}"
        store = RedisStore.from_url(url, prefix=redis_prefix, ssl_ca_certs=str(cert))
        assert store._wire_settings is not None and store._wire_settings["tls"]
        assert await round_trip(store) == {"a": b"1", "b": b"2"}
        assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
        assert store._wires and used_sync_wire(store)
        await store.aclose()
        store.close()
        untrusted = RedisStore.from_url(url, prefix=redis_prefix)  # the system's CAs only
        with pytest.raises(StoreUnavailable):
            await untrusted.aload("s1", now=time.time(), idle_seconds=60)
        with pytest.raises(StoreUnavailable):
            untrusted.load("s1", now=time.time(), idle_seconds=60)
        await untrusted.aclose()
        untrusted.close()


def fcalls(port: int | None = None) -> int:
    """How many FCALLs the server has run."""
    admin = redis.Redis(host=HOST, port=port) if port else redis.Redis.from_url(REDIS_URL)
    return int(admin.info("commandstats").get("cmdstat_fcall", {}).get("calls", 0))


async def test_sessions_run_as_redis_functions(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    before = fcalls()
    assert await round_trip(store) == {"a": b"1", "b": b"2"}
    assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
    assert fcalls() - before >= 6  # create, save and load, twice: each one FCALL
    names = {
        entry[b"library_name"] if isinstance(entry, dict) else entry[1]
        for entry in redis.Redis.from_url(REDIS_URL).function_list()
    }
    assert LIBRARY.source.split("name=")[1].split("\n")[0].encode() in names
    await store.aclose()
    store.close()


@pytest.mark.parametrize("denied", ["-function", "-fcall"])
async def test_a_server_that_refuses_functions_gets_scripts(redis_prefix: str, denied: str) -> None:
    with server() as port:
        redis.Redis(host=HOST, port=port).acl_setuser(
            "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", denied]
        )
        store = RedisStore.from_url(f"redis://app:pw@{HOST}:{port}", prefix=redis_prefix)
        assert await round_trip(store) == {"a": b"1", "b": b"2"}
        assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
        assert not store._lean.functions
        assert fcalls(port) <= 1  # at most the first attempt, which found none
        await store.aclose()
        store.close()


@pytest.mark.parametrize("lean", [True, False])
async def test_a_user_who_may_not_run_eval_still_writes(redis_prefix: str, lean: bool) -> None:
    """A first write asks the server's clock with EVAL; an ACL that allows the store's
    functions (or EVALSHA) but not EVAL answered NOPERM, and every new session got a 503.
    Such a write now goes without a deadline, as writes did before the question."""
    with server() as port:
        redis.Redis(host=HOST, port=port).acl_setuser(
            "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-eval"]
        )
        url = f"redis://app:pw@{HOST}:{port}"
        store = RedisStore.from_url(url, prefix=redis_prefix, lean=lean)
        now = time.time()
        store.create("s1", {"a": b"1"}, record(now))
        await store.acreate("s2", {"a": b"1"}, record(now))
        assert store._flows._no_clock  # asked once, never again
        assert sync_round_trip(store, "s3") == {"a": b"1", "b": b"2"}
        await store.aclose()
        store.close()


@pytest.mark.parametrize(
    "passing", ["CONFIG SET min-replicas-to-write 1", "CONFIG SET maxmemory 1"]
)
def test_functions_refused_for_a_passing_state_are_asked_again(
    redis_prefix: str, passing: str
) -> None:
    """FUNCTION LOAD refused while the server lacked replicas (NOREPLICAS) or memory
    (OOM): the request is a 503, and once the state passes the store loads functions,
    where it used to fall back to scripts for the life of the process."""
    with server() as port:
        admin = redis.Redis(host=HOST, port=port)
        store = RedisStore.from_url(f"redis://{HOST}:{port}", prefix=redis_prefix)
        admin.execute_command(*passing.split())
        with pytest.raises(StoreUnavailable):
            store.create("s1", {"a": b"1"}, record(time.time()))
        admin.config_set(passing.split()[2], "0")
        store.create("s1", {"a": b"1"}, record(time.time()))
        assert store._lean.functions and admin.function_list()
        store.close()


async def test_a_flushed_function_library_is_loaded_again(redis_prefix: str) -> None:
    with server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", prefix=redis_prefix)
        assert await round_trip(store) == {"a": b"1", "b": b"2"}
        redis.Redis(host=HOST, port=port).function_flush()  # a restart or FUNCTION FLUSH
        assert await round_trip(store, "s3") == {"a": b"1", "b": b"2"}
        redis.Redis(host=HOST, port=port).function_flush()
        assert sync_round_trip(store) == {"a": b"1", "b": b"2"}
        assert store._lean.functions and fcalls(port) >= 6
        await store.aclose()
        store.close()


def test_a_refused_connection_is_not_reported_as_arising_from_an_empty_pool() -> None:
    """The sync connection connected inside its `except IndexError` (no idle socket),
    so every outage's traceback showed an internal 'pop from an empty deque' first."""
    store = RedisStore.from_url(f"redis://{HOST}:{free_ports(1)[0]}", prefix="wire-refused:")
    try:
        with pytest.raises(StoreUnavailable) as raised:
            store.load("a" * 32, now=time.time(), idle_seconds=60)
    finally:
        store.close()
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert not any(isinstance(link, IndexError) for link in chain), chain


def test_a_refused_unix_socket_path_leaves_no_socket_open(tmp_path: Path) -> None:
    """A Unix socket that could not connect (no server at the path) was left for the
    garbage collector to close, with a ResourceWarning, on every failed attempt."""
    import gc
    import warnings

    store = RedisStore.from_url(f"unix://{tmp_path}/absent.sock", prefix="wire-unix:")
    gc.collect()  # (what earlier tests in this process left is theirs, not this store's)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            for _ in range(3):
                with pytest.raises(StoreUnavailable):
                    store.load("a" * 32, now=time.time(), idle_seconds=60)
            gc.collect()
    finally:
        store.close()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


@contextlib.contextmanager
def stalled(admin: redis.Redis) -> Iterator[None]:
    """The server behind ``admin`` stopped (SIGSTOP: it accepts connections, answers
    nothing) with every other client's connection dropped first; resumed after."""
    pid = int(admin.info("server")["process_id"])
    admin.client_kill_filter(_type="normal", skipme=True)  # ours drop: the next call connects
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def other_clients(admin: redis.Redis) -> int:
    """How many connections the server holds besides ``admin``'s, once it has caught up
    with the ones closed meanwhile (it learns of a close when it reads it)."""
    deadline = time.monotonic() + 3
    while (count := len(admin.client_list()) - 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


async def test_calls_queued_behind_a_failed_connect_fail_with_it(redis_prefix: str) -> None:
    """Ten calls that find no connection to a stalled server all fail within about
    two timeouts (the module's promise); each used to try again once the one before
    had failed, so the k-th failed after k timeouts."""
    with server("--requirepass", "pw", ping={"password": "pw"}) as port:
        options = {"socket_timeout": 0.4}
        wire = WireClient(wire_options(f"redis://:pw@{HOST}:{port}", options))  # type: ignore[arg-type]
        admin = redis.Redis(host=HOST, port=port, password="pw")
        loop = asyncio.get_running_loop()

        async def timed() -> tuple[float, type[BaseException] | None]:
            started = loop.time()
            try:
                await wire.execute([("GET", f"{redis_prefix}k")])
            except redis.RedisError as error:
                return loop.time() - started, type(error)
            return loop.time() - started, None

        try:
            assert await wire.execute([("SET", f"{redis_prefix}k", "v")]) == [b"OK"]
            with stalled(admin):
                results = await asyncio.gather(*(timed() for _ in range(10)))
            assert all(failed is not None for _, failed in results), results
            assert max(took for took, _ in results) < 2 * 0.4 + 0.3, results
        finally:
            await wire.aclose()
            admin.close()


async def test_a_connect_that_fails_while_greeting_leaves_no_connection_open(
    redis_prefix: str,
) -> None:
    """AUTH timing out (a stalled server) raised TimeoutError, and only a
    ConnectionError closed the new socket: each failed connect kept one open for good,
    even after aclose()."""
    with server("--requirepass", "pw", ping={"password": "pw"}) as port:
        options = {"socket_timeout": 0.3}
        wire = WireClient(wire_options(f"redis://:pw@{HOST}:{port}", options))  # type: ignore[arg-type]
        admin = redis.Redis(host=HOST, port=port, password="pw")
        try:
            assert await wire.execute([("SET", f"{redis_prefix}k", "v")]) == [b"OK"]
            with stalled(admin):
                for _ in range(3):  # one after the other: each makes its own attempt
                    with pytest.raises(redis.TimeoutError):
                        await wire.execute([("GET", f"{redis_prefix}k")])
            await wire.aclose()
            await asyncio.sleep(0.05)  # (a transport closes its socket on the loop's next pass)
            assert other_clients(admin) == 0
            assert await wire.execute([("GET", f"{redis_prefix}k")]) == [b"v"]  # and it recovers
        finally:
            await wire.aclose()
            admin.close()


def test_a_sync_greeting_answered_by_something_else_is_closed_and_a_store_failure() -> None:
    """A listener that is not Redis answering AUTH: the sync connection raised hiredis'
    ProtocolError (no store failure: a 500) and left the socket open."""
    import socket
    import threading

    listener = socket.create_server((HOST, 0))
    port = listener.getsockname()[1]
    ends: list[bytes] = []

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(3)
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            with contextlib.suppress(OSError):
                ends.append(conn.recv(1024))  # b"": the client closed its end

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    store = RedisStore.from_url(f"redis://:pw@{HOST}:{port}", prefix="wire-not-redis:")
    try:
        with pytest.raises(StoreUnavailable, match="ConnectionError"):
            store.load("a" * 32, now=time.time(), idle_seconds=60)
        thread.join(5)
        assert ends == [b""]
    finally:
        store.close()
        listener.close()


@pytest.mark.parametrize("lean", [True, False])
async def test_a_url_without_the_password_it_needs_says_to_put_it_in(
    redis_prefix: str, lean: bool
) -> None:
    """A first command too long for an unauthenticated client (a create's FCALL or
    FUNCTION LOAD) was answered "Protocol error: unauthenticated multibulk length",
    and the store passed that on, with advice to check that the server runs."""
    with server("--requirepass", "s3cret", ping={"password": "s3cret"}) as port:
        for url in (f"redis://{HOST}:{port}", f"redis://:wrong-pw@{HOST}:{port}"):
            store = RedisStore.from_url(url, prefix=redis_prefix, lean=lean)
            try:
                with pytest.raises(StoreUnavailable) as first:
                    await store.acreate("s1", {"a": b"1"}, record(time.time()))
                with pytest.raises(StoreUnavailable) as then:
                    store.create("s2", {"a": b"1"}, record(time.time()))
            finally:
                await store.aclose()
                store.close()
            for raised in (first, then):
                said = str(raised.value)
                assert "AuthenticationError" in said, said
                if lean and "wrong-pw" not in url:
                    assert "requires authentication, and this client sent no password" in said
                assert "password in the store's URL: redis://:PASSWORD@host:port/db" in said
                assert "wrong-pw" not in said and "s3cret" not in said


@pytest.mark.parametrize("lean", [True, False])
def test_a_server_short_of_replicas_is_a_503_that_says_so(lean: bool) -> None:
    """A primary with min-replicas-to-write refuses writes while its replica is gone (a
    failover under way, the replica down): every load writes (the slide), so that is a
    503 whose message names the setting, not "check that the server is running"."""
    with server("--min-replicas-to-write 1") as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}/0", prefix="wire-norepl:", lean=lean)
        try:
            with pytest.raises(StoreUnavailable) as refused:
                store.create("s1", {"a": b"1"}, record(time.time()))
        finally:
            store.close()
    said = str(refused.value)
    assert "NOREPLICAS" in said and "min-replicas-to-write" in said
    assert "Check that the server is running" not in said and ".." not in said
