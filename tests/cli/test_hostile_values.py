"""What the command prints of values it does not control: stored users, emails, user
agents, audit actors and reasons, and the ids and durations an operator types.

A table shows each value as it is stored (never read as rich markup) with its
control characters written out (``\\x1b``), so a stored value can neither crash
the command, restyle its output nor send escape sequences to the terminal.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from sessionware import SQLiteStore, codec, devices
from sessionware.cli.durations import parse_duration
from sessionware.errors import ConfigurationError
from sessionware.stores.base import Meta
from sessionware.stores.redis import RedisStore
from sessionware.visible import visible

from ..conftest import REDIS_URL
from .helpers import HOUR, run, run_on_terminal, seed

pytestmark = pytest.mark.redis

SESSION_ID = "e" * 32
USER = "[bold red]mallory[/bold red]\x1b[8m"  # markup, then "conceal what follows"
EMAIL = "eve[/]@example.test"  # a closing tag with nothing to close
LINK = "\x1b]8;;http://evil.example\x1b\\"  # an OSC 8 hyperlink
AGENT = f"Mozilla/5.0 [/x] bot {LINK}click\x9b6n"  # C1 CSI: "report the cursor position"
ACTOR = "eve[/]\x1b[2J"  # clears the screen
REASON = f"[link=http://evil.example]ticket[/link] {LINK}\x07\x7f\x9b31m"


@pytest.fixture
def hostile(store: RedisStore) -> str:
    """One live session whose user, email and user agent are hostile."""
    now = time.time()
    device = devices.Device(AGENT, "203.0.113.9")
    meta = Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=now + HOUR,
        app="shop",
        user=USER,
        email=EMAIL,
        device=devices.encode(devices.DeviceRecord(device, device)),
    )
    store.create(SESSION_ID, {"cart": codec.encode("cart", ["sku", 1])}, meta)
    return SESSION_ID


def reveal(session_id: str, prefix: str) -> subprocess.CompletedProcess[str]:
    """A reveal whose audit entry has the hostile actor and reason."""
    return run(
        "sessions", "reveal", session_id, "--reason", REASON, "--actor", ACTOR, prefix=prefix
    )


def shown(result: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that succeeded, checked free of terminal controls."""
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert not any(ch in result.stdout for ch in "\x1b\x07\x7f\x9b"), result.stdout
    return result.stdout


def test_tables_print_stored_values_literally(redis_prefix: str, hostile: str) -> None:
    listing = shown(run("sessions", "list", prefix=redis_prefix))
    assert "[bold red]mallory[/bold red]\\x1b[8m" in listing
    assert EMAIL in listing

    one = shown(run("sessions", "show", hostile, prefix=redis_prefix))
    assert "[bold red]mallory[/bold red]\\x1b[8m" in one
    assert EMAIL in one
    assert "Mozilla/5.0 [/x] bot" in one and "http://evil.example" in one

    shown(reveal(hostile, redis_prefix))
    log = shown(run("audit", prefix=redis_prefix))
    assert "eve[/]\\x1b[2J" in log
    assert "[link=http://evil.example]ticket[/link] \\x1b]8;;http://evil.example\\x1b\\" in log
    assert "\\x07\\x7f\\x9b31m" in log


def test_bidi_overrides_are_written_out(redis_prefix: str, store: RedisStore) -> None:
    """U+202E (RIGHT-TO-LEFT OVERRIDE) and the other format characters reorder or hide
    what the terminal shows after them: a table writes them out, as control characters."""
    now = time.time()
    user = "admin\u202egnp.exe\u2066x\u200by\u2028z"
    meta = Meta(
        created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60, user=user
    )
    store.create("c" * 32, {"cart": codec.encode("cart", 1)}, meta)
    for args in (("sessions", "list"), ("sessions", "show", "c" * 32)):
        out = shown(run(*args, prefix=redis_prefix))
        assert "admin\\u202egnp.exe\\u2066x\\u200by\\u2028z" in out
        assert not any(ch in out for ch in "\u202e\u2066\u200b\u2028")
    assert "é" in visible("é") and visible("é") == "é"  # letters stay
    listed = shown(run("sessions", "list", "--json", prefix=redis_prefix))
    one = shown(run("sessions", "show", "c" * 32, "--json", prefix=redis_prefix))
    for out in (listed, one):  # JSON too: written out, and still the very same values
        assert not any(ch in out for ch in "\u202e\u2066\u200b\u2028"), out
    assert json.loads(listed)["items"][0]["userIdentifier"] == user
    assert json.loads(one)["userIdentifier"] == user


def test_json_keeps_the_exact_values(redis_prefix: str, hostile: str) -> None:
    info = json.loads(shown(run("sessions", "show", hostile, "--json", prefix=redis_prefix)))
    assert (info["userIdentifier"], info["userEmail"]) == (USER, EMAIL)
    assert info["device"]["first"]["userAgent"] == AGENT
    page = json.loads(shown(run("sessions", "list", "--json", prefix=redis_prefix)))
    assert page["items"][0]["userIdentifier"] == USER
    for form in ([], ["--jsonl"]):
        export = shown(run("sessions", "export", "--include-metadata", *form, prefix=redis_prefix))
        (item,) = json.loads(export)["items"] if not form else [json.loads(export)]
        assert (item["userIdentifier"], item["device"]["last"]["userAgent"]) == (USER, AGENT)
    shown(reveal(hostile, redis_prefix))
    (entry,) = json.loads(shown(run("audit", "--action", "reveal", "--json", prefix=redis_prefix)))
    assert (entry["actor"], entry["reason"]) == (ACTOR, REASON)


def test_a_confirmation_shows_the_user_without_its_controls(
    redis_prefix: str, hostile: str
) -> None:
    args = ["--store", REDIS_URL, "--prefix", redis_prefix, "sessions", "revoke", hostile]
    code, terminal = run_on_terminal(args, b"n\n")  # click drops some escapes in a pipe only
    assert code == 1
    assert "(user [bold red]mallory[/bold red]\\x1b[8m)?" in terminal
    assert "\x1b" not in terminal


def test_an_unknown_id_is_echoed_bounded(redis_prefix: str) -> None:
    long_id = "0123456789" * 10_000
    for args in (
        ("sessions", "show", long_id),
        ("sessions", "reveal", long_id, "--reason", "r"),
        ("sessions", "revoke", long_id, "--yes"),
        ("sessions", "ttl", long_id, "1h"),
    ):
        result = run(*args, prefix=redis_prefix)
        assert result.returncode == 1, (args[1], result.stderr[:300])
        echoed = result.stderr.split("session ", 1)[1].split("…", 1)[0]
        assert long_id.startswith(echoed) and 40 <= len(echoed) <= 64  # a whole id is 43
        assert len(result.stderr) < 200, (args[1], len(result.stderr))


@pytest.mark.parametrize("where", ["redis", "sqlite"])
def test_an_argument_that_is_not_utf8_is_not_found(
    where: str, tmp_path: Path, redis_prefix: str
) -> None:
    """A byte that is not UTF-8 reaches Python as a lone surrogate ("\\udcff"), which
    the stores raised UnicodeEncodeError for: a traceback. Now: not found, one line."""
    url = f"sqlite:///{tmp_path / 's.db'}" if where == "sqlite" else REDIS_URL
    if where == "sqlite":
        seed(SQLiteStore(tmp_path / "s.db"), 1)
    for args, said in (
        (("sessions", "show", "\udcff"), "Error: no session \\xff in the store\n"),
        (("sessions", "reveal", "a\udcff", "--reason", "r"), "no session a\\xff in the store"),
        (("sessions", "revoke-user", "\udcff", "--yes"), "user '\\xff' has no live session"),
        (("sessions", "ttl", "\udcff", "1h"), "session \\xff is not live"),
    ):
        result = run(*args, store=url, prefix=None if where == "sqlite" else redis_prefix)
        assert result.returncode == 1, (args, result.stderr[-300:])
        assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr[-300:]


def test_a_ttl_over_100_years_is_refused_in_the_commands_terms(redis_prefix: str) -> None:
    result = run("sessions", "ttl", SESSION_ID, "999y", prefix=redis_prefix)
    assert result.returncode == 2
    assert "999y is more than 100 years" in result.stderr
    assert "timedelta" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["101y", "1300mo", "5300w", "36600d", "99999999999999999999999y"])
def test_durations_over_100_years_are_refused_before_the_manager(text: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{text} is more than 100 years"):
        parse_duration(text)


def test_100_years_is_accepted() -> None:
    assert parse_duration("100y") is not None
    assert parse_duration("1200mo") is not None


def test_a_stdout_that_cannot_write_a_stored_value_is_one_line_not_a_traceback(
    redis_prefix: str, store: RedisStore
) -> None:
    """A user "Zoë" listed to a stdout whose encoding is ASCII (PYTHONIOENCODING, an
    old locale): a UnicodeEncodeError traceback before."""
    import os

    from .helpers import SCRIPT

    now = time.time()
    meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + HOUR)
    meta.user = "Zoë"
    store.create("c" * 32, {"n": codec.encode("n", 1)}, meta)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARE_")}
    env |= {"SESSIONWARE_STORE": REDIS_URL, "SESSIONWARE_PREFIX": redis_prefix}
    for args in (["sessions", "list"], ["sessions", "list", "--json"]):
        result = subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            env={**env, "PYTHONIOENCODING": "ascii"},
            timeout=60,
        )
        told = result.stderr.decode("ascii", "replace")
        assert result.returncode == 2 and "Traceback" not in told, told
        assert "PYTHONIOENCODING=utf-8" in told
