"""RedisStore beyond the shared contract: round trips, races, faults, corrupt
records, TTLs, index pruning, the cluster layout and configuration.

Runs on the real server (``tests/conftest.py``: own prefix, own cleanup), on
throwaway servers for the faults (``cluster.throwaway_server``: killed, paused
or script-flushed there, never on the shared server), and on the local cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import itertools
import logging
import math
import re
import struct
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio.connection
import redis.connection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import sessionware
from sessionware import (
    ConfigurationError,
    MissingExtra,
    RedisStore,
    SessionMiddleware,
    SessionwareError,
    StoreUnavailable,
    codec,
)
from sessionware.cookies import new_token, public_id
from sessionware.stores import redis_flows
from sessionware.stores.base import (
    MARK_SECONDS,
    AuditRecord,
    BlindWrite,
    Changes,
    Meta,
    Query,
    StoredSession,
)
from sessionware.stores.redis_flows import Call
from sessionware.stores.redis_wire import WireClient
from sessionware.stores.redis_wire_sync import SyncWireClient

from ..conftest import REDIS_URL
from ..pacing import excuse, paced
from .cluster import HOST, client, cluster_store, free_ports, shared_cluster, throwaway_server

BASE_URL = "https://testserver"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(redis_prefix: str) -> Iterator[RedisStore]:
    made = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    yield made
    made.close()


@pytest.fixture
def raw() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def meta(now: float, idle: float = 60.0, **fields: Any) -> Meta:
    return Meta(
        created_at=now, updated_at=now, last_activity_at=now, expires_at=now + idle, **fields
    )


def ttls(raw: redis.Redis, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` (without it) and its PTTL in ms (-1: none)."""
    found = raw.scan_iter(match=prefix + "*", count=1000)
    return {key.decode()[len(prefix) :]: raw.pttl(key) for key in found}


# -- round trips ---------------------------------------------------------------------------


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every write to a Redis socket, sync, async or lean (redis_wire), appends 1: one per
    round trip."""
    seen: list[int] = []
    sync_send = redis.connection.AbstractConnection.send_packed_command
    async_send = redis.asyncio.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        seen.append(1)
        sync_send(self, command, check_health)

    async def acounted(self: Any, command: Any, check_health: bool = True) -> None:
        seen.append(1)
        await async_send(self, command, check_health)

    wire_send, sync_wire_send = WireClient.transmit, SyncWireClient.transmit

    def wire_counted(self: Any, protocol: Any, packed: bytes) -> None:
        seen.append(1)
        wire_send(self, protocol, packed)

    def sync_wire_counted(self: Any, conn: Any, packed: bytes) -> None:
        seen.append(1)
        sync_wire_send(self, conn, packed)

    monkeypatch.setattr(WireClient, "transmit", wire_counted)
    monkeypatch.setattr(SyncWireClient, "transmit", sync_wire_counted)
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    monkeypatch.setattr(
        redis.asyncio.connection.AbstractConnection, "send_packed_command", acounted
    )
    return seen


def operations(store: Any, prefix: str = "") -> list[tuple[str, Callable[[], Any]]]:
    """Each session operation once, named; ``prefix`` picks the sync (``""``) or async
    (``"a"``) methods. Run in order: each acts on what the previous made."""
    now = time.time()
    moved = meta(now, user="alice")
    revoked_too = meta(now)

    def call(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
        return lambda: getattr(store, prefix + name)(*args, **kwargs)

    change = Changes(set={"b": b"2"}, removed=["a"], updated_at=now, size_bytes=2)
    return [
        ("load (no such session)", call("load", "none", now=now, idle_seconds=60)),
        ("create", call("create", "s1", {"a": b"1"}, meta(now))),
        ("create (another)", call("create", "s9", {"a": b"1"}, meta(now))),
        ("load", call("load", "s1", now=now, idle_seconds=60)),
        ("save", call("save", "s1", change)),
        ("rotate (regenerate)", call("rotate", "s1", "s2", {"b": b"2"}, moved, require_live=True)),
        ("delete (logout)", call("delete", "s2")),
        ("rotate (refused)", call("rotate", "s2", "s3", {}, revoked_too, require_live=True)),
    ]


EXPECTED_ROUND_TRIPS = {
    "load (no such session)": 1,
    # the process's first write asks the server's clock first (no load has shown it:
    # its deadline needs it); once known, never again
    "create": 2,
    "create (another)": 1,
    "load": 1,
    "save": 1,
    "rotate (regenerate)": 1,
    "delete (logout)": 1,
    "rotate (refused)": 2,  # the optimistic new record is removed again
}


def test_round_trips_per_operation_sync(store: RedisStore, sends: list[int]) -> None:
    store.load("warm", now=time.time(), idle_seconds=60)  # the connection handshake
    counts = {}
    for name, run in operations(store):
        sends.clear()
        run()
        counts[name] = len(sends)
    assert counts == EXPECTED_ROUND_TRIPS


@pytest.mark.anyio
async def test_round_trips_per_operation_async(store: RedisStore, sends: list[int]) -> None:
    await store.aload("warm", now=time.time(), idle_seconds=60)
    counts = {}
    for name, run in operations(store, "a"):
        sends.clear()
        await run()
        counts[name] = len(sends)
    assert counts == EXPECTED_ROUND_TRIPS
    await store.aclose()


def session_app(store: Any, **options: Any) -> Starlette:
    """/read, /write?key=&value=, /login, /logout, /untouched and /keys."""

    async def read(request: Request) -> JSONResponse:
        return JSONResponse({"n": request.session.get("n")})

    async def write(request: Request) -> JSONResponse:
        request.session[request.query_params.get("key", "n")] = request.query_params.get("value")
        return JSONResponse({"ok": True})

    async def login(request: Request) -> JSONResponse:
        request.session.regenerate()
        request.session["user_id"] = "alice"
        return JSONResponse({"ok": True})

    async def logout(request: Request) -> JSONResponse:
        request.session.clear()
        return JSONResponse({"ok": True})

    async def untouched(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def keys(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.session))

    handlers = (read, write, login, logout, untouched, keys)
    app = Starlette(routes=[Route("/" + h.__name__, h) for h in handlers])
    app.add_middleware(SessionMiddleware, secret_key="k", store=store, **options)
    return app


def test_a_handed_in_asyncio_client_used_from_a_second_loop_says_what_to_do(
    redis_prefix: str,
) -> None:
    """Starlette's TestClient without ``with`` runs each request on a loop of its own;
    a redis.asyncio client handed in belongs to the first, and redis-py's "Event loop
    is closed" alone does not say why nor what to change."""
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    store = RedisStore(client, prefix=redis_prefix)
    app = session_app(store)
    browser = TestClient(app, base_url="https://testserver")
    assert browser.get("/write", params={"value": "1"}).status_code == 200
    with pytest.raises(ConfigurationError) as refused:
        browser.get("/read")
    message = str(refused.value)
    assert "used from another event loop" in message
    assert "RedisStore.from_url(" in message and "with TestClient(app) as client" in message
    with TestClient(app, base_url="https://testserver") as kept:  # one loop: no complaint
        kept.cookies = browser.cookies
        assert kept.get("/read").json() == {"n": "1"}
        assert kept.get("/read").json() == {"n": "1"}
    with pytest.raises(ConfigurationError, match="used from another event loop"):
        asyncio.run(store.aclose())  # (a fixture closing it on a loop of its own)


def test_round_trips_per_request(store: RedisStore, sends: list[int]) -> None:
    """Through the ASGI middleware: zero without a cookie, one to load, one more to write
    (a logout: one more still, to read the mark a login racing it would have left)."""
    with TestClient(session_app(store), base_url=BASE_URL) as http:
        http.get("/write")  # warm up: connect, load the scripts
        http.cookies.clear()
        counts = {}
        for name, path, cookie in [
            ("no cookie, session unused", "/untouched", False),
            ("no cookie, session read", "/read", False),
            ("creation", "/write?value=1", False),
            ("cookie, session unused", "/untouched", True),
            ("cookie, session read", "/read", True),
            ("cookie, session written", "/write?value=2", True),
            ("login (regenerate)", "/login", True),
            ("logout", "/logout", True),
        ]:
            if not cookie:
                http.cookies.clear()
            sends.clear()
            assert http.get(path).status_code == 200
            counts[name] = len(sends)
    assert counts == {
        "no cookie, session unused": 0,
        "no cookie, session read": 0,
        "creation": 1,
        "cookie, session unused": 1,
        "cookie, session read": 1,
        "cookie, session written": 2,
        "login (regenerate)": 2,
        "logout": 3,  # load, delete, and the mark: did a login move it first? (a 409)
    }


@pytest.mark.cluster
def test_round_trips_on_a_cluster_are_one_send_per_node(
    request: pytest.FixtureRequest, sends: list[int]
) -> None:
    """A session's keys and the indexes are in two slots: at most two nodes per trip."""
    store = cluster_store(request)
    for _, run in operations(store):  # connect to every node the operations reach
        run()
    for name, run in operations(store):
        sends.clear()
        run()
        assert len(sends) <= 2 * EXPECTED_ROUND_TRIPS[name], name


@pytest.mark.cluster
@pytest.mark.anyio
async def test_round_trips_on_a_cluster_are_one_send_per_node_async(
    request: pytest.FixtureRequest, sends: list[int]
) -> None:
    store = cluster_store(request)
    for _, run in operations(store, "a"):
        await run()
    for name, run in operations(store, "a"):
        sends.clear()
        await run()
        assert len(sends) <= 2 * EXPECTED_ROUND_TRIPS[name], name
    await store.aclose()


# -- NOSCRIPT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lean", [True, False], ids=["functions", "scripts"])
def test_scripts_are_loaded_again_after_a_script_flush(sends: list[int], lean: bool) -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", lean=lean)
        now = time.time()
        store.create("s1", {"a": b"1"}, meta(now))
        client(port).function_flush() if lean else client(port).script_flush()
        sends.clear()
        loaded = store.load("s1", now=now, idle_seconds=60)
        assert loaded is not None and loaded.data == {"a": b"1"}
        assert len(sends) == 3  # NOSCRIPT (no such function), load the code, send again
        sends.clear()
        assert store.save("s1", Changes(set={"b": b"2"}, updated_at=now, size_bytes=2))
        assert len(sends) == 1
        store.close()


@pytest.mark.anyio
async def test_scripts_are_loaded_again_after_a_script_flush_async() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        now = time.time()
        await store.acreate("s1", {"a": b"1"}, meta(now))
        client(port).script_flush()
        loaded = await store.aload("s1", now=now, idle_seconds=60)
        assert loaded is not None and loaded.data == {"a": b"1"}
        await store.aclose()


@pytest.mark.cluster
def test_scripts_are_loaded_again_on_a_cluster(request: pytest.FixtureRequest) -> None:
    store = cluster_store(request)
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now))
    for port in shared_cluster(request.config):
        client(port).script_flush()
    loaded = store.load("s1", now=now, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"1"}


# -- races -------------------------------------------------------------------------------------

RACERS = 50


@pytest.mark.anyio
async def test_concurrent_saves_to_one_session_all_persist(store: RedisStore) -> None:
    now = time.time()
    await store.acreate("s1", {"seed": b"0"}, meta(now))

    async def save(i: int) -> bool:
        change = Changes(set={f"k{i}": str(i).encode()}, updated_at=time.time(), size_bytes=1)
        return await store.asave("s1", change)

    assert all(await asyncio.gather(*(save(i) for i in range(RACERS))))
    loaded = await store.aload("s1", now=time.time(), idle_seconds=60)
    assert loaded is not None
    assert loaded.data == {"seed": b"0"} | {f"k{i}": str(i).encode() for i in range(RACERS)}
    await store.aclose()


def test_concurrent_saves_from_threads_all_persist(store: RedisStore) -> None:
    now = time.time()
    store.create("s1", {}, meta(now))

    def save(i: int) -> bool:
        change = Changes(set={f"line:{i}": b"1"}, updated_at=time.time(), size_bytes=1)
        return store.save("s1", change)

    with ThreadPoolExecutor(RACERS) as pool:
        assert all(pool.map(save, range(RACERS)))
    loaded = store.load("s1", now=time.time(), idle_seconds=60)
    assert loaded is not None and len(loaded.data) == RACERS


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["field", "cart_line"])
async def test_concurrent_requests_to_one_session_all_persist(redis_prefix: str, key: str) -> None:
    """50 concurrent requests with one cookie through the ASGI middleware, each setting
    its own key (a form field; a cart line kept as its own key): all 50 survive."""
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    transport = httpx.ASGITransport(app=session_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        first = await http.get("/write", params={"key": "seed", "value": "0"})
        cookie = first.headers["set-cookie"].split(";")[0]
        http.cookies.clear()  # every request sends exactly this cookie

        async def put(i: int) -> int:
            params = {"key": f"{key}:{i}", "value": str(i)}
            response = await http.get("/write", params=params, headers={"cookie": cookie})
            return response.status_code

        statuses = await asyncio.gather(*(put(i) for i in range(RACERS)))
        assert statuses == [200] * RACERS
        stored = (await http.get("/keys", headers={"cookie": cookie})).json()
    assert stored == {"seed": "0"} | {f"{key}:{i}": str(i) for i in range(RACERS)}
    await store.aclose()


@pytest.mark.anyio
async def test_a_save_racing_a_revoke_never_resurrects(store: RedisStore) -> None:
    now = time.time()
    await store.acreate("s1", {"a": b"1"}, meta(now))
    loaded = await store.aload("s1", now=now, idle_seconds=60)  # a request loads it ...
    assert loaded is not None
    assert await store.arevoke("s1", actor="ops", now=time.time())  # ... an operator revokes
    change = Changes(set={"b": b"2"}, updated_at=time.time(), size_bytes=2)
    assert await store.asave("s1", change) is False  # ... the request's save is refused
    assert await store.aread_data("s1", now=time.time()) is None
    await store.aclose()


# -- faults ------------------------------------------------------------------------------------


def fails_fast(run: Callable[[], Any], where: str) -> StoreUnavailable:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        run()
    assert time.monotonic() - started < 2.5
    assert where in str(caught.value)
    assert isinstance(caught.value.__cause__, redis.RedisError)
    assert isinstance(caught.value, ConnectionError)
    return caught.value


def test_a_stopped_server_is_store_unavailable() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        now = time.time()
        store.create("s1", {"a": b"1"}, meta(now))
        client(port).shutdown(nosave=True)
    fails_fast(lambda: store.load("s1", now=now, idle_seconds=60), f"{HOST}:{port}")
    fails_fast(lambda: store.save("s1", Changes(updated_at=now)), f"{HOST}:{port}")


@pytest.mark.anyio
async def test_a_stopped_server_is_store_unavailable_async() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        now = time.time()
        await store.acreate("s1", {"a": b"1"}, meta(now))
        client(port).shutdown(nosave=True)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"{HOST}:{port}"):
        await store.aload("s1", now=now, idle_seconds=60)
    assert time.monotonic() - started < 2.5


def test_a_server_out_of_memory_is_store_unavailable_naming_maxmemory() -> None:
    """A full server (maxmemory, noeviction) answers OOM: the 503's message said to
    check that the server runs, which it does."""
    with throwaway_server("--maxmemory-policy", "noeviction") as port:
        filler = client(port)
        for i in range(30):  # 3 MB, then a limit below it: every write is refused
            filler.set(f"fill:{i}", b"x" * 100_000)
        filler.config_set("maxmemory", "1mb")
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        with pytest.raises(StoreUnavailable) as caught:
            store.create("s1", {"a": b"1" * 200_000}, meta(time.time()))
        message = str(caught.value)
        assert "OutOfMemoryError" in message and "(maxmemory)" in message
        assert "Check that the server is running" not in message
        # its refused FUNCTION LOAD said nothing of functions: once there is room, the
        # store loads them (it used to fall back to scripts for good)
        filler.config_set("maxmemory", "0")
        store.create("s1", {"a": b"1"}, meta(time.time()))
        assert store._lean.functions and filler.function_list()
        store.close()


def test_a_refused_connection_is_store_unavailable() -> None:
    (port,) = free_ports(1)
    store = RedisStore.from_url(f"redis://{HOST}:{port}")
    error = fails_fast(lambda: store.load("s1", now=time.time(), idle_seconds=60), str(port))
    assert "running and reachable" in str(error)


@contextlib.contextmanager
def paused(port: int) -> Iterator[None]:
    """CLIENT PAUSE the throwaway server's writes (every script call waits, while
    CLIENT UNPAUSE still goes through: under ALL it would wait out the pause too)."""
    admin = client(port)
    admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
    try:
        yield
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")


def test_a_paused_server_times_out_as_store_unavailable() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", socket_timeout=0.5)
        store.create("s1", {"a": b"1"}, meta(time.time()))
        with paused(port):
            started = time.monotonic()
            fails_fast(lambda: store.load("s1", now=time.time(), idle_seconds=60), str(port))
            assert time.monotonic() - started < 1.0


def test_the_default_timeout_bounds_a_paused_server() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        store.create("s1", {"a": b"1"}, meta(time.time()))
        with paused(port):
            fails_fast(lambda: store.load("s1", now=time.time(), idle_seconds=60), str(port))


def test_the_middleware_answers_503_without_a_cookie_when_redis_is_down() -> None:
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}")
        with TestClient(session_app(store), base_url=BASE_URL) as http:
            assert http.get("/write?value=1").status_code == 200
            client(port).shutdown(nosave=True)
            for path in ("/read", "/write?value=2"):
                response = http.get(path)
                assert response.status_code == 503
                assert "set-cookie" not in response.headers
            http.cookies.clear()
            response = http.get("/write?value=3")  # creation fails too: 503, no cookie
            assert response.status_code == 503 and "set-cookie" not in response.headers


# -- corrupt records ---------------------------------------------------------------------------


def corrupt_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and "corrupt" in r.message]


META_FIELDS = (  # redis_scripts FIELDS: the meta record's positions
    *("created_at", "updated_at", "last_activity_at", "expires_at", "deadline", "sliding"),
    *("app", "user", "email", "size_bytes", "max_size_bytes", "attribute_count", "status"),
    *("ended_at", "revoked_by", "indexed_at", "device"),
)


TIMES = {0, 1, 2, 3, 4, 13, 15}  # META_FIELDS' times, kept as doubles
HOT = (2, 3, 4, 15)  # the times a load changes, in the header (versions 2 and 3)
COUNTS = (9, 10, 11)  # size, largest size, key count: in the header (version 3)
HEADER = struct.Struct(">BBdddddIII")  # version, flags, HOT, updated_at, COUNTS
V2_HEADER = struct.Struct(">BBdddd")  # version, flags, HOT


def packed(version: int = 3, **fields: Any) -> bytes:
    """A meta record as ``redis_scripts.RECORD`` writes it (see ``packed`` there), in
    its current form (version 3: a header, then the body) or an earlier one (version 2:
    a shorter header; version 1: none)."""
    values = [fields.get(name) for name in META_FIELDS]
    if values[6] == "default":  # the app: Meta's default is left out
        values[6] = None
    texts = [None if v is None else v if isinstance(v, bytes) else str(v).encode() for v in values]
    in_header = {1: (), 2: HOT, 3: (*HOT, 1, *COUNTS)}[version]
    order = [i for i in range(len(META_FIELDS)) if i not in in_header]
    if version == 1:
        out = b"\x01"
    else:
        flags = (texts[12] == b"active") | (texts[5] != b"0") << 1
        for bit, i in enumerate(HOT):
            flags |= (texts[i] is not None) << (bit + 2)
        times = [float(texts[i] or 0) for i in HOT]
        if version == 2:
            out = V2_HEADER.pack(2, flags, *times)
        else:
            flags |= (texts[1] is not None) << 6
            counts = (int(texts[i] or 0) for i in COUNTS)
            out = HEADER.pack(3, flags, *times, float(texts[1] or 0), *counts)
    while order and texts[order[-1]] is None:
        order.pop()
    # (kind, value) -> the first position written with it: a text never refers to a time
    first: dict[tuple[bool, bytes], int] = {}
    for i in order:
        text = texts[i]
        if text is None:
            out += b"\xfd"
        elif len(text) > 2 and (i in TIMES, text) in first:
            out += bytes([252, first[(i in TIMES, text)]])
        elif i in TIMES and re.fullmatch(rb"\d+\.?\d*", text):
            out += b"\xfb" + struct.pack(">d", float(text))
        elif len(text) < 251:
            out += bytes([len(text)]) + text
        else:
            out += b"\xfe" + str(len(text)).encode() + b":" + text
        if text is not None:
            first.setdefault((i in TIMES, text), i + 1)
    return out


LAYOUTS = {"": 3, " (version 2)": 2, " (version 1)": 1, " (old layout)": 0}  # 0: a hash

CORRUPTIONS: dict[str, Callable[[redis.Redis, str, str], Any]] = {
    "data key is a string": lambda r, d, m: (
        r.set(d, b"SECRET"),
        r.set(m, packed(status="active")),
    ),
    "meta key is a list": lambda r, d, m: (r.hset(d, "a", b"SECRET"), r.rpush(m, b"SECRET")),
    "meta key is a set": lambda r, d, m: (r.hset(d, "a", b"SECRET"), r.sadd(m, b"SECRET")),
    "meta missing": lambda r, d, m: r.hset(d, "a", b"SECRET"),
    "meta a string not ours": lambda r, d, m: (r.hset(d, "a", b"SECRET"), r.set(m, b"SECRET")),
}


def well_formed(raw: redis.Redis, d: str, m: str, *, version: int, **meta_fields: Any) -> bytes:
    """Plant a sound record (its meta in the form of ``version``, see LAYOUTS) but for
    ``meta_fields``; its packed meta (a hash: nothing)."""
    now = time.time()
    fields = {"created_at": now, "updated_at": now, "last_activity_at": now}
    fields |= {"expires_at": now + 60, "sliding": "1", "status": "active", **meta_fields}
    fields = {k: v for k, v in fields.items() if v is not None}
    raw.hset(d, mapping={b"\xff": b"", "a": b"SECRET"})
    if version == 0:
        raw.hset(m, mapping=fields)
    else:
        raw.set(m, packed(version, **fields))
    return packed(version, **fields) if version else b""


def mangled(
    change: Callable[[bytes], bytes], version: int = 3
) -> Callable[[redis.Redis, str, str], Any]:
    """A corruption: a sound packed record whose meta bytes ``change`` rewrites."""

    def plant(r: redis.Redis, d: str, m: str) -> None:
        r.set(m, change(well_formed(r, d, m, version=version, device="SECRET")))

    return plant


def key_not_utf8(version: int) -> Callable[[redis.Redis, str, str], Any]:
    return lambda r, d, m: (well_formed(r, d, m, version=version), r.hset(d, b"\xc3(", b"SECRET"))


def planting(version: int, fields: dict[str, Any]) -> Callable[[redis.Redis, str, str], Any]:
    return lambda r, d, m: well_formed(r, d, m, version=version, **fields)


def _double(value: float) -> bytes:
    return struct.pack(">d", value)


for layout, version in LAYOUTS.items():
    CORRUPTIONS |= {
        name + layout: planting(version, fields)
        for name, fields in {
            "meta without created_at": {"created_at": None},
            "non-numeric expiry": {"expires_at": "SECRET"},
            "non-numeric size": {"size_bytes": "SECRET"},
            "non-integer size": {"size_bytes": "1.5"},
            "size with an underscore": {"size_bytes": "1_000"},
            "size past 4 GiB": {"size_bytes": str(2**32)},
            "NaN created_at": {"created_at": "nan"},
            "created_at past year 9999": {"created_at": "1e300"},
            "infinite ended_at": {"ended_at": "inf"},
        }.items()
        # (headers hold the times as doubles, and version 3's its counts as integers)
        if not (version >= 2 and name == "non-numeric expiry")
        and not (version == 3 and "size" in name)
    }
    CORRUPTIONS["key not UTF-8" + layout] = key_not_utf8(version)
# The body starts after the header (54 bytes; version 2: 34; version 1: 1 byte, no
# header); its first field, created_at, is a TIME (9 bytes), the second 2 bytes (version
# 3: sliding, '1'; earlier: updated_at, SAME as created_at).
for layout, version, at in (
    ("", 3, HEADER.size),
    (" (version 2)", 2, V2_HEADER.size),
    (" (version 1)", 1, 1),
):
    CORRUPTIONS |= {
        name + layout: mangled(change, version)
        for name, change in {
            "meta record truncated": lambda meta: meta[:-1],
            "meta record of another version": lambda meta: b"\x04" + meta[1:],
            "meta record with a length past its end": lambda meta, at=at: (
                meta[:at] + bytes([200]) + meta[at + 9 :]
            ),
            "meta record with a reserved length byte": lambda meta, at=at: (
                meta[:at] + b"\xff" + meta[at:]
            ),
            "meta record with SAME as a later field": lambda meta, at=at: (
                meta[:at] + b"\xfc\x05" + meta[at + 9 :]
            ),
            "meta record with SAME as an absent field": lambda meta, at=at: (
                meta[:at] + b"\xfd" + meta[at + 9 :]
            ),
            "meta record ending in a TIME": lambda meta, at=at: meta[: at + 4],
            "meta record ending in SAME": lambda meta, at=at: meta[: at + 9] + b"\xfc",
            # (created_at and a second field only: no status)
            "meta record cut before its status": lambda meta, at=at: meta[: at + 11],
            "meta record with a long length not a number": lambda meta, at=at: (
                meta[:at] + b"\xfe-1:" + meta[at:]
            ),
            "meta record with a long length past its end": lambda meta, at=at: (
                meta[:at] + b"\xfe999999:" + meta[at:]
            ),
        }.items()
    }
CORRUPTIONS |= {  # the header of the current form
    "meta header truncated": mangled(lambda meta: meta[:20]),
    "meta header with a reserved flag": mangled(lambda meta: meta[:1] + b"\xff" + meta[2:]),
    "meta header without a last activity": mangled(
        lambda meta: meta[:1] + bytes([meta[1] & ~4]) + meta[2:]
    ),
    "meta header without an update time": mangled(
        lambda meta: meta[:1] + bytes([meta[1] & ~64]) + meta[2:]
    ),
    "meta header with an infinite update time": mangled(
        lambda meta: meta[:34] + _double(float("inf")) + meta[42:]
    ),
    "version 2 header with a reserved flag": mangled(
        lambda meta: meta[:1] + b"\x7f" + meta[2:], version=2
    ),
    "meta header with a NaN expiry": mangled(
        lambda meta: meta[:10] + _double(float("nan")) + meta[18:]
    ),
    "meta header with an infinite last activity": mangled(
        lambda meta: meta[:2] + _double(float("inf")) + meta[10:]
    ),
    "meta header with a last activity before 1970": mangled(
        lambda meta: meta[:2] + _double(-1.0) + meta[10:]
    ),
    "meta record with SAME as a header field": mangled(  # its device, SAME as its expiry
        lambda meta: meta[:-7] + b"\xfc\x04"
    ),
    "meta record with SAME as its update time": mangled(  # (a header field in version 3)
        lambda meta: meta[:-7] + b"\xfc\x02"
    ),
}
SEEN_ONLY_BY_PYTHON = {  # the scripts let these through
    name + layout
    for name in (
        "key not UTF-8",
        "NaN created_at",
        "created_at past year 9999",
        "infinite ended_at",
    )
    for layout in LAYOUTS
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_record_is_no_session_and_one_warning(
    store: RedisStore,
    raw: redis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
    corruption: str,
) -> None:
    d, m = f"{redis_prefix}{{bad}}:d", f"{redis_prefix}{{bad}}:m"
    CORRUPTIONS[corruption](raw, d, m)
    now = time.time()
    checks = [
        lambda: store.load("bad", now=now, idle_seconds=60) is None,
        lambda: store.read_data("bad", now=now) is None,
    ]
    if not corruption.startswith("key not UTF-8"):  # (the meta is sound: the operator sees it)
        checks.append(lambda: store.get_meta("bad", now=now) is None)
    if corruption not in SEEN_ONLY_BY_PYTHON:  # (the core never saves what it could not load)
        checks.append(lambda: store.save("bad", Changes(set={"x": b"1"}, updated_at=now)) is False)
    for check in checks:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            assert check()
        warnings = corrupt_warnings(caplog)
        assert len(warnings) <= 1
        assert all("SECRET" not in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        store.load("bad", now=now, idle_seconds=60)
    assert len(corrupt_warnings(caplog)) == 1
    assert "bad" in corrupt_warnings(caplog)[0].getMessage()
    assert store.query(Query(), now=now) == ([], 0)


@pytest.mark.parametrize(
    "version", LAYOUTS.values(), ids=[name.strip(" ()") or "packed" for name in LAYOUTS]
)
def test_a_planted_sound_record_loads(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, version: int
) -> None:
    """The corruptions above are one change away from a record that loads; a load
    leaves it in the current form, which loads the same."""
    d, m = f"{redis_prefix}{{good}}:d", f"{redis_prefix}{{good}}:m"
    well_formed(raw, d, m, version=version, user="ann", device="\u00e9" * 300, size_bytes="12")
    now = time.time()
    loaded = store.load("good", now=now, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"SECRET"}
    assert (loaded.meta.user, loaded.meta.device, loaded.meta.size_bytes) == (
        "ann",
        "\u00e9" * 300,
        12,
    )
    assert raw.get(m)[:1] == b"\x03"
    again = store.load("good", now=now + 1, idle_seconds=60)
    assert again is not None and again.data == loaded.data
    assert dataclasses.replace(again.meta, last_activity_at=now, expires_at=now + 60) == (
        loaded.meta
    )
    assert again.meta.expires_at == now + 61


def test_the_meta_record_is_one_packed_string(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, user="ann", device="d" * 300))
    m = f"{redis_prefix}{{s1}}:m"
    assert raw.type(m) == b"string"
    expected = packed(
        created_at=repr(now),
        updated_at=repr(now),
        last_activity_at=repr(now),
        expires_at=repr(now + 60),
        sliding="1",
        app="default",
        user="ann",
        size_bytes="2",  # (what the data measures: create records it, not meta's 0)
        max_size_bytes="2",
        attribute_count="1",
        status="active",
        device="d" * 300,
    )
    assert raw.get(m) == expected
    store.save("s1", Changes(set={"b": b"22"}, updated_at=now + 1, user=None))  # 2 + 3 bytes
    got = store.get_meta("s1", now=now + 1)
    assert got is not None and (got.user, got.max_size_bytes, got.updated_at) == (None, 5, now + 1)
    assert got.device == "d" * 300


def plant_meta(raw: redis.Redis, m: str, now: float, **fields: str) -> None:
    """Overwrite the live record's meta ``m`` (its TTL kept) with one that says
    ``fields``: a record another program wrote (``create`` records what it measures)."""
    times = {"created_at": repr(now), "updated_at": repr(now), "last_activity_at": repr(now)}
    base = {**times, "expires_at": repr(now + 60), "sliding": "1", "status": "active"}
    raw.set(m, packed(**{**base, **fields}), keepttl=True)


def writes_to(raw: redis.Redis, key: str, action: Callable[[], Any]) -> list[str]:
    """The names of the commands that ``action``'s Lua code ran on ``key`` (seen with
    MONITOR; other clients' commands name other keys)."""
    seen: list[str] = []
    with raw.monitor() as monitor:
        action()
        raw.echo(f"{key} done")
        while (command := monitor.next_command())["command"] != f"ECHO {key} done":
            words = command["command"].split(" ")
            if command["client_type"] == "lua" and len(words) > 1 and words[1] == key:
                seen.append(words[0])
    return seen


def test_writes_that_keep_every_body_field_rewrite_the_header_alone(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """A save that keeps the user, email and device, a blind write and a load change
    only header fields: the body's bytes stay as they were (SETRANGE), the header
    says what changed. A save that changes the user rewrites the body."""
    now = time.time()
    made = meta(now, user="ann", email="a@b.c", device="d" * 200, size_bytes=2)
    made.max_size_bytes, made.attribute_count = 2, 1
    store.create("s1", {"a": b"1"}, made)
    m = f"{redis_prefix}{{s1}}:m"
    body = raw.get(m)[HEADER.size :]
    kept = Changes(set={"b": b"22"}, updated_at=now + 1)
    kept.user, kept.email = "ann", "a@b.c"
    assert writes_to(raw, m, lambda: store.save("s1", kept)) == ["GET", "SETRANGE"]
    assert raw.get(m)[HEADER.size :] == body
    write = BlindWrite(set={"c": b"333"}, now=now + 2, idle_seconds=60, max_size_bytes=1000)
    assert writes_to(raw, m, lambda: store.write("s1", write)) == ["GET", "SETRANGE", "PEXPIREAT"]
    assert raw.get(m)[HEADER.size :] == body
    loaded = store.load("s1", now=now + 3, idle_seconds=60)
    assert loaded is not None and raw.get(m)[HEADER.size :] == body
    assert loaded.data == {"a": b"1", "b": b"22", "c": b"333"}
    got = loaded.meta
    assert (got.updated_at, got.size_bytes, got.max_size_bytes, got.attribute_count) == (
        now + 2,
        9,
        9,
        3,
    )
    assert (got.user, got.email, got.device, got.created_at) == ("ann", "a@b.c", "d" * 200, now)
    assert store.get_meta("s1", now=now + 3) == got
    indexed = struct.unpack_from(">d", raw.get(m), 26)[0]  # (the header's fourth time)
    whole = packed(  # the header-only writes left what one full rewrite would have
        created_at=repr(now),
        updated_at=repr(got.updated_at),
        last_activity_at=repr(got.last_activity_at),
        expires_at=repr(got.expires_at),
        indexed_at=repr(indexed),
        sliding="1",
        user="ann",
        email="a@b.c",
        size_bytes=9,
        max_size_bytes=9,
        attribute_count=3,
        status="active",
        device="d" * 200,
    )
    assert raw.get(m) == whole
    moved = dataclasses.replace(kept, set={}, updated_at=now + 4, user="bob")
    assert writes_to(raw, m, lambda: store.save("s1", moved)) == ["GET", "SET"]
    assert raw.get(m)[HEADER.size :] != body
    again = store.load("s1", now=now + 5, idle_seconds=60)
    assert again is not None and (again.meta.user, again.meta.device) == ("bob", "d" * 200)
    assert again.meta.updated_at == now + 4


def test_a_count_the_header_cannot_hold_fails_the_write_whole(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """Sizes and the key count are 4-byte integers in the header: a save or a create
    that would set one past them is refused before it writes anything."""
    now = time.time()
    d, m = f"{redis_prefix}{{s1}}:d", f"{redis_prefix}{{s1}}:m"
    for full in ("size_bytes", "attribute_count"):  # a record at the limit, and one key more
        store.create("s1", {"a": b"1"}, meta(now))
        plant_meta(raw, m, now, **{full: str(2**32 - 1)})  # (create records what it measures)
        data, record = raw.hgetall(d), raw.get(m)
        with pytest.raises(SessionwareError, match="4 GiB"):
            store.save("s1", Changes(set={"b": b"2"}, updated_at=now + 1))
        assert (raw.hgetall(d), raw.get(m)) == (data, record)
    with pytest.raises(SessionwareError, match="4 GiB"):
        store.create("s2", {"a": b"1"}, meta(now, max_size_bytes=2**32))
    assert not raw.exists(f"{redis_prefix}{{s2}}:d", f"{redis_prefix}{{s2}}:m")


def test_a_previous_versions_record_keeps_its_data_timed_when_a_save_empties_it(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """A record whose data hash has no marker (as an earlier release may have left it):
    the save that measures it writes the marker, and must not leave the data hash
    without its expiry when its removals emptied it (Redis deletes an empty hash)."""
    now = time.time()
    store.create("s1", {"cart": b"\x01"}, meta(now, idle=100))
    d = f"{redis_prefix}{{s1}}:d"
    raw.hdel(d, b"\xff")
    assert store.save("s1", Changes(removed=["cart"], updated_at=now)) is True
    assert raw.hget(d, b"\xff") == b"1"
    assert 90_000 < raw.pttl(d) <= 100_000
    loaded = store.load("s1", now=now + 1, idle_seconds=100)
    assert loaded is not None and loaded.data == {}


def test_a_previous_versions_record_is_measured_once_then_kept_by_deltas(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """A record whose saves recorded each request's own view (the previous version:
    its data hash's marker is empty) says 2 keys and 12,014 bytes while it holds 4:
    the next save measures its data hash once and marks it; later saves move the
    size and count by the changed keys alone."""
    now = time.time()
    data = {"a": b"1", "b": b"22", "_flashes": b"f", "c": b"x" * 100}
    store.create("s1", data, meta(now, size_bytes=12_014, max_size_bytes=12_014))
    d = f"{redis_prefix}{{s1}}:d"
    raw.hset(d, b"\xff", b"")  # as a previous version left it
    internal = frozenset({"_flashes", "_permanent"})
    store.save("s1", Changes(set={"d": b"4"}, updated_at=now + 1, uncounted_keys=internal))
    got = store.get_meta("s1", now=now + 1)
    assert got is not None
    assert (got.size_bytes, got.attribute_count) == (2 + 3 + 9 + 101 + 2, 4)
    assert got.max_size_bytes == 12_014 and raw.hget(d, b"\xff") == b"1"
    raw.hset(d, "a", b"planted behind the store's back")  # deltas no longer look at it
    store.save("s1", Changes(removed=["d"], updated_at=now + 2, uncounted_keys=internal))
    got = store.get_meta("s1", now=now + 2)
    assert got is not None and (got.size_bytes, got.attribute_count) == (115, 3)


def test_a_blind_write_over_an_undercounting_record_keeps_its_size_whole(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """A record whose meta says 0 bytes (written so by another program) loses 4 bytes
    to a blind write: its size stops at 0 rather than going negative."""
    now = time.time()
    store.create("s1", {"a": b"12345"}, meta(now))
    plant_meta(raw, f"{redis_prefix}{{s1}}:m", now, size_bytes="0", attribute_count="0")
    write = BlindWrite(set={"a": b"1"}, now=now + 1, idle_seconds=60, max_size_bytes=1000)
    assert store.write("s1", write) == "written"
    loaded = store.load("s1", now=now + 2, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"1"}
    assert (loaded.meta.size_bytes, loaded.meta.attribute_count) == (0, 0)


@pytest.mark.parametrize("length", [0, 1, 249, 250, 251, 252, 253, 254, 255, 300, 70_000])
def test_values_of_every_length_survive_the_packed_record(store: RedisStore, length: int) -> None:
    now = time.time()
    device, email = "x" * length, "\u00e9:\n\x00" * 3  # device: exactly `length` bytes
    store.create("s1", {"a": b"1"}, meta(now, user="", email=email, device=device, app="x" * 251))
    got = store.get_meta("s1", now=now)
    assert got is not None and (got.device, got.email, got.user) == (device, email, "")
    assert got.app == "x" * 251 and got.created_at == now and got.expires_at == now + 60
    store.save("s1", Changes(set={}, updated_at=now + 1, user="u", email=email, device=device))
    loaded = store.load("s1", now=now + 2, idle_seconds=60)
    assert loaded is not None and loaded.meta.device == device
    assert (loaded.meta.updated_at, loaded.meta.last_activity_at) == (now + 1, now + 2)


SHAPES = {  # Meta fields of records that read every part of the packed form
    "plain": {},
    "deadline": {"deadline": 5000.0, "sliding": True},
    "fixed": {"sliding": False, "expires_at": None},
    "everything": {
        "app": "shop",
        "user": "ann",
        "email": "\u00e9@x.y",
        "size_bytes": 7,
        "max_size_bytes": 9,
        "attribute_count": 2,
        "device": "d" * 300,
    },
    "same values": {"user": "1", "email": "1", "device": "1", "app": "1"},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_load_reads_the_meta_as_the_scripts_do(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, shape: str
) -> None:
    """A load's meta is parsed in Python (``redis_record``), a peek's by the Lua
    code: two readers of one form agree, before and after the load rewrote the
    header."""
    now = time.time()
    fields = {"created_at": now - 10, "updated_at": now - 5, "last_activity_at": now - 1}
    fields |= {"expires_at": now + 60, **SHAPES[shape]}
    if fields.get("deadline"):
        fields["deadline"] = now + fields["deadline"]
    store.create("s1", {"a": b"1"}, Meta(**fields))
    before = store.get_meta("s1", now=now)
    loaded = store.load("s1", now=now, idle_seconds=60)
    after = store.get_meta("s1", now=now)
    assert loaded is not None and before is not None
    assert loaded.meta == after
    slid = now + 60 if before.sliding else before.expires_at
    assert after == dataclasses.replace(before, last_activity_at=now, expires_at=slid)


def test_a_header_that_disagrees_with_its_body_is_no_session(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A load goes by the header's flags; a body that says otherwise (revoked, or not
    sliding) makes the record corrupt, not live."""
    d, m = f"{redis_prefix}{{bad}}:d", f"{redis_prefix}{{bad}}:m"
    for fields in ({"status": "revoked", "ended_at": time.time()}, {"sliding": "0"}):
        sound = well_formed(raw, d, m, version=3, **fields)
        raw.set(m, sound[:1] + bytes([sound[1] | 3]) + sound[2:])  # flags: active, sliding
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            assert store.load("bad", now=time.time(), idle_seconds=60) is None
        assert len(corrupt_warnings(caplog)) == 1
        raw.delete(d, m)


def test_a_text_field_equal_to_a_time_keeps_its_text(store: RedisStore) -> None:
    """A text equal to a time's text is not packed as a reference to the time (a
    double, read back as '%.17g'): both readers give the text back as it was."""
    now = time.time()
    while repr(now) == f"{now:.17g}":  # a time whose two texts differ (most do)
        now = math.nextafter(now, math.inf)
    user = repr(now)
    store.create("u", {"a": b"1"}, meta(now, user=user, email=repr(now + 60)))
    peeked = store.get_meta("u", now=now)
    loaded = store.load("u", now=now, idle_seconds=60)
    assert peeked is not None and loaded is not None
    assert (peeked.user, peeked.email, loaded.meta.user) == (user, repr(now + 60), user)


OLD_FORMS = pytest.mark.parametrize(
    "version", [0, 1, 2], ids=["old layout", "version 1", "version 2"]
)


@OLD_FORMS
def test_a_record_in_an_old_form_is_rewritten_packed_on_its_next_write(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, version: int
) -> None:
    now = time.time()
    d, m = f"{redis_prefix}{{old}}:d", f"{redis_prefix}{{old}}:m"
    planted = well_formed(raw, d, m, version=version, user="ann", email="a@b.c", device="dev")
    raw.pexpireat(d, int((now + 60) * 1000))
    raw.pexpireat(m, int((now + 600) * 1000))
    before = store.get_meta("old", now=now)
    assert before is not None  # a read writes nothing:
    assert raw.type(m) == b"hash" if version == 0 else raw.get(m) == planted
    changes = Changes(set={"b": b"2"}, updated_at=now + 1, user="ann", email="a@b.c")
    assert store.save("old", changes) is True
    assert raw.type(m) == b"string" and raw.get(m)[:1] == b"\x03"
    assert raw.pexpiretime(m) == int((now + 600) * 1000)  # its expiry kept
    after = store.get_meta("old", now=now + 1)
    assert after is not None and after.updated_at == now + 1
    # and its size and count measured from its data, once (its meta had none)
    measured = {"size_bytes": 7 + 2, "max_size_bytes": 7 + 2, "attribute_count": 2}
    assert dataclasses.replace(after, updated_at=before.updated_at) == dataclasses.replace(
        before, **measured
    )
    loaded = store.load("old", now=now + 2, idle_seconds=60)
    assert loaded is not None and loaded.data == {"a": b"SECRET", "b": b"2"}


@OLD_FORMS
@pytest.mark.parametrize("write", ["load", "revoke", "set_expiry"])
def test_each_write_of_an_old_form_record_packs_it(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, write: str, version: int
) -> None:
    now = time.time()
    d, m = f"{redis_prefix}{{old}}:d", f"{redis_prefix}{{old}}:m"
    well_formed(raw, d, m, version=version, user="ann", email="a@b.c", device="dev")
    before = store.get_meta("old", now=now)
    assert before is not None and raw.type(m) == (b"hash" if version == 0 else b"string")
    if write == "load":
        assert store.load("old", now=now + 1, idle_seconds=60) is not None
    elif write == "revoke":
        assert store.revoke("old", actor="ops", now=now + 1) is True
    else:
        assert store.set_expiry("old", now + 99, now=now + 1) is True
    assert raw.type(m) == b"string" and raw.get(m)[:1] == b"\x03" and raw.pttl(m) > 0
    after = store.get_meta("old", now=now + 1)
    assert after is not None
    assert (after.user, after.email, after.device, after.created_at) == (
        "ann",
        "a@b.c",
        "dev",
        before.created_at,
    )


def test_a_corrupt_value_through_the_middleware_is_a_fresh_session(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(session_app(store), base_url=BASE_URL) as http:
        assert http.get("/write?key=n&value=SECRET").status_code == 200
        (data_key,) = (k for k in raw.scan_iter(match=redis_prefix + "{*}:d"))
        raw.hset(data_key, "n", b"\xc1garbage SECRET")  # not msgpack
        with caplog.at_level(logging.WARNING, logger="sessionware"):
            response = http.get("/read")
        assert response.status_code == 200 and response.json() == {"n": None}
    # (the app's weak-key warning comes once per process: in this test if it runs first)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warned if "ignoring it" in m]) == 1
    assert not [m for m in warned if "SECRET" in m]


# -- TTLs --------------------------------------------------------------------------------------


def test_every_key_has_a_ttl(store: RedisStore, raw: redis.Redis, redis_prefix: str) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, idle=60, user="alice"))
    store.save("s1", Changes(set={"b": b"2"}, updated_at=now, size_bytes=2, user="alice"))
    store.create("s2", {"a": b"1"}, meta(now, idle=30))
    store.revoke("s2", actor="ops", now=now)
    store.add_audit(AuditRecord(now, "ops", "revoke", "s2"))
    store.add_audit(AuditRecord(now, "user:bob", "revoke", "s1"))  # the end users' log
    week = store.retention_seconds * 1000
    found = ttls(raw, redis_prefix)
    assert set(found) == {
        "{s1}:d",
        "{s1}:m",
        "{s2}:m",
        "{index}:act",
        "{index}:end",
        "{index}:info",
        "{index}:user:alice",
        "{index}:audit",
        "{index}:audit:users",
    }
    # (+1: an expiry is rounded up to the next ms, so that a key never vanishes early,
    # and Redis reads its clock as whole ms: within the same ms, 1 ms more is left)
    assert 59_000 < found["{s1}:d"] <= 60_001
    assert 59_000 + week < found["{s1}:m"] <= 60_001 + week
    assert week - 1000 < found["{s2}:m"] <= week + 1
    for key in ("{index}:act", "{index}:end", "{index}:info", "{index}:user:alice"):
        assert found[key] == pytest.approx(found["{s1}:m"], abs=1000), key
    assert week - 1000 < found["{index}:audit"] <= week
    assert week - 1000 < found["{index}:audit:users"] <= week


def test_the_audit_log_reads_both_lists_at_once_and_past_corrupt_entries(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, sends: list[int]
) -> None:
    """One round trip reads the head of both lists; a corrupt entry (a hand-made
    LPUSH) is skipped, and the list read on so that the page still fills."""
    for i in range(4):
        store.add_audit(AuditRecord(float(i), "ops", "reveal", f"s{i}"))
        store.add_audit(AuditRecord(i + 0.5, "user:u", "revoke", f"u{i}"))
    sends.clear()
    assert [e.at for e in store.audit(limit=4)] == [3.5, 3.0, 2.5, 2.0]
    assert len(sends) == 1  # both heads in one round trip
    raw.lpush(f"{redis_prefix}{{index}}:audit", b"not json", b"{}")  # newest: corrupt
    sends.clear()
    assert [e.at for e in store.audit(limit=4)] == [3.5, 3.0, 2.5, 2.0]
    assert len(sends) == 2  # both heads, then more of the operators' list


def test_expiry_is_redis_own_to_the_millisecond(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, idle=60))
    loaded = store.load("s1", now=now + 1.5, idle_seconds=60)
    assert loaded is not None and loaded.meta.expires_at == now + 61.5
    expires_ms = math.ceil((now + 61.5) * 1000)
    assert raw.pexpiretime(f"{redis_prefix}{{s1}}:d") == expires_ms
    retention_ms = math.ceil((now + 61.5 + store.retention_seconds) * 1000)
    assert raw.pexpiretime(f"{redis_prefix}{{s1}}:m") == retention_ms


def test_a_durable_session_is_the_only_key_without_ttl(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, user="alice"))
    assert store.set_expiry("s1", None, now=now)
    store.load("s1", now=now, idle_seconds=60)
    found = ttls(raw, redis_prefix)
    assert found["{s1}:d"] == found["{s1}:m"] == -1
    assert found["{index}:end"] == -1  # the indexes keep a durable session listed
    store.revoke("s1", actor="ops", now=now)
    found = ttls(raw, redis_prefix)
    assert all(ttl > 0 for ttl in found.values()), found


# -- indexes -----------------------------------------------------------------------------------


def index_members(raw: redis.Redis, prefix: str) -> dict[str, set[str]]:
    result = {}
    for key in ttls(raw, prefix):
        if key.startswith("{index}:") and key != "{index}:audit":
            full = prefix + key
            members = raw.hkeys(full) if key.endswith(":info") else raw.zrange(full, 0, -1)
            result[key] = {redis_flows._id(member) for member in members}
    return result


def test_ended_sessions_leave_every_index(raw: redis.Redis, redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, retention_seconds=0.2)
    now = time.time()
    for i in range(5):
        store.create(f"x{i}", {"a": b"1"}, meta(now, idle=0.1, user=f"user{i}"))
    store.create("r", {"a": b"1"}, meta(now, user="carol"))
    store.revoke("r", actor="ops", now=now)
    time.sleep(0.35)
    later = time.time()
    store.create("live", {"a": b"1"}, meta(later, user="dave"))  # a write sweeps
    assert index_members(raw, redis_prefix) == {
        "{index}:act": {"live"},
        "{index}:end": {"live"},
        "{index}:info": {"live"},
        "{index}:user:dave": {"live"},
    }


def test_the_indexes_keep_a_public_id_in_17_bytes(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    session_id = "0123456789abcdef" * 2
    now = time.time()
    store.create(session_id, {"a": b"1"}, meta(now, user="ann"))
    member = b"\xff" + bytes.fromhex(session_id)
    index = f"{redis_prefix}{{index}}:"
    assert raw.zrange(index + "act", 0, -1) == raw.zrange(index + "end", 0, -1) == [member]
    assert raw.hkeys(index + "info") == raw.zrange(index + "user:ann", 0, -1) == [member]
    assert store.user_session_ids("ann", now=now) == [session_id]
    assert [i for i, _ in store.query(Query(), now=now)[0]] == [session_id]
    store.delete(session_id)
    assert index_members(raw, redis_prefix) == {}


@pytest.mark.parametrize("op", ["load", "save", "revoke", "set_expiry", "delete", "regenerate"])
def test_an_index_entry_of_the_hex_form_is_moved_when_met(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, op: str
) -> None:
    """Indexes written before the 17-byte members keep working."""
    session_id, new_id = "ab" * 16, "cd" * 16
    now = time.time()
    store.create(session_id, {"a": b"1"}, meta(now, idle=600, user="ann"))
    index = f"{redis_prefix}{{index}}:"
    member = b"\xff" + bytes.fromhex(session_id)
    for key in ("act", "end", "user:ann"):  # back to the hex form, as older versions wrote
        score = raw.zscore(index + key, member)
        raw.zrem(index + key, member)
        raw.zadd(index + key, {session_id: score})
    raw.hset(index + "info", session_id, raw.hget(index + "info", member))
    raw.hdel(index + "info", member)
    assert store.user_session_ids("ann", now=now) == [session_id]
    later = now + 100  # past the activity granularity: a load refreshes the indexes
    if op == "load":
        assert store.load(session_id, now=later, idle_seconds=600) is not None
    elif op == "save":
        assert store.save(session_id, Changes(set={}, updated_at=later, user="bo")) is True
    elif op == "revoke":
        assert store.revoke(session_id, actor="ops", now=later) is True
    elif op == "set_expiry":
        assert store.set_expiry(session_id, later + 5, now=later) is True
    elif op == "delete":
        store.delete(session_id)
    else:
        store.rotate(session_id, new_id, {"a": b"1"}, meta(later, user="ann"), require_live=True)
    for key in raw.scan_iter(match=index + "*"):
        if key.endswith((b":act", b":end", b":info")) or b":user:" in key:
            members = raw.hkeys(key) if key.endswith(b":info") else raw.zrange(key, 0, -1)
            assert session_id.encode() not in members, key
    if op in ("delete", "regenerate"):
        assert member not in raw.zrange(index + "act", 0, -1)
        if op == "regenerate":
            assert store.user_session_ids("ann", now=later) == [new_id]
        return
    assert raw.zrange(index + "end", 0, -1) == [member]
    assert raw.hkeys(index + "info") == [member]
    user = "bo" if op == "save" else "ann"
    assert raw.zrange(index + "user:" + user, 0, -1) == [member]
    live = [] if op == "revoke" else [session_id]
    assert store.user_session_ids(user, now=later) == live
    if op == "load":
        assert raw.zscore(index + "act", member) == later


def test_a_listing_counts_no_session_whose_record_redis_removed(
    raw: redis.Redis, redis_prefix: str
) -> None:
    # A load pads the activity index's end by the granularity (1% of the idle
    # timeout: 3 s here), so the entry outlives the tombstone (retention 1 s) by
    # up to that much: the listing must neither count it nor leave a page short.
    attempts = itertools.count()

    def scenario() -> None:
        prefix = f"{redis_prefix}{next(attempts)}:"
        store = RedisStore.from_url(REDIS_URL, prefix=prefix, retention_seconds=1.0)
        now = time.time()
        store.create("gone", {"a": b"1"}, Meta(now - 300, now - 300, now - 300, now + 300))
        store.create("kept", {"a": b"1"}, meta(now - 400, idle=3600))  # less recently used
        loaded = store.load("gone", now=now - 299.5, idle_seconds=300)  # ends at now + 0.5
        if loaded is None:
            excuse(now, 0.5, "from the creation to the load")
        assert loaded is not None
        time.sleep(1.7)  # past the end and the retention
        assert raw.exists(f"{prefix}{{gone}}:m") == 0  # Redis removed the tombstone
        rows, total = store.query(Query(limit=1), now=time.time())
        assert ([row[0] for row in rows], total) == (["kept"], 1)

    paced(scenario)


def test_a_sorted_listing_reads_every_record_form_and_leaves_corrupt_ones_out(
    store: RedisStore, raw: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A listing other than the default reads each record with a plain GET, and peeks
    those a GET cannot read (a meta hash, an earlier packed version) through the Lua
    code: every form lists alike, a revoked one as revoked, a corrupt one not at all."""
    now = time.time()
    for i, version in enumerate([3, 2, 1, 0, 3]):
        session_id = f"s{i}"
        store.create(session_id, {"a": b"1"}, meta(now - 100 + i, user=f"u{i}"))
        d, m = f"{redis_prefix}{{{session_id}}}:d", f"{redis_prefix}{{{session_id}}}:m"
        raw.delete(m)
        fields = {"created_at": now - 100 + i, "user": f"u{i}", "app": "shop"}
        well_formed(raw, d, m, version=version, **fields)
    store.revoke("s4", actor="ops", now=now)  # (rewritten packed, as a tombstone)
    store.create("bad", {"a": b"1"}, meta(now, user="u9"))
    raw.set(f"{redis_prefix}{{bad}}:m", b"SECRET")  # a string that is no record of ours
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        rows, total = store.query(Query(sort="created", descending=False), now=now)
    assert [(i, m.user, m.app, m.status) for i, m in rows] == [
        ("s0", "u0", "shop", "active"),
        ("s1", "u1", "shop", "active"),
        ("s2", "u2", "shop", "active"),
        ("s3", "u3", "shop", "active"),
        ("s4", "u4", "shop", "revoked"),
    ]
    assert total == 5
    warned = corrupt_warnings(caplog)
    assert len(warned) == 1 and "bad" in warned[0].getMessage()
    assert "SECRET" not in caplog.text
    searched, _ = store.query(Query(sort="user", search="u3"), now=now)
    assert [i for i, _ in searched] == ["s3"]


def test_an_ended_session_keeps_its_index_entry_through_logout_and_set_expiry(
    raw: redis.Redis, redis_prefix: str
) -> None:
    # The index's end is padded past the record's (see above): the index half of
    # a logout or a set_expiry must follow the record's verdict, not its own.
    attempts = itertools.count()

    def scenario() -> None:
        prefix = f"{redis_prefix}{next(attempts)}:"
        store = RedisStore.from_url(REDIS_URL, prefix=prefix)
        now = time.time()
        for session_id, user in (("out", "alice"), ("fixed", "bob")):
            made = Meta(now - 300, now - 300, now - 300, now + 300, user=user)
            store.create(session_id, {"a": b"1"}, made)
            loaded = store.load(session_id, now=now - 299.5, idle_seconds=300)
            if loaded is None:
                excuse(now, 0.5, "from the first creation to this load")
            assert loaded is not None
        time.sleep(0.7)  # both ended at now + 0.5
        store.delete("out")  # a logout racing the expiry: the tombstone stays, and listed
        rows, _ = store.query(Query(status="expired"), now=time.time())
        assert sorted(row[0] for row in rows) == ["fixed", "out"]
        assert store.set_expiry("fixed", time.time() + 3600, now=time.time()) is False
        # it may stay in bob's live list for the padding (3 s), never for the new hour
        assert store.user_session_ids("bob", now=now + 4) == []
        assert raw.zscore(f"{prefix}{{index}}:user:bob", "fixed") <= now + 3.5

    paced(scenario)


def test_a_user_index_keeps_no_persist_once_its_durable_session_leaves(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    now = time.time()
    store.create("a", {"k": b"1"}, meta(now, idle=300, user="alice"))
    store.create("b", {"k": b"1"}, meta(now, idle=300, user="alice"))
    assert store.set_expiry("a", None, now=now)  # durable: alice's index is persisted
    alice = f"{redis_prefix}{{index}}:user:alice"
    assert raw.pttl(alice) == -1
    assert store.save("a", Changes(set={"k": b"2"}, updated_at=now, user="carol"))
    assert raw.zrange(alice, 0, -1) == [b"b"]
    assert 0 < raw.pttl(alice) <= (300 + 7 * 24 * 3600) * 1000 + 1  # b's end + retention


def test_logout_and_regenerate_leave_the_indexes_at_once(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, user="alice"))
    store.rotate("s1", "s2", {"a": b"1"}, meta(now, user="alice"), require_live=True)
    assert index_members(raw, redis_prefix)["{index}:user:alice"] == {"s2"}
    store.delete("s2")
    assert index_members(raw, redis_prefix) == {}
    left = ttls(raw, redis_prefix)  # only the marks of why each left (base.MarkingStore)
    assert set(left) == {"{s1}:x", "{s2}:x"}
    assert all(0 < ms <= MARK_SECONDS * 1000 for ms in left.values()), left


def test_a_load_refreshes_the_activity_index_once_per_granularity(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """The record slides on every load; the indexes at most once per 1% of the idle
    timeout, with an END that the record's expiry cannot outrun meanwhile."""
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, idle=100, user="alice"))
    act, end = f"{redis_prefix}{{index}}:act", f"{redis_prefix}{{index}}:end"
    user = f"{redis_prefix}{{index}}:user:alice"
    for at, indexed in [(0.1, 0.1), (0.5, 0.1), (1.0, 0.1), (1.2, 1.2), (1.3, 1.2)]:
        loaded = store.load("s1", now=now + at, idle_seconds=100)
        assert loaded is not None and loaded.meta.last_activity_at == now + at
        assert loaded.meta.expires_at == now + at + 100
        assert raw.pexpiretime(f"{redis_prefix}{{s1}}:d") == math.ceil((now + at + 100) * 1000)
        found = store.get_meta("s1", now=now + at)
        assert found is not None and found.last_activity_at == now + at
        assert raw.zscore(act, "s1") == now + indexed, at
        assert raw.zscore(end, "s1") == raw.zscore(user, "s1") == now + indexed + 101, at
    assert store.user_session_ids("alice", now=now + 101.25) == ["s1"]


def test_the_activity_index_lags_at_most_a_minute_with_a_long_idle_timeout(
    store: RedisStore, raw: redis.Redis, redis_prefix: str
) -> None:
    """1% of the 30-day default is 7.2 hours: a listing by last activity put a session
    used a minute ago below one used an hour ago (helper-107). At most 60 s now."""
    idle = 30 * 86400.0
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, idle=idle))
    act = f"{redis_prefix}{{index}}:act"
    lags = []
    for at in (30.0, 59.0, 61.0, 100.0, 122.0, 200.0, 259.0):
        assert store.load("s1", now=now + at, idle_seconds=idle) is not None
        lags.append(now + at - raw.zscore(act, "s1"))  # type: ignore[operator]
    assert max(lags) <= 60 and min(lags) == 0, lags  # (refreshed, and never a minute behind)


def test_a_save_touches_the_indexes_only_for_a_new_user(store: RedisStore) -> None:
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now, user="alice"))
    for user in ("alice", "bob", "bob", None, "carol"):
        assert store.save("s1", Changes(set={"b": b"2"}, updated_at=now, user=user))
        for someone in ("alice", "bob", "carol"):
            expected = ["s1"] if someone == user else []
            assert store.user_session_ids(someone, now=now) == expected, (user, someone)
        found = store.get_meta("s1", now=now)
        assert found is not None and found.user == user


@pytest.mark.parametrize(("lean", "command"), [(True, "fcall"), (False, "evalsha")])
def test_one_script_call_per_operation_on_a_single_server(lean: bool, command: str) -> None:
    """Record and indexes in one FCALL (EVALSHA through redis-py), sent without a
    pipeline (the round-trip tests count sends; this counts what the server ran)."""
    with throwaway_server() as port:
        store = RedisStore.from_url(f"redis://{HOST}:{port}", lean=lean)
        admin = client(port)
        now = time.time()
        store.create("s1", {"a": b"1"}, meta(now))
        for name, run in [
            ("load", lambda: store.load("s1", now=now, idle_seconds=60)),
            ("save", lambda: store.save("s1", Changes(set={"b": b"2"}, updated_at=now))),
            ("create", lambda: store.create("s2", {"a": b"1"}, meta(now))),
            ("delete", lambda: store.delete("s2")),
        ]:
            admin.config_resetstat()
            run()
            stats = admin.info("commandstats")
            assert stats[f"cmdstat_{command}"]["calls"] == 1, name
        store.close()


def test_the_default_listing_pages_through_the_activity_index(store: RedisStore) -> None:
    now = time.time()
    for i in range(30):
        store.create(f"s{i:02}", {}, meta(now - 100 + i))
    rows, total = store.query(Query(offset=10, limit=5), now=now)
    assert total == 30 and [row[0] for row in rows] == ["s19", "s18", "s17", "s16", "s15"]


# -- cluster layout ------------------------------------------------------------------------------


@pytest.mark.cluster
def test_one_session_lives_in_one_slot(request: pytest.FixtureRequest) -> None:
    store = cluster_store(request)
    ports = shared_cluster(request.config)
    now = time.time()
    for i in range(40):
        store.create(f"s{i}", {"a": b"1"}, meta(now, user="alice"))
    node = client(ports[0])
    slot = lambda key: node.execute_command("CLUSTER", "KEYSLOT", key)  # noqa: E731
    holders = set()
    for i in range(40):
        assert slot(f"{store.prefix}{{s{i}}}:d") == slot(f"{store.prefix}{{s{i}}}:m")
        holders.add(slot(f"{store.prefix}{{s{i}}}:d"))
    assert len(holders) > 1
    index = {slot(f"{store.prefix}{{index}}:{name}") for name in ("act", "end", "info")}
    assert len(index | {slot(f"{store.prefix}{{index}}:user:alice")}) == 1
    assert len(store.user_session_ids("alice", now=now)) == 40


# -- configuration ----------------------------------------------------------------------------


def test_from_sessionware_import_redisstore() -> None:
    assert sessionware.RedisStore is RedisStore


@pytest.mark.parametrize("absent", ["redis", "hiredis"])
def test_without_the_redis_extra_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, absent: str
) -> None:
    # plain redis-py without hiredis is the extra missing too: redis[hiredis] brings both
    monkeypatch.setitem(sys.modules, absent, None)  # as if not installed
    for module in ("redis", "redis_cache", "redis_wire", "redis_wire_sync", "redis_lean"):
        monkeypatch.delitem(sys.modules, f"sessionware.stores.{module}")  # imported afresh
    with pytest.raises(MissingExtra, match=r"sessionware\[redis\]") as caught:
        importlib.import_module("sessionware.stores.redis")
    assert isinstance(caught.value, ImportError)
    monkeypatch.delitem(sys.modules, "sessionware.stores.redis", raising=False)
    with pytest.raises(MissingExtra, match="RedisStore"):
        sessionware.__getattr__("RedisStore")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RedisStore(object()), "needs a redis.Redis"),  # type: ignore[arg-type]
        (lambda: RedisStore(redis.Redis(decode_responses=True)), "decode_responses"),
        (lambda: RedisStore(redis.Redis(), prefix="a{b}:"), "braces"),
        (lambda: RedisStore(redis.Redis(), retention_seconds=0), "retention_seconds"),
        (lambda: RedisStore(redis.Redis(), audit_limit=0), "audit_limit"),
        (
            lambda: RedisStore(redis.asyncio.Redis(), async_client=redis.asyncio.Redis()),
            "two asyncio clients",
        ),
    ],
)
def test_invalid_configuration_is_rejected(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()


def test_a_sync_call_on_an_async_only_store_says_what_to_do() -> None:
    store = RedisStore(redis.asyncio.Redis.from_url(REDIS_URL))
    with pytest.raises(ConfigurationError, match="from_url"):
        store.load("s1", now=time.time(), idle_seconds=60)


@pytest.mark.anyio
async def test_an_async_call_on_a_sync_only_store_says_what_to_do() -> None:
    store = RedisStore(redis.Redis.from_url(REDIS_URL))
    with pytest.raises(ConfigurationError, match="async_client"):
        await store.aload("s1", now=time.time(), idle_seconds=60)


@pytest.mark.anyio
async def test_one_client_of_each_kind_serves_both(redis_prefix: str) -> None:
    sync, async_ = redis.Redis.from_url(REDIS_URL), redis.asyncio.Redis.from_url(REDIS_URL)
    store = RedisStore(sync, async_client=async_, prefix=redis_prefix)
    store.create("s1", {"a": b"1"}, meta(time.time()))
    assert await store.aload("s1", now=time.time(), idle_seconds=60) is not None
    await store.aclose()


def test_a_redis_error_reply_is_store_unavailable() -> None:
    with throwaway_server() as port:  # a user who may not run scripts: a NOPERM reply
        client(port).acl_setuser(
            "noscripts",
            enabled=True,
            passwords=["+pw"],
            keys=["*"],
            commands=["+@all", "-evalsha", "-eval", "-script", "-fcall", "-function"],
        )
        store = RedisStore.from_url(f"redis://noscripts:pw@{HOST}:{port}")
        with pytest.raises(StoreUnavailable, match="NoPermissionError"):
            store.create("s1", {"a": b"1"}, meta(time.time()))
        store.close()


def test_a_store_from_url_serves_every_event_loop(store: RedisStore) -> None:
    """An asyncio client is bound to its event loop: from_url's store makes one per loop."""
    now = time.time()
    store.create("s1", {"a": b"1"}, meta(now))

    async def load() -> bool:
        loaded = await store.aload("s1", now=time.time(), idle_seconds=60)
        await store.aclose()
        return loaded is not None

    assert [asyncio.run(load()) for _ in range(3)] == [True, True, True]


def test_a_blind_write_moves_the_session_up_the_activity_listing(store: RedisStore) -> None:
    now = time.time()
    older, newer = public_id(new_token()), public_id(new_token())
    store.create(older, {"a": b"1"}, meta(now - 20))
    store.create(newer, {"a": b"1"}, meta(now - 10))
    rows, _ = store.query(Query(), now=now)
    assert [session_id for session_id, _ in rows] == [newer, older]
    assert store.write(older, BlindWrite({"b": b"2"}, now, 60.0, 1000)) == "written"
    rows, _ = store.query(Query(), now=now)
    assert [session_id for session_id, _ in rows] == [older, newer]  # the index heard of it


def test_a_meta_value_equal_to_the_default_app_reads_back(store: RedisStore) -> None:
    """The default app is written absent, so a later field holding the same text must
    not be written as a reference to it (that record would not read)."""
    now = time.time()
    made = meta(now, user="default", email="default", revoked_by=None)
    store.create("d1", {"a": b"1"}, made)
    loaded = store.load("d1", now=now, idle_seconds=60)
    assert loaded is not None
    assert (loaded.meta.app, loaded.meta.user, loaded.meta.email) == ("default",) * 3


# -- the load's two commands: the function, then an HGETALL of the data ------------------
# Another client may act between them: these tests make it do so, on the real server, by
# running the load's commands one by one and changing the session in between.


def run_calls(raw: redis.Redis, calls: list[Call]) -> list[Any]:
    """Each call on the server as redis-py sends it (an HGETALL comes back as a dict)."""
    replies: list[Any] = []
    for call in calls:
        try:
            try:
                replies.append(raw.execute_command(*call.args))
            except redis.exceptions.NoScriptError:
                assert call.script is not None
                raw.script_load(call.script.source)
                replies.append(raw.execute_command(*call.args))
        except redis.ResponseError as error:
            replies.append(error)
    return replies


def interleaved(store: RedisStore, raw: redis.Redis, session_id: str, between: Any) -> Any:
    """Load ``session_id`` with ``between()`` run after the script, before the HGETALL."""
    flow = store._flows.load(session_id, time.time(), 60)
    calls = next(flow)
    assert isinstance(calls, list) and calls[-1].args[0] == "HGETALL"
    first = run_calls(raw, calls[:-1])
    between()
    last = run_calls(raw, calls[-1:])
    with pytest.raises(StopIteration) as stopped:
        flow.send(first + last)
    return stopped.value.value


def created_s1(store: RedisStore) -> str:
    now = time.time()
    meta = Meta(now, now, now, now + 60, size_bytes=2, max_size_bytes=2)
    store.create("s1", {"a": b"1"}, meta)
    return "s1"


def test_the_data_is_read_by_a_second_command_of_the_same_round_trip(
    store: RedisStore, raw: redis.Redis
) -> None:
    session_id = created_s1(store)
    loaded = interleaved(store, raw, session_id, lambda: None)
    assert isinstance(loaded, StoredSession) and loaded.data == {"a": b"1"}


def test_a_session_ended_between_the_commands_loads_as_none(
    store: RedisStore, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = created_s1(store)
    with caplog.at_level(logging.WARNING, logger="sessionware"):
        loaded = interleaved(store, raw, session_id, lambda: store.delete(session_id))
    assert loaded is None and not caplog.records  # ended, not corrupt
    assert store.load(session_id, now=time.time(), idle_seconds=60) is None


def test_a_save_between_the_commands_is_read(store: RedisStore, raw: redis.Redis) -> None:
    session_id = created_s1(store)
    change = Changes(set={"a": b"2", "b": b"3"}, removed=[], updated_at=time.time(), size_bytes=4)
    loaded = interleaved(store, raw, session_id, lambda: store.save(session_id, change))
    assert loaded.data == {"a": b"2", "b": b"3"}


def test_a_failed_data_read_is_an_outage_not_a_logout(store: RedisStore, raw: redis.Redis) -> None:
    """The HGETALL answered an error other than WRONGTYPE (the server loading its data,
    say): the load raises, for the driver to answer 503, rather than finding no session."""
    session_id = created_s1(store)
    flow = store._flows.load(session_id, time.time(), 60)
    calls = next(flow)
    first = run_calls(raw, calls[:-1])
    loading = redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory")
    with pytest.raises(redis.exceptions.BusyLoadingError):
        flow.send([*first, loading])


def test_a_data_key_of_the_wrong_type_is_corrupt(
    store: RedisStore, raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = created_s1(store)
    data_key = store._flows._keys(session_id)[0]

    def clobber() -> None:
        raw.delete(data_key)
        raw.set(data_key, "not a hash")

    with caplog.at_level(logging.WARNING, logger="sessionware"):
        loaded = interleaved(store, raw, session_id, clobber)
    assert loaded is None
    assert any("corrupt" in record.getMessage() for record in caplog.records)


def test_a_large_value_loads_whole(store: RedisStore) -> None:
    now = time.time()
    blob = b"\xd9" + bytes(range(256)) * 240  # 61 KB, every byte value
    meta = Meta(now, now, now, now + 60, size_bytes=len(blob) + 4, max_size_bytes=len(blob) + 4)
    store.create("big", {"blob": blob}, meta)
    for _ in range(2):  # the first load slides the record; the second reads the slid one
        loaded = store.load("big", now=time.time(), idle_seconds=60)
        assert loaded is not None and loaded.data == {"blob": blob}


def _open_sockets() -> int:
    """This process's open sockets (Linux: /proc/self/fd)."""
    import os

    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # (listdir's own, closed by now)
            found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return found


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "redis-py"])
def test_a_loop_per_job_leaves_no_connection_open(redis_prefix: str, lean: bool) -> None:
    """A worker calling asyncio.run per job (or async_to_sync, or a test's own loop)
    gets a client per loop: each is closed as its loop shuts down, not kept with its
    socket; one closed without that step is dropped when the next loop starts."""
    import gc

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, lean=lean)
    sid = public_id(new_token())
    now = time.time()
    store.create(sid, {"n": codec.encode("n", 1)}, meta(now))
    try:
        before = _open_sockets()
        for _ in range(30):
            loaded = asyncio.run(store.aload(sid, now=time.time(), idle_seconds=60))
            assert loaded is not None and loaded.data == {"n": codec.encode("n", 1)}
        gc.collect()
        assert _open_sockets() <= before
        for _ in range(10):  # loops closed without shutting down their async generators
            loop = asyncio.new_event_loop()
            loop.run_until_complete(store.aload(sid, now=time.time(), idle_seconds=60))
            loop.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # (sockets closed as collected)
            gc.collect()
        assert _open_sockets() <= before + 1  # the last loop's, until another loop starts
    finally:
        store.close()


def test_a_plain_evals_call_is_routed_by_its_key_not_its_script() -> None:
    """A cluster sends a call to the node of ``Call.key``: an EVAL's is its first key
    (the registry's compare-and-set), not the script's text, which would cost a MOVED."""
    call = Call(None, ("EVAL", "return 1", 1, "p{registry}:session-type", "cart"))
    assert call.key == "p{registry}:session-type"
    assert Call(None, ("HGET", "p{registry}:session-type", "cart")).key == call.key
