"""Each store's own ``from_url`` takes the URL's ``?prefix=`` as the command and Flask do."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from sessionware import ConfigurationError, PostgresStore, RedisStore, SQLiteStore, StoreUnavailable
from sessionware.stores.base import Meta

from ..conftest import POSTGRES_URL, REDIS_URL


def _joined(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def _meta() -> Meta:
    now = time.time()
    return Meta(now, now, now, now + 60)


@pytest.mark.redis
def test_a_redis_url_with_a_prefix_puts_every_key_under_it(redis_prefix: str) -> None:
    store = RedisStore.from_url(_joined(REDIS_URL, "prefix=" + quote(redis_prefix)))
    try:
        assert store.prefix == redis_prefix
        store.create("s1", {"a": b"1"}, _meta())
        raw = redis.Redis.from_url(REDIS_URL)
        assert raw.exists(f"{redis_prefix}{{s1}}:d") == 1  # not under "sessionware:"
        assert raw.exists("sessionware:{s1}:d") == 0
        raw.close()
    finally:
        store.close()
    same = RedisStore.from_url(
        _joined(REDIS_URL, "prefix=" + quote(redis_prefix)), prefix=redis_prefix
    )
    assert same.prefix == redis_prefix
    same.close()
    with pytest.raises(ConfigurationError, match="two key prefixes"):
        RedisStore.from_url(_joined(REDIS_URL, "prefix=a:"), prefix="b:")
    default = RedisStore.from_url(REDIS_URL)
    assert default.prefix == "sessionware:"
    default.close()


def test_a_sqlite_url_with_a_prefix_names_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore.from_url(f"sqlite:///{path}?prefix=app_")
    try:
        assert (store.prefix, Path(store.path)) == ("app_", path)
        store.create("s1", {"a": b"1"}, _meta())
        assert store.load("s1", now=time.time(), idle_seconds=60) is not None
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="two key prefixes"):
        SQLiteStore.from_url(f"sqlite:///{path}?prefix=a_", prefix="b_")


def test_a_postgresql_url_with_a_prefix_is_not_handed_to_libpq(postgres_schema: str) -> None:
    prefix = f"{postgres_schema}.app_"
    store = PostgresStore.from_url(_joined(POSTGRES_URL, "prefix=" + prefix))
    try:
        assert store.prefix == prefix
        store.create("s1", {"a": b"1"}, _meta())  # libpq would refuse "prefix"
        assert store.load("s1", now=time.time(), idle_seconds=60) is not None
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis://localhost:99999/0", "Port out of range"),
        ("redis://[::1", "Invalid IPv6 URL"),
        ("rediss://:pw@127.0.0.1:6379/0?ssl_cert_reqs=bogus", "Certificate Requirements"),
        ("redis://127.0.0.1:6379/0?db=abc", "Invalid value for 'db'"),
        ("redis://127.0.0.1:6379/0?prefx=app:", "did you mean ?prefix="),
    ],
)
def test_a_malformed_redis_url_is_a_configuration_error(url: str, said: str) -> None:
    """redis-py's ValueError and KeyError (the last only at the first command) were
    not sessionware's: the middleware and the command showed a traceback."""
    with pytest.raises(ConfigurationError, match="cannot be used") as raised:
        RedisStore.from_url(url)
    assert said in str(raised.value) and ":pw@" not in str(raised.value)


def test_a_store_never_repeats_a_password_holding_a_slash_that_its_client_misread() -> None:
    """libpq and redis-py end a URL's user part at the first "/": a base64 password's
    pieces became host, port and database, and messages and repr showed them."""
    from sessionware.stores.base import Query

    store = PostgresStore.from_url("postgresql://bob:hunt/er2Zq9@127.0.0.1:1/test")
    try:
        with pytest.raises(StoreUnavailable) as unreachable:
            store.query(Query(limit=1), now=time.time())
        told = f"{store!r} {unreachable.value}"
    finally:
        store.close()
    for open_url in (RedisStore.from_url, RedisStore.from_sentinel_url):
        scheme = "redis+sentinel" if open_url == RedisStore.from_sentinel_url else "redis"
        with pytest.raises(ConfigurationError) as refused:
            open_url(f"{scheme}://:hunt/er2Zq9@127.0.0.1:1/mymaster")
        told += f" {refused.value}"
    assert "***" in told and "hunt" not in told and "er2Zq9" not in told


@pytest.mark.parametrize("database", ["abc", "1x", "-1", "0/1"])
def test_a_redis_database_that_is_not_a_number_is_refused(database: str) -> None:
    """redis-py reads redis://host/abc as database 0: another app's sessions, listed."""
    with pytest.raises(ConfigurationError, match=f"names database '{database}'"):
        RedisStore.from_url(f"redis://127.0.0.1:6379/{database}?prefix=app:")
    RedisStore.from_url("redis://127.0.0.1:6379/15").close()  # a number, or none, is kept
    RedisStore.from_url("redis://127.0.0.1:6379/").close()


@pytest.mark.redis
@pytest.mark.parametrize("lean", [True, False])
def test_a_database_the_server_lacks_says_so_not_to_check_the_server(lean: bool) -> None:
    """Redis refuses SELECT 16 (16 databases by default): the message names the URL's
    database, where it used to say to check that the server runs."""
    store = RedisStore.from_url("redis://127.0.0.1:6379/16", lean=lean)
    try:
        with pytest.raises(StoreUnavailable) as refused:
            store.load("0" * 32, now=time.time(), idle_seconds=60)
        assert "database number" in str(refused.value)
        assert "server is running" not in str(refused.value)
    finally:
        store.close()


@pytest.mark.redis
def test_a_tls_url_to_a_plain_port_says_what_it_waited_for() -> None:
    """An asyncio TLS handshake with a server that speaks no TLS ends in a timeout with
    no message of its own: "cannot connect to Redis: ." said nothing."""
    import asyncio

    async def scenario() -> str:
        store = RedisStore.from_url("rediss://127.0.0.1:6379/0", socket_connect_timeout=0.5)
        try:
            with pytest.raises(StoreUnavailable) as refused:
                await store.aload("0" * 32, now=time.time(), idle_seconds=60)
            return str(refused.value)
        finally:
            await store.aclose()

    said = asyncio.run(scenario())
    assert "cannot connect to Redis: ." not in said
    assert "no answer within 0.5 s" in said or "SSL" in said or "TLS" in said, said


@pytest.mark.redis
def test_a_password_for_a_server_without_one_says_to_remove_it() -> None:
    """The test server has no password: "put the server's password in the URL" was
    the opposite of the fix. (The lean connection, the default, refuses such a URL;
    redis-py's own client lets it connect.)"""
    store = RedisStore.from_url("redis://:notneeded@127.0.0.1:6379/0")
    try:
        with pytest.raises(StoreUnavailable) as refused:
            store.load("0" * 32, now=time.time(), idle_seconds=60)
        said = str(refused.value)
        assert "The server has no password: remove it" in said and "notneeded" not in said
    finally:
        store.close()


@pytest.mark.redis
def test_a_sync_tls_url_to_a_plain_port_asks_whether_the_port_is_tls() -> None:
    store = RedisStore.from_url("rediss://127.0.0.1:6379/0", socket_connect_timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable) as refused:
            store.load("0" * 32, now=time.time(), idle_seconds=60)
        assert "is the server's port TLS?" in str(refused.value), str(refused.value)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://u:pw@127.0.0.1:abc/db", "has a port that is no number"),
        ("postgresql://u@127.0.0.1:99999/db", "has a port that is no number"),
        ("postgresql://u@h1:5432,h2:0/db", "has a port that is no number"),
        ("postgresql://u@127.0.0.1/db?sslmode=bogus", "has sslmode='bogus'"),
    ],
)
def test_a_postgresql_url_libpq_would_refuse_is_refused_when_the_store_is_made(
    url: str, said: str
) -> None:
    """It passed start-up, and the first request waited 5 s for a 503 that said to check
    the server was up."""
    with pytest.raises(ConfigurationError, match=re.escape(said)) as caught:
        PostgresStore.from_url(url)
    assert "pw" not in str(caught.value)
