"""``sessions export`` at scale: a progress bar on a terminal only, bounded memory."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionware import SessionManager
from sessionware.stores.redis import RedisStore

from ..conftest import REDIS_URL, delete_prefix, redis_or_skip
from .helpers import SCRIPT, run, run_on_terminal, seed

pytestmark = pytest.mark.redis


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(
    redis_prefix: str, store: RedisStore, tmp_path: Path
) -> None:
    seed(store, 1200)  # three batches
    target = tmp_path / "on-terminal.json"
    args = ["--store", REDIS_URL, "--prefix", redis_prefix, "sessions", "export", "-o", str(target)]
    code, shown = run_on_terminal(args)
    assert code == 0, shown
    assert "scanning sessions" in shown and "1200/1200" in shown
    assert f"exported 1200 sessions to {target}" in shown
    assert json.loads(target.read_text())["totalItems"] == 1200

    # stdout redirected (> FILE, | gzip) from a terminal: the export goes there, never
    # to the terminal the bar is on (rich's bar took stdout over: the file was empty)
    redirected = tmp_path / "redirected.json"
    code, shown = run_on_terminal(args[:-2], stdout=redirected)
    assert code == 0, shown
    assert json.loads(redirected.read_text())["totalItems"] == 1200
    assert "scanning sessions" in shown and '"payload"' not in shown
    code, shown = run_on_terminal([*args[:-1], "-"], stdout=redirected)  # -o -: stdout
    assert code == 0 and json.loads(redirected.read_text())["totalItems"] == 1200
    assert not (Path.cwd() / "-").exists()

    piped = run("sessions", "export", "-o", str(tmp_path / "piped.json"), prefix=redis_prefix)
    assert piped.returncode == 0
    assert piped.stderr == "" and piped.stdout == ""
    assert json.loads((tmp_path / "piped.json").read_text())["totalItems"] == 1200


def test_a_reader_that_leaves_early_gets_no_traceback(redis_prefix: str, store: RedisStore) -> None:
    seed(store, 1200)
    command = f"'{SCRIPT}' sessions export --jsonl | head -n 1"
    env = {**os.environ, "SESSIONWARE_STORE": REDIS_URL, "SESSIONWARE_PREFIX": redis_prefix}
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=env
    )
    assert json.loads(result.stdout)["payload"] == {"cart": ["sku", 1199]}
    assert result.stderr == ""  # no traceback, no "Exception ignored"
    assert result.returncode == 141  # as SIGPIPE's own would be
    ended, started = SessionManager(store).audit_log()
    assert started.reason == "started (streamed)"
    assert ended.reason is not None and ended.reason.endswith(" (streamed; interrupted)")


def test_the_audit_entry_comes_after_the_write_with_the_filter_and_the_count(
    redis_prefix: str, store: RedisStore, tmp_path: Path
) -> None:
    seed(store, 5, users=1)  # all of user0
    seed(store, 2, users=1, start=5, app="blog")
    manager = SessionManager(store)
    failed = run("sessions", "export", "-o", "/nonexistent/dir/x.json", prefix=redis_prefix)
    assert failed.returncode == 2
    assert manager.audit_log() == []  # nothing was read, nothing was written
    target = str(tmp_path / "shop.json")
    args = ("--app", "shop", "--user", "user0", "--reason", "ticket 5", "--actor", "kim")
    done = run("sessions", "export", *args, "-o", target, prefix=redis_prefix)
    assert done.returncode == 0, done.stderr
    assert json.loads(Path(target).read_text())["totalItems"] == 5
    entry, started = manager.audit_log()
    assert (entry.actor, entry.action) == (started.actor, started.action) == ("kim", "export")
    assert entry.reason == "5 sessions (streamed, app=shop, user=user0): ticket 5"
    assert started.reason == "started (streamed, app=shop, user=user0): ticket 5"


def test_an_export_under_nohup_goes_on_after_a_sighup(
    redis_prefix: str, store: RedisStore, tmp_path: Path
) -> None:
    """A SIGHUP the command was started ignoring (nohup) stays ignored."""
    seed(store, 300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARE_")}
    env |= {"SESSIONWARE_STORE": REDIS_URL, "SESSIONWARE_PREFIX": redis_prefix}
    assert SCRIPT is not None
    exporting = subprocess.Popen(
        ["nohup", SCRIPT, "sessions", "export", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,  # (where nohup would put nohup.out)
    )
    try:
        assert exporting.stdout is not None
        first = exporting.stdout.readline()  # under way (then the pipe fills)
        exporting.send_signal(signal.SIGHUP)
        rest = exporting.stdout.read()
        assert exporting.wait(30) == 0
    finally:
        exporting.kill()
        exporting.wait()
    assert len((first + rest).splitlines()) == 300
    assert SessionManager(store).audit_log()[0].reason == "300 sessions (streamed)"


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_an_export_stopped_by_a_signal_says_so_in_its_audit_entry(
    redis_prefix: str, store: RedisStore, stop: str
) -> None:
    """``timeout``, a cancelled job, a closed terminal or Ctrl-C: the entries say it
    started, and how many sessions left before it stopped; the exit status is the
    signal's (click made Ctrl-C's 1, which means "not found or refused")."""
    seed(store, 400)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARE_")}
    env |= {"SESSIONWARE_STORE": REDIS_URL, "SESSIONWARE_PREFIX": redis_prefix}
    assert SCRIPT is not None
    exporting = subprocess.Popen(
        [SCRIPT, "sessions", "export", "--jsonl", "--include-metadata"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        assert exporting.stdout is not None
        assert exporting.stdout.readline().startswith(b"{")  # under way (then the pipe fills)
        deadline = time.monotonic() + 30
        while not SessionManager(store).audit_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        exporting.send_signal(getattr(signal, stop))
        assert exporting.wait(30) == 128 + getattr(signal, stop)
    finally:
        exporting.kill()
        exporting.wait()
    ended, started = SessionManager(store).audit_log()
    assert started.reason == "started (streamed)"
    left = re.fullmatch(r"(\d+) sessions? \(streamed; interrupted\)", ended.reason or "")
    assert left is not None and 1 <= int(left[1]) < 400


def test_an_export_file_is_private_and_never_written_through_a_planted_link(
    redis_prefix: str, store: RedisStore, tmp_path: Path
) -> None:
    """The ``.part`` file was opened by name with the umask's mode: the export (every
    payload of an unencrypted store) came out world-readable, and a link planted at
    ``FILE.part`` was followed."""
    seed(store, 3)
    target, victim = tmp_path / "sessions.json", tmp_path / "victim.txt"
    target.write_text("older export")
    target.chmod(0o600)
    victim.write_text("not an export")
    (tmp_path / "sessions.json.part").symlink_to(victim)
    umask = os.umask(0o022)
    try:
        done = run("sessions", "export", "-o", str(target), prefix=redis_prefix)
    finally:
        os.umask(umask)
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["totalItems"] == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert victim.read_text() == "not an export"
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["sessions.json", "sessions.json.part", "victim.txt"]


def peak_rss_kib(prefix: str, target: Path) -> int:
    """The export's peak resident memory (KiB), read by a parent whose only child it is."""
    measure = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    command = [
        SCRIPT,
        "--store",
        REDIS_URL,
        "--prefix",
        prefix,
        "sessions",
        "export",
        "--include-metadata",
        "-o",
        str(target),
    ]
    result = subprocess.run(
        [sys.executable, "-c", measure, *command], capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.fixture(scope="module")
def hundred_thousand() -> Iterator[str]:
    redis_or_skip()
    prefix = f"swtest:{uuid.uuid4().hex[:12]}:"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        seed(store, 100_000, users=1000)
        yield prefix
    finally:
        store.close()
        delete_prefix(prefix)


@pytest.mark.slow
def test_an_export_of_100000_sessions_streams_in_bounded_memory(
    hundred_thousand: str, redis_prefix: str, store: RedisStore, tmp_path: Path
) -> None:
    seed(store, 1000, users=10)
    small = peak_rss_kib(redis_prefix, tmp_path / "small.json")
    large = peak_rss_kib(hundred_thousand, tmp_path / "large.json")
    document = json.loads((tmp_path / "large.json").read_text())
    assert document["totalItems"] == len(document["items"]) == 100_000
    assert len({item["id"] for item in document["items"]}) == 100_000
    print(f"export peak RSS: 1,000 sessions {small} KiB, 100,000 sessions {large} KiB")
    # Holding the 100,000 items (~700 bytes of JSON each) would take hundreds of MiB more.
    assert large - small < 30 * 1024, (small, large)


@pytest.mark.parametrize("jsonl", [False, True])
def test_an_unreachable_store_writes_nothing_to_stdout(jsonl: bool) -> None:
    result = run(
        "sessions",
        "export",
        *(["--jsonl"] if jsonl else []),
        store="redis://:hunter2-secret@127.0.0.1:1/0",
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""  # no opening of a document that never ends
    assert "redis://:***@127.0.0.1:1/0" in result.stderr and "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr
