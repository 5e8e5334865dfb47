"""Store URLs and durations: the table of schemes, its errors, and a real cluster."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from sessionware.cli.durations import parse_duration
from sessionware.errors import ConfigurationError, MissingExtra
from sessionware.stores import urls as stores
from sessionware.stores.redis import RedisStore
from sessionware.stores.urls import Scheme, masked, open_store, scrubbed

from ..conftest import REDIS_URL
from ..stores.cluster import HOST, cluster_store, shared_cluster
from .helpers import SCRIPT, run, seed


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h", 7200),
        ("7d", 604800),
        ("2w", 1209600),
        ("6mo", 6 * 30 * 86400),
        ("1y", 365 * 86400),
        (" 3H ", 10800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "0s", "-1h", "1.5h", "2 h", "1ms", "forever"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ConfigurationError, match="90s, 15m, 2h, 7d, 2w, 6mo, 1y"):
        parse_duration(text)


def test_unlimited_is_no_expiry() -> None:
    assert parse_duration("unlimited") is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("postgresql://ann:s3cret@db/app", "postgresql://ann:***@db/app"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        # a password in the query, as redis-py and libpq take it
        ("redis://h:1/0?password=pw&db=2", "redis://h:1/0?password=***&db=2"),
        (
            "postgresql://u@h/db?sslmode=require&password=pw",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        (
            "redis+sentinel://:pw@a:1,b:2/m?sentinel_password=sp",
            "redis+sentinel://:***@a:1,b:2/m?sentinel_password=***",
        ),
        # libpq reads the password up to the last @: a ? or # in it hides nothing
        ("postgresql://u:p?w@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:p#w@h/db", "postgresql://u:***@h/db"),
        ("redis://h:1/0?prefix=app:", "redis://h:1/0?prefix=app:"),
        # the user part ends at the last @: a raw / (base64) or @ in the password hides nothing
        ("postgresql://bob:hunt/er2@127.0.0.1:1/test", "postgresql://bob:***@127.0.0.1:1/test"),
        ("redis://:hunt/er2@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("rediss://u:a/b@c?d#e@h:1/0", "rediss://u:***@h:1/0"),
        ("redis+cluster://:a/b@h:1", "redis+cluster://:***@h:1"),
        ("unix://:pa/ss@/tmp/redis.sock?db=1", "unix://:***@/tmp/redis.sock?db=1"),
        (
            "redis+sentinel://:a/b@h:1,i:2/m?sentinel_password=c/d@e",
            "redis+sentinel://:***@h:1,i:2/m?sentinel_password=***",
        ),
        ("redis://h:1/0?password=p@ss", "redis://h:1/0?password=***"),
        ("sqlite:///tmp/a@b.db", "sqlite:///tmp/a@b.db"),
        # an @ in the query hides the host too (it could as well end a password)
        ("postgresql://h:5/db?application_name=a@b", "postgresql://h:***@b"),
        # libpq's key=value form, which PostgresStore takes too
        ("host=db user=app password=s3cr3t dbname=x", "host=db user=app password=*** dbname=x"),
        ("host=db password = 'a b' sslpassword=kp", "host=db password = *** sslpassword=***"),
        ("dbname=x user=app", "dbname=x user=app"),
        # a URL elsewhere in the string, or in the password, does not make it a URL
        (
            "host=db application_name=https://o.example password=pw",
            "host=db application_name=https://o.example password=***",
        ),
        ("host=db password=pa://ss", "host=db password=***"),
        ("host=db password=pa\\ ss-word user=x", "host=db password=*** user=x"),  # libpq's \ escape
    ],
)
def test_masked_hides_only_the_password(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_a_url_the_store_refuses_is_named_without_its_password() -> None:
    from sessionware import PostgresStore, SQLiteStore

    for url in ("postgresql+psycopg://app:s3cr3tPW@db:5432/app", "host=db password=s3cr3tPW"):
        for from_url in (PostgresStore.from_url, SQLiteStore.from_url):
            with pytest.raises(ConfigurationError, match="looks like") as refused:
                from_url(url)
            assert "s3cr3tPW" not in str(refused.value) and "***" in str(refused.value)
    told = "connection to host=db failed: password=s3cr3tPW rejected"
    assert "s3cr3tPW" not in scrubbed(told, "host=db password=s3cr3tPW")


def test_scrubbed_hides_the_pieces_of_a_password_a_client_library_misread() -> None:
    url = "redis://:hunt/er2Zq9@127.0.0.1:1/0"  # redis-py: port "hunt", path "er2Zq9@..."
    told = "Port could not be cast to integer value as 'hunt'; db er2Zq9@127.0.0.1:1/0"
    assert (
        scrubbed(told, url)
        == "Port could not be cast to integer value as '***'; db ***@127.0.0.1:1/0"
    )
    assert scrubbed("port 'ab', host 'h'", "redis://:ab/cdef@h/0") == "port 'ab', host 'h'"


def test_a_short_password_is_scrubbed_where_it_stands_alone_not_inside_words() -> None:
    told = "AUTH <e> called without any password configured for the default user"
    assert scrubbed(told, "redis://:e@127.0.0.1:6379/0") == (
        "AUTH <***> called without any password configured for the default user"
    )
    said = "password authentication failed for user postgres; pw: pass1"
    assert scrubbed(said, "postgresql://postgres:pass1@h/db") == (
        "password authentication failed for user postgres; pw: ***"
    )
    assert scrubbed("a=s3cr3tPW9;", "redis://:s3cr3tPW9@h/0") == "a=***;"  # (long: anywhere)


@pytest.mark.redis
def test_redis_urls_open_a_redis_store_with_the_prefix(redis_prefix: str) -> None:
    store = open_store(REDIS_URL, redis_prefix)
    assert isinstance(store, RedisStore) and store.prefix == redis_prefix
    store.close()


@pytest.mark.redis
def test_a_redis_socket_url_serves_the_command(redis_prefix: str, tmp_path: Path) -> None:
    """``unix:///path?db=0``, as RedisStore.from_url (and its own advice) takes it: the
    command refused it as an unknown store URL."""
    from ..stores.cluster import throwaway_server

    sock = tmp_path / "redis.sock"
    with throwaway_server("--unixsocket", str(sock), "--unixsocketperm", "700"):
        url = f"unix://{sock}?db=0"
        seed(open_store(url, redis_prefix), 2)
        listed = run("sessions", "list", "--json", store=url, prefix=redis_prefix)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout)["totalItems"] == 2


@pytest.mark.redis
def test_a_prefix_in_the_url_is_the_stores_key_prefix(redis_prefix: str) -> None:
    joiner = "&" if "?" in REDIS_URL else "?"
    store = open_store(f"{REDIS_URL}{joiner}prefix={quote(redis_prefix)}")
    assert isinstance(store, RedisStore) and store.prefix == redis_prefix
    store.close()
    with pytest.raises(ConfigurationError, match="two key prefixes"):
        open_store(f"{REDIS_URL}{joiner}prefix=a:", "b:")


def test_a_prefix_in_a_sqlite_url_leaves_the_path_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "prefixed.db"
    store = open_store(f"sqlite:///{path}?prefix=app_")
    try:
        store.create_schema()
        assert path.is_file()  # the path kept its slashes
        assert store.prefix == "app_"
    finally:
        store.close()


def test_the_urls_other_parameters_pass_on_as_written() -> None:
    url = "postgresql://u@h/db?options=-c%20search_path%3Dfoo&prefix=app%2Es_&ssl"
    assert stores.without_prefix(url) == (
        "postgresql://u@h/db?options=-c%20search_path%3Dfoo&ssl",
        "app.s_",
    )
    assert stores.without_prefix("redis://h/0?db=1") == ("redis://h/0?db=1", None)
    assert stores.without_prefix("redis://h/0?prefix=x&db=1#f") == ("redis://h/0?db=1#f", "x")
    assert stores.without_prefix("redis://h/0#f?prefix=x") == ("redis://h/0#f?prefix=x", None)
    with pytest.raises(ConfigurationError, match="prefix= is empty"):
        open_store("redis://127.0.0.1:6379/0?prefix=")


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"redis\+cluster://.*postgresql://"):
        open_store("mongodb://h/db")


def test_a_store_not_in_this_build_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(stores.SCHEMES, "demo", Scheme(".stores.nowhere", "NowhereStore", "x"))
    with pytest.raises(MissingExtra, match=r"NowhereStore \(sessionware.stores.nowhere\)"):
        open_store("demo://h")
    monkeypatch.setitem(
        stores.SCHEMES, "demo", Scheme(".stores.redis", "RedisStore", "redis", method="from_x")
    )
    with pytest.raises(MissingExtra, match=r"RedisStore\.from_x .*demo:// URLs"):
        open_store("demo://h")


def test_a_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sessionware.stores.redis")
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingExtra, match=r"pip install 'sessionware\[redis\]'"):
        open_store("redis://127.0.0.1:6379/0")


def test_a_prefix_on_a_store_without_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        stores.SCHEMES, "demo", Scheme(".stores.memory", "MemoryStore", "", has_prefix=False)
    )
    with pytest.raises(ConfigurationError, match="drop --prefix"):
        open_store("demo://h", "p:")


@pytest.mark.cluster
def test_the_command_works_on_a_redis_cluster(request: pytest.FixtureRequest) -> None:
    store = cluster_store(request)
    ids = seed(store, 4)
    url = f"redis+cluster://{HOST}:{shared_cluster(request.config)[0]}"
    result = run("sessions", "list", "--json", prefix=store.prefix, store=url)
    assert result.returncode == 0, result.stderr
    assert sorted(item["id"] for item in json.loads(result.stdout)["items"]) == ids
    exported = run("sessions", "export", "--jsonl", prefix=store.prefix, store=url)
    assert len(exported.stdout.splitlines()) == 4


@pytest.mark.cluster
def test_from_url_takes_the_cluster_url_the_command_takes(request: pytest.FixtureRequest) -> None:
    """An ASGI app can build its store from the URL its Flask twin or the command uses."""
    store = cluster_store(request)
    ids = seed(store, 2)
    url = f"redis+cluster://{HOST}:{shared_cluster(request.config)[0]}"
    same = RedisStore.from_url(url, prefix=store.prefix)
    try:
        assert sorted(i for i in ids if same.get_meta(i, now=time.time()) is not None) == ids
    finally:
        same.close()


def test_from_url_sends_a_sentinel_url_to_from_sentinel_url() -> None:
    with pytest.raises(ConfigurationError, match=r"RedisStore\.from_sentinel_url\(url\)"):
        RedisStore.from_url("redis+sentinel://127.0.0.1:26379/mymaster")


def test_the_command_works_on_a_sqlite_file(tmp_path: Path) -> None:
    from sessionware import SQLiteStore

    path = tmp_path / "sessions.db"
    store = SQLiteStore(path, prefix="cli_")
    ids = seed(store, 3)
    url = f"sqlite:///{path}"  # an absolute path: sqlite:////tmp/...
    result = run("sessions", "list", "--json", prefix="cli_", store=url)
    assert result.returncode == 0, result.stderr
    assert sorted(item["id"] for item in json.loads(result.stdout)["items"]) == sorted(ids)
    revoked = run("sessions", "revoke", ids[0], "--yes", prefix="cli_", store=url)
    assert revoked.returncode == 0, revoked.stderr
    info = store.get_meta(ids[0], now=time.time())
    assert info is not None and info.status == "revoked"


def test_the_command_works_on_a_postgresql_url(postgres_schema: str) -> None:
    from sessionware import PostgresStore

    from ..conftest import POSTGRES_URL

    prefix = f"{postgres_schema}.cli_"
    store = PostgresStore.from_url(POSTGRES_URL, prefix=prefix)
    ids = seed(store, 3)
    result = run("sessions", "list", "--json", prefix=prefix, store=POSTGRES_URL)
    assert result.returncode == 0, result.stderr
    assert sorted(item["id"] for item in json.loads(result.stdout)["items"]) == sorted(ids)
    revoked = run("sessions", "revoke", ids[0], "--yes", prefix=prefix, store=POSTGRES_URL)
    assert revoked.returncode == 0, revoked.stderr
    info = store.get_meta(ids[0], now=time.time())
    assert info is not None and info.status == "revoked"
    store.close()


def test_a_sqlite_file_that_is_not_there_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    result = run("sessions", "list", store=f"sqlite:///{path}")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"no SQLite store at {path}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not path.exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("redis://localhost:99999/0", "Port out of range"),
        ("redis://[::1", "Invalid IPv6 URL"),
        ("rediss://:pw@127.0.0.1:6379/0?ssl_cert_reqs=bogus", "Certificate Requirements"),
        ("redis+sentinel://[::1/mymaster", "Invalid IPv6 URL"),
        ("redis+sentinel://:pw@h:99999/mymaster", "host:port"),
    ],
)
def test_a_malformed_store_url_is_one_line_and_exit_2(url: str, said: str) -> None:
    result = run("sessions", "list", store=url)
    assert result.returncode == 2, result.stderr[-500:]
    assert said in result.stderr and "pw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-500:]


def test_a_redis_database_that_is_not_a_number_is_refused(redis_prefix: str) -> None:
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    seed(store, 1)  # in database 0
    store.close()
    result = run("sessions", "list", store="redis://127.0.0.1:6379/abc", prefix=redis_prefix)
    assert result.returncode == 2, result.stdout[-500:]
    assert "names database 'abc': a database is a number" in result.stderr
    assert result.stdout == ""


def test_an_export_to_a_folder_that_is_not_there_is_one_line_and_exit_2(
    redis_prefix: str,
) -> None:
    result = run("sessions", "export", "-o", "/nonexistent/dir/x.json", prefix=redis_prefix)
    assert result.returncode == 2, result.stderr[-500:]
    assert "cannot write /nonexistent/dir/x.json: No such file or directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-500:]


def test_without_the_cli_extra_the_command_names_it_in_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "click"  # found before the real click: as if it were not installed
    blocked.mkdir()
    (blocked / "__init__.py").write_text("raise ImportError(\"No module named 'click'\")\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    assert SCRIPT is not None
    for command in ([SCRIPT], [sys.executable, "-m", "sessionware"]):
        done = subprocess.run(
            [*command, "sessions", "list"], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.strip() == (
            "Error: the sessionware command needs the 'cli' extra: pip install 'sessionware[cli]'"
        )


def test_the_existing_file_check_reads_file_uris_and_leaves_memory_to_the_store(
    tmp_path: Path,
) -> None:
    from sessionware import SQLiteStore

    path = tmp_path / "app.db"
    made = SQLiteStore(path)
    made.create_schema()  # the file exists from here on
    made.close()
    store = open_store(f"sqlite:///file:{path}?mode=ro", existing=True)  # read-only: allowed
    assert isinstance(store, SQLiteStore)
    store.close()
    with pytest.raises(ConfigurationError, match=f"no SQLite store at {tmp_path / 'gone.db'}"):
        open_store(f"sqlite:///file:{tmp_path / 'gone.db'}?mode=ro", existing=True)
    with pytest.raises(ConfigurationError, match="MemoryStore"):  # the store's own message
        open_store("sqlite:///:memory:", existing=True)


def test_a_postgresql_prefix_naming_no_tables_is_refused_not_created(postgres_schema: str) -> None:
    import psycopg

    from ..conftest import POSTGRES_URL

    prefix = f"{postgres_schema}.typo_"  # a schema that is not there (the fixture drops it)
    result = run("sessions", "list", store=f"{POSTGRES_URL}?prefix={prefix}")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"no sessionware tables are in {POSTGRES_URL}" in result.stderr
    assert f"under the table prefix {prefix!r}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        made = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (postgres_schema,)
        ).fetchone()
    assert made == (0,)


def test_a_sqlite_prefix_naming_no_tables_is_refused_not_created(tmp_path: Path) -> None:
    import sqlite3

    from sessionware import SQLiteStore

    path = tmp_path / "app.db"
    SQLiteStore(path).create_schema()
    result = run("sessions", "list", prefix="typo_", store=f"sqlite:///{path}")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "under the table prefix 'typo_'" in result.stderr
    with sqlite3.connect(path) as connection:
        names = connection.execute("SELECT name FROM sqlite_master WHERE name LIKE 'typo%'")
        assert names.fetchall() == []
