"""Every subcommand of the real console script, against the real Redis server.

Each test seeds its own key prefix, runs ``sessionware`` in a subprocess (in a
pipe, or on a pseudo-terminal where a person would answer) and checks what it
printed, its exit code, and what the store then holds.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessionware import SessionManager, codec, devices
from sessionware.stores.base import Meta
from sessionware.stores.redis import RedisStore

from ..conftest import REDIS_URL
from .helpers import run, run_on_terminal, seed

pytestmark = pytest.mark.redis


@pytest.fixture
def ids(store: RedisStore) -> list[str]:
    return seed(store, 6)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def failed(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def test_list_prints_a_table_of_the_page(redis_prefix: str, ids: list[str]) -> None:
    out = ok(run("sessions", "list", prefix=redis_prefix))
    for session_id in ids:
        assert session_id in out
    assert "user1@example.test" in out
    assert "6 sessions in all" in out
    ok(run("sessions", "revoke", ids[0], "--yes", prefix=redis_prefix))  # user0 keeps ids[3]
    one = ok(run("sessions", "list", "--user", "user0", "--status", "active", prefix=redis_prefix))
    assert "1 session in all" in one


def test_on_an_80_column_terminal_the_listing_keeps_ids_whole(
    redis_prefix: str, ids: list[str]
) -> None:
    """Seven columns squeezed every value but the id to 'acti…' and '202…'."""
    args = ["--store", REDIS_URL, "--prefix", redis_prefix, "sessions", "list"]
    code, shown = run_on_terminal(args, columns=80)
    assert code == 0 and all(session_id in shown for session_id in ids)
    assert "active" in shown and "user1" in shown and "…" not in shown.split("page 0")[0]
    words = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", shown).split())  # (no styles, no folds)
    assert "email, app and expiry in a window of 130+ columns" in words


def test_a_long_user_id_is_cut_in_the_table_and_whole_in_json(
    redis_prefix: str, store: RedisStore
) -> None:
    now, user = time.time(), "7" * 1001
    meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 60)
    meta.user = user
    store.create("f" * 32, {"n": codec.encode("n", 1)}, meta)
    table = ok(run("sessions", "list", prefix=redis_prefix))
    assert "7" * 63 + "…" in table and "7" * 64 not in table
    assert "f" * 32 in table  # the id stays whole beside it
    listed = json.loads(ok(run("sessions", "list", "--json", prefix=redis_prefix)))
    assert [item["userIdentifier"] for item in listed["items"]] == [user]


def test_list_json_is_the_export_with_metadata_shape(redis_prefix: str, ids: list[str]) -> None:
    out = ok(
        run(
            "sessions", "list", "--user", "user1", "--page-size", "1", "--json", prefix=redis_prefix
        )
    )
    page = json.loads(out)
    assert set(page) == {"items", "page", "pageSize", "totalItems", "totalPages"}
    assert (page["page"], page["pageSize"], page["totalItems"], page["totalPages"]) == (0, 1, 2, 2)
    (item,) = page["items"]
    assert item["id"] == ids[4]  # user1: sessions 1 and 4, most recent first
    assert item["userIdentifier"] == "user1"
    assert item["status"] == "active"
    assert "payload" not in item  # a listing never reads payloads

    second = json.loads(
        ok(
            run(
                "sessions",
                "list",
                "--sort",
                "id",
                "--ascending",
                "--page",
                "1",
                "--page-size",
                "4",
                "--json",
                prefix=redis_prefix,
            )
        )
    )
    assert [i["id"] for i in second["items"]] == ids[4:]


def test_list_refuses_bad_options_with_exit_2(redis_prefix: str) -> None:
    for page_size in ("0", "1001"):  # (named as typed: it said the API's page_size)
        told = failed(run("sessions", "list", "--page-size", page_size, prefix=redis_prefix), 2)
        assert "'--page-size'" in told and "1<=x<=1000" in told
    assert "'--page'" in failed(run("sessions", "list", "--page", "-1", prefix=redis_prefix), 2)
    failed(run("sessions", "list", "--status", "asleep", prefix=redis_prefix), 2)


def test_show_prints_metadata_or_exits_1(redis_prefix: str, ids: list[str]) -> None:
    shown = json.loads(ok(run("sessions", "show", ids[2], "--json", prefix=redis_prefix)))
    assert shown["id"] == ids[2]
    assert shown["userEmail"] == "user2@example.test"
    assert ids[2] in ok(run("sessions", "show", ids[2], prefix=redis_prefix))
    assert "no session" in failed(run("sessions", "show", "f" * 32, prefix=redis_prefix), 1)


def test_reveal_prints_the_payload_and_audits_the_operator(
    redis_prefix: str, ids: list[str], store: RedisStore
) -> None:
    out = ok(run("sessions", "reveal", ids[3], "--reason", "ticket 7", prefix=redis_prefix))
    assert json.loads(out) == {"cart": ["sku", 3]}
    ok(run("sessions", "reveal", ids[3], "--reason", "t8", "--actor", "dana", prefix=redis_prefix))
    newest, older = SessionManager(store).audit_log(limit=2)
    assert (newest.actor, newest.action, newest.reason) == ("dana", "reveal", "t8")
    assert (older.actor, older.session_id, older.reason) == (getpass.getuser(), ids[3], "ticket 7")
    assert "--reason" in failed(run("sessions", "reveal", ids[3], prefix=redis_prefix), 2)
    for blank in ("", "   "):  # required means a reason, not an empty one
        refused = failed(
            run("sessions", "reveal", ids[3], "--reason", blank, prefix=redis_prefix), 2
        )
        assert "--reason" in refused and "audit log" in refused and "cart" not in refused
    assert len(SessionManager(store).audit_log()) == 2  # the refusals read nothing
    failed(run("sessions", "reveal", "f" * 32, "--reason", "x", prefix=redis_prefix), 1)


def test_revoke_in_a_pipe_needs_yes(redis_prefix: str, ids: list[str], store: RedisStore) -> None:
    manager = SessionManager(store)
    assert "--yes" in failed(run("sessions", "revoke", ids[0], prefix=redis_prefix), 1)
    assert manager.get(ids[0]).status == "active"  # type: ignore[union-attr]
    ok(run("sessions", "revoke", ids[0], "--yes", "--actor", "ops", prefix=redis_prefix))
    info = manager.get(ids[0])
    assert info is not None and (info.status, info.revoked_by) == ("revoked", "ops")
    assert "not active" in failed(
        run("sessions", "revoke", ids[0], "--yes", prefix=redis_prefix), 1
    )
    failed(run("sessions", "revoke", "f" * 32, "--yes", prefix=redis_prefix), 1)
    # --json: the session as `show --json` gives it now, revoked
    args = ("sessions", "revoke", ids[1], "--yes", "--actor", "ops", "--json")
    revoked = json.loads(ok(run(*args, prefix=redis_prefix)))
    assert (revoked["id"], revoked["status"], revoked["revokedBy"]) == (ids[1], "revoked", "ops")
    assert "not active" in failed(run(*args, prefix=redis_prefix), 1)
    # shown as it is now, as the console shows it: ended, holding nothing, no expiry ahead
    shown = json.loads(ok(run("sessions", "show", ids[0], "--json", prefix=redis_prefix)))
    assert dt.datetime.fromisoformat(shown["endedAt"]) == info.ended_at
    assert (shown["expiresAt"], shown["attributeCount"], shown["currentDataSizeBytes"]) == (
        None,
        0,
        0,
    )
    table = ok(run("sessions", "show", ids[0], prefix=redis_prefix))
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in table.splitlines()
            if line.count("│") == 3}  # fmt: skip
    assert rows["attributeCount"] == "0" and rows["endedAt"] == shown["endedAt"]


@pytest.mark.parametrize(("answer", "revoked"), [(b"n\n", False), (b"y\n", True)])
def test_revoke_on_a_terminal_asks_first(
    redis_prefix: str, ids: list[str], store: RedisStore, answer: bytes, revoked: bool
) -> None:
    args = ["--store", REDIS_URL, "--prefix", redis_prefix, "sessions", "revoke", ids[1]]
    code, shown = run_on_terminal(args, answer)
    assert f"Revoke session {ids[1]} (user user1)?" in shown
    assert code == (0 if revoked else 1)
    status = SessionManager(store).get(ids[1]).status  # type: ignore[union-attr]
    assert status == ("revoked" if revoked else "active")
    if revoked:  # once ended, the command says so rather than ask (and then refuse)
        code, shown = run_on_terminal(args, answer, timeout=30)
        assert code == 1 and "not active: nothing to revoke" in shown
        assert "Revoke session" not in shown


def test_revoke_user_keeps_one(redis_prefix: str, ids: list[str], store: RedisStore) -> None:
    out = ok(
        run("sessions", "revoke-user", "user0", "--keep", ids[3], "--yes", prefix=redis_prefix)
    )
    assert "revoked 1 session of user0" in out
    args = ("sessions", "revoke-user", "user2", "--yes", "--json")
    assert json.loads(ok(run(*args, prefix=redis_prefix))) == {"user": "user2", "revoked": 2}
    assert "no live session" in failed(run(*args, prefix=redis_prefix), 1)
    manager = SessionManager(store)
    assert manager.get(ids[0]).status == "revoked"  # type: ignore[union-attr]
    assert manager.get(ids[3]).status == "active"  # type: ignore[union-attr]
    assert manager.get(ids[1]).status == "active"  # type: ignore[union-attr]
    failed(run("sessions", "revoke-user", "nobody", "--yes", prefix=redis_prefix), 1)
    for typo in ("0" * 32, ids[2], ids[0]):  # no such id; another user's; revoked
        told = failed(
            run("sessions", "revoke-user", "user1", "--keep", typo, "--yes", prefix=redis_prefix),
            1,
        )
        assert "is not a live session of user 'user1': nothing was revoked" in told
    assert manager.get(ids[1]).status == "active"  # type: ignore[union-attr]
    for blank in ("", "  "):  # a slip, told as one (exit 2), not "no live session"
        assert "name a user" in failed(
            run("sessions", "revoke-user", blank, "--yes", prefix=redis_prefix), 2
        )


def test_revoke_user_of_a_session_ends_every_session_of_its_user(
    redis_prefix: str, ids: list[str], store: RedisStore
) -> None:
    said = ok(run("sessions", "revoke-user", "--of", ids[3], "--yes", prefix=redis_prefix))
    assert said == "revoked 2 sessions of user0\n"  # ids[0] and ids[3]
    manager = SessionManager(store)
    statuses = [manager.get(i).status for i in ids[:4]]  # type: ignore[union-attr]
    assert statuses == ["revoked", "active", "active", "revoked"]
    again = failed(run("sessions", "revoke-user", "--of", ids[3], "--yes", prefix=redis_prefix), 1)
    assert "user 'user0' (of session" in again and "no live session to revoke" in again
    unknown = failed(
        run("sessions", "revoke-user", "--of", "f" * 32, "--yes", prefix=redis_prefix), 1
    )
    assert "no such session; nothing was revoked" in unknown
    both = ["sessions", "revoke-user", "user1", "--of", ids[1], "--yes"]
    assert "give no USER and no --keep" in failed(run(*both, prefix=redis_prefix), 2)
    assert manager.get(ids[1]).status == "active"  # type: ignore[union-attr]
    args = ("sessions", "revoke-user", "--of", ids[4], "--yes", "--json")
    assert json.loads(ok(run(*args, prefix=redis_prefix))) == {"user": "user1", "revoked": 2}


def test_revocations_carry_the_operators_reason_and_a_bulk_one_says_so(
    redis_prefix: str, ids: list[str]
) -> None:
    ok(run("sessions", "revoke", ids[1], "--yes", "--reason", "ticket 7", prefix=redis_prefix))
    args = ["sessions", "revoke-user", "user0", "--yes", "--actor", "ops"]
    ok(run(*args, "--reason", "stolen laptop", prefix=redis_prefix))
    entries = json.loads(ok(run("audit", "--action", "revoke", "--json", prefix=redis_prefix)))
    reasons = {e["sessionId"]: e["reason"] for e in entries}
    assert reasons[ids[1]] == "ticket 7"
    assert reasons[ids[0]] == reasons[ids[3]] == "every live session of its user: stolen laptop"


def test_revoke_user_says_when_sessions_keep_appearing(
    redis_prefix: str, ids: list[str], store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user signing in again at every revocation: revoke-user gives up after its
    rounds with a message (exit 1), not a traceback. (In-process, to sign in there.)"""
    from click.testing import CliRunner

    from sessionware.cli.app import cli
    from sessionware.management import REVOKE_ROUNDS

    revoke, made = RedisStore.revoke, iter(range(10**6))

    def revoke_as_user0_signs_in(self: RedisStore, *args: Any, **kwargs: Any) -> bool:
        seed(store, 1, users=1, start=1000 + next(made))  # a new session of user0
        return revoke(self, *args, **kwargs)

    monkeypatch.setattr(RedisStore, "revoke", revoke_as_user0_signs_in)
    env = {"SESSIONWARE_STORE": REDIS_URL, "SESSIONWARE_PREFIX": redis_prefix}
    result = CliRunner().invoke(cli, ["sessions", "revoke-user", "user0", "--yes"], env=env)
    assert result.exit_code == 1, result.output
    assert f"after {REVOKE_ROUNDS} rounds" in result.output and "call it again" in result.output


def test_ttl_takes_durations_and_unlimited(
    redis_prefix: str, ids: list[str], store: RedisStore
) -> None:
    manager = SessionManager(store)
    before = time.time()
    assert "now expires 2w from now" in ok(
        run("sessions", "ttl", ids[0], "2w", prefix=redis_prefix)
    )
    expires = manager.get(ids[0]).expires_at  # type: ignore[union-attr]
    assert expires is not None
    two_weeks = dt.timedelta(weeks=2).total_seconds()
    assert before + two_weeks <= expires.timestamp() <= time.time() + two_weeks
    never = ok(run("sessions", "ttl", ids[0], "unlimited", "--actor", "ops", prefix=redis_prefix))
    assert never.strip() == f"session {ids[0]} never expires"
    assert manager.get(ids[0]).expires_at is None  # type: ignore[union-attr]
    # each change is audit-logged: by --actor, else the login name
    newest, older = manager.audit_log(limit=2)
    assert (newest.actor, newest.action, newest.session_id) == ("ops", "ttl", ids[0])
    assert (older.actor, older.action) == (getpass.getuser(), "ttl")
    ttls = json.loads(ok(run("audit", "--action", "ttl", "--json", prefix=redis_prefix)))
    assert [e["actor"] for e in ttls] == ["ops", getpass.getuser()]
    for bad in ("3x", "-5m"):  # a minus sign is a bad duration, not an unknown option
        assert "invalid duration" in failed(
            run("sessions", "ttl", ids[0], bad, prefix=redis_prefix), 2
        )
    for typo in (["--acter", "kim", ids[0], "1h"], [ids[0], "1h", "--jsn"]):  # not the id
        told = failed(run("sessions", "ttl", *typo, prefix=redis_prefix), 2)
        assert f"No such option '{typo[0] if typo[0] != ids[0] else typo[2]}'" in told
    assert "Did you mean --actor?" in told or "Did you mean '--actor'?" in failed(
        run("sessions", "ttl", "--acter", "kim", ids[0], "1h", prefix=redis_prefix), 2
    )
    ok(run("sessions", "ttl", ids[0], "1h", "--actor", "-ops", prefix=redis_prefix))  # a value
    assert manager.audit_log(limit=1)[0].actor == "-ops"
    failed(run("sessions", "ttl", "f" * 32, "1h", prefix=redis_prefix), 1)
    # --json: the session as `show --json` gives it now
    before = time.time()
    shown = json.loads(ok(run("sessions", "ttl", ids[5], "1h", "--json", prefix=redis_prefix)))
    expires = manager.get(ids[5]).expires_at  # type: ignore[union-attr]
    assert shown["id"] == ids[5] and expires is not None
    assert dt.datetime.fromisoformat(shown["expiresAt"]) == expires
    assert before + 3600 <= expires.timestamp() <= time.time() + 3600
    never = ok(run("sessions", "ttl", ids[5], "unlimited", "--json", prefix=redis_prefix))
    assert json.loads(never)["expiresAt"] is None


def test_export_streams_every_matching_session(
    redis_prefix: str, ids: list[str], store: RedisStore, tmp_path: Path
) -> None:
    document = json.loads(ok(run("sessions", "export", "--user", "user2", prefix=redis_prefix)))
    assert document["items"] == [
        {"appId": "shop", "userEmail": "user2@example.test", "payload": {"cart": ["sku", i]}}
        for i in (5, 2)
    ]
    assert (document["totalItems"], document["pageSize"], document["totalPages"]) == (2, 2, 1)

    SessionManager(store).revoke(ids[0], actor="ops")
    target = tmp_path / "all.jsonl"
    out = ok(
        run(
            "sessions",
            "export",
            "--include-metadata",
            "--jsonl",
            "-o",
            str(target),
            prefix=redis_prefix,
        )
    )
    assert out == ""
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["id"] for line in lines] == ids[::-1]
    assert lines[-1]["status"] == "revoked" and lines[-1]["payload"] == {}
    assert not list(tmp_path.glob("*.part"))
    empty = json.loads(ok(run("sessions", "export", "--app", "other", prefix=redis_prefix)))
    assert empty == {"items": [], "page": 0, "pageSize": 0, "totalItems": 0, "totalPages": 0}
    assert "active" in failed(
        run("sessions", "export", "--status", "revoked", prefix=redis_prefix), 2
    )


def test_stats_counts_by_status(redis_prefix: str, ids: list[str], store: RedisStore) -> None:
    SessionManager(store).revoke(ids[0], actor="ops")
    counts = json.loads(ok(run("sessions", "stats", "--json", prefix=redis_prefix)))
    assert counts == {"total": 6, "active": 5, "expired": 0, "revoked": 1}
    assert "revoked" in ok(run("sessions", "stats", prefix=redis_prefix))


def test_audit_filters_by_actor_and_action(redis_prefix: str, ids: list[str]) -> None:
    ok(run("sessions", "reveal", ids[0], "--reason", "r1", "--actor", "ann", prefix=redis_prefix))
    ok(run("sessions", "revoke", ids[1], "--yes", "--actor", "ann", prefix=redis_prefix))
    ok(run("sessions", "revoke", ids[2], "--yes", "--actor", "bob", prefix=redis_prefix))
    entries = json.loads(ok(run("audit", "--actor", "ann", "--json", prefix=redis_prefix)))
    assert [(e["action"], e["sessionId"]) for e in entries] == [
        ("revoke", ids[1]),
        ("reveal", ids[0]),
    ]
    revokes = json.loads(ok(run("audit", "--action", "revoke", "--json", prefix=redis_prefix)))
    assert [e["actor"] for e in revokes] == ["bob", "ann"]
    assert "r1" in ok(run("audit", prefix=redis_prefix))
    nobody = run("audit", "--actor", "nobody", prefix=redis_prefix)
    assert "no audit entries match these filters" in nobody.stderr and nobody.returncode == 0
    assert json.loads(ok(run("audit", "--actor", "nobody", "--json", prefix=redis_prefix))) == []


def test_an_export_that_matches_nothing_says_so(redis_prefix: str, ids: list[str]) -> None:
    empty = run("sessions", "export", "--user", "nobody", prefix=redis_prefix)
    assert json.loads(ok(empty))["items"] == []
    assert "no sessions matched" in empty.stderr


def test_an_unreachable_store_exits_3_with_the_password_masked(redis_prefix: str) -> None:
    url = "redis://:hunter2-secret@127.0.0.1:1/0"
    result = run("sessions", "list", store=url)
    err = failed(result, 3)
    assert "redis://:***@127.0.0.1:1/0" in err
    assert "hunter2" not in err + result.stdout


def test_a_password_redis_refuses_is_a_configuration_error_told_unmangled(
    redis_prefix: str,
) -> None:
    """The test server has no password: AUTH is refused, which is the URL's fault (exit
    2, as PostgreSQL's refused login), and the one-letter password is masked where the
    message repeats it, not in every word holding its letter."""
    host = REDIS_URL.split("://", 1)[1]
    err = failed(run("sessions", "list", store=f"redis://:e@{host}", prefix=redis_prefix), 2)
    assert "store refused (redis://:***@" in err
    assert "AUTH <password> called without any password configured" in err
    assert "configuration is correct? The server has no password: remove it from" in err


@pytest.mark.parametrize(
    ("url", "code", "shown"),
    [  # a base64 password holds a raw "/": masked, and the client library's misreading too
        ("postgresql://bob:hunt/er2Zq9@127.0.0.1:1/test", 3, "postgresql://bob:***@127.0.0.1:1/"),
        ("redis://:hunt/er2Zq9@127.0.0.1:1/0", 2, "redis://:***@127.0.0.1:1/0"),
        ("rediss://bob:hunt/er2Zq9@127.0.0.1:1/0", 2, "rediss://bob:***@127.0.0.1:1/0"),
        ("redis+sentinel://:hunt/er2Zq9@127.0.0.1:1/mymaster", 2, "got ':***'"),
    ],
)
def test_a_password_holding_a_slash_is_masked_in_every_message(
    url: str, code: int, shown: str
) -> None:
    result = run("sessions", "list", store=url)
    err = failed(result, code)
    assert shown in err
    assert "hunt" not in err + result.stdout and "er2Zq9" not in err + result.stdout


def test_usage_errors_exit_2(redis_prefix: str) -> None:
    assert "SESSIONWARE_STORE" in failed(run("sessions", "list", store=None), 2)
    assert "unknown store URL" in failed(run("sessions", "list", store="mysql://h/db"), 2)
    failed(run("sessions", "nonsense"), 2)


def test_python_dash_m_runs_the_same_command(redis_prefix: str, ids: list[str]) -> None:
    env_args: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 60}
    command = [sys.executable, "-m", "sessionware", "--store", REDIS_URL, "--prefix", redis_prefix]
    result = subprocess.run([*command, "sessions", "show", ids[0], "--json"], **env_args)
    assert json.loads(ok(result))["id"] == ids[0]


def test_an_empty_listing_names_the_store_and_prefix_it_read(
    redis_prefix: str, ids: list[str]
) -> None:
    result = run("sessions", "list", prefix=redis_prefix + "elsewhere:")
    empty = ok(result)
    assert "0 sessions in all" in empty and "page 0" not in empty  # the table alone
    assert f"no sessions are in {REDIS_URL}" in result.stderr
    assert f"under the key prefix '{redis_prefix}elsewhere:'" in result.stderr
    assert "--prefix" in result.stderr
    in_url = run("sessions", "list", store=f"{REDIS_URL}?prefix={redis_prefix}elsewhere:")
    assert "change ?prefix= in the store URL" in in_url.stderr  # not a second --prefix
    filtered = run("sessions", "list", "--user", "nobody", prefix=redis_prefix)
    assert "no sessions match" in filtered.stderr
    as_json = run("sessions", "list", "--json", prefix=redis_prefix + "elsewhere:")
    assert json.loads(ok(as_json))["totalItems"] == 0 and as_json.stderr == ""  # JSON alone
    assert "6 sessions in all" in ok(listed := run("sessions", "list", prefix=redis_prefix))
    assert listed.stderr == ""  # a listing that found sessions needs no hint


def test_stats_export_and_audit_of_an_empty_store_name_the_store_and_prefix(
    redis_prefix: str, ids: list[str], tmp_path: Path
) -> None:
    """A mistyped prefix: all zeros and an empty export used to exit 0 in silence."""
    typo = redis_prefix + "typo:"
    where = f"under the key prefix '{typo}'"
    stats = run("sessions", "stats", prefix=typo)
    assert ok(stats) and where in stats.stderr and "sessions stats" in stats.stderr
    export = run("sessions", "export", "-o", str(tmp_path / "e.json"), prefix=typo)
    assert where in export.stderr and "sessions export" in export.stderr
    audit = run("audit", prefix=redis_prefix + "typo2:")
    assert "the audit log is empty in" in audit.stderr
    filtered = run("sessions", "export", "--user", "nobody", "-o", str(tmp_path / "f.json"),
                   prefix=redis_prefix)  # fmt: skip
    assert "no sessions matched" in filtered.stderr and "prefix" not in filtered.stderr
    assert run("sessions", "stats", prefix=redis_prefix).stderr == ""


def test_audit_filters_find_an_operators_entry_behind_a_full_log_of_end_users(
    redis_prefix: str, ids: list[str], store: RedisStore
) -> None:
    from sessionware.stores.base import AuditRecord

    ok(run("sessions", "reveal", ids[0], "--reason", "ticket 5", "--actor", "support:kim",
           prefix=redis_prefix))  # fmt: skip
    for i in range(10_001):  # newer than the reveal: "my sessions" entries
        store.add_audit(AuditRecord(time.time(), f"user:u{i}", "revoke", f"x{i}"))
    for args in (["--action", "reveal"], ["--actor", "support:kim"]):
        found = json.loads(ok(run("audit", *args, "--json", prefix=redis_prefix)))
        assert [(e["actor"], e["action"]) for e in found] == [("support:kim", "reveal")]
    listed = json.loads(ok(run("audit", "--limit", "20000", "--json", prefix=redis_prefix)))
    assert len(listed) == 10_000 + 1 and listed[-1]["action"] == "reveal"  # (users: bounded)
    assert [e["byEndUser"] for e in (listed[0], listed[-1])] == [True, False]
    table = ok(run("audit", "--limit", "2", prefix=redis_prefix))
    assert table.count("end user") == 2 and "operator" not in table  # (a column of its own)
    for actor in ("user:me", " User:me"):  # (the check reads the name as a person would)
        told = failed(run("sessions", "revoke", ids[1], "--yes", "--actor", actor,
                          prefix=redis_prefix), 2)  # fmt: skip
        assert "keeps for end users' own actions" in told


def test_a_filter_that_matches_nothing_does_not_blame_the_prefix(
    redis_prefix: str, ids: list[str]
) -> None:
    filtered = run("sessions", "list", "--user", "nobody", prefix=redis_prefix)
    assert "0 sessions in all" in ok(filtered)
    assert filtered.stderr == "no sessions match these filters\n"  # the store holds 6


def test_a_page_past_the_last_says_there_is_none(redis_prefix: str, ids: list[str]) -> None:
    out = ok(run("sessions", "list", "--page", "99", prefix=redis_prefix))
    assert "there is no page 99: pages 0 to 0, 6 sessions in all" in out
    assert "page 99 of" not in out


def test_show_an_empty_id_says_so(redis_prefix: str, ids: list[str]) -> None:
    for args in (("show", ""), ("revoke", "", "--yes"), ("ttl", "", "1h")):
        said = failed(run("sessions", *args, prefix=redis_prefix), 2)
        assert said == "Error: the session id is empty: pass an id as `sessions list` shows it\n"


def test_show_writes_the_device_as_lines(redis_prefix: str, store: RedisStore) -> None:
    now = time.time()
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
    first, last = devices.Device(agent, "203.0.113.9"), devices.Device(agent, None)
    meta = Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=now + 60,
        device=devices.encode(devices.DeviceRecord(first, last)),
    )
    store.create("d" * 32, {"a": codec.encode("a", 1)}, meta)
    out = ok(run("sessions", "show", "d" * 32, prefix=redis_prefix))
    assert f"first: Firefox on Linux from 203.0.113.9 ({agent})" in out
    assert f"last: Firefox on Linux ({agent})" in out
    assert "{" not in out and "userAgent" not in out


def test_a_postgresql_server_that_refuses_connections_is_one_line_and_exit_3() -> None:
    """Nothing listens on 127.0.0.1:1: the command says so once, without the driver's
    own log lines for each attempt, and without waiting out a long timeout twice."""
    result = run("sessions", "list", store="postgresql://postgres:pw-secret@127.0.0.1:1/test")
    err = failed(result, 3)
    assert len(err.strip().splitlines()) == 1, err
    assert "refused" in err.lower() and "pw-secret" not in err


def test_a_postgresql_url_naming_no_such_database_or_role_exits_2_not_3() -> None:
    """The server answered: the URL is wrong, not the server down (the message says
    'the configuration, not an outage'); exit 2, as for any URL that cannot be used."""
    for url in (
        "postgresql://postgres@127.0.0.1:5432/sessionware_no_such_db",
        "postgresql://sessionware_no_such_role@127.0.0.1:5432/test",
    ):
        err = failed(run("sessions", "list", store=url), 2)
        assert "store refused" in err and "the configuration, not an outage" in err
