"""``sessionware types``: the real console script managing session types in the real Redis.

Each test uses its own key prefix; what the command prints, its exit code, what the
store's registry then holds and what the audit log says are all checked.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from sessionware import SessionManager
from sessionware.stores.redis import RedisStore

from ..conftest import REDIS_URL
from .helpers import run, run_on_terminal, seed
from .test_commands import failed, ok

pytestmark = pytest.mark.redis

CHECKOUT = [
    "--name",
    "Checkout session",
    "--schema",
    '{"cartId": "string", "details": {"username": "string", "total": "number"}}',
    "--selector",
    "$Session{details}{username}",
    "--expiry",
    "1",
    "--period",
    "hour",
]


def test_create_list_show_update_delete(redis_prefix: str, store: RedisStore) -> None:
    said = ok(run("types", "create", *CHECKOUT, "--actor", "owner:ann", prefix=redis_prefix))
    assert said == "created session type checkout-session (1 hour)\n"
    made = SessionManager(store).types.fetch("checkout-session")
    assert made.user_of({"cartId": "c1", "details": {"username": "ada", "total": 2}}) == "ada"
    seed(store, 2, app="checkout-session")  # two live sessions of the type

    listed = json.loads(ok(run("types", "list", "--json", prefix=redis_prefix)))
    assert [(t["tag"], t["lifetime"], t["liveSessions"]) for t in listed] == [
        ("checkout-session", "1 hour", 2)
    ]
    table = ok(run("types", "list", prefix=redis_prefix))
    assert "checkout-session" in table and "$Session{details}{username}" in table
    shown = ok(run("types", "show", "checkout-session", prefix=redis_prefix))
    assert '"username": "string"' in shown and "1 hour" in shown

    changed = run(
        "types", "update", "checkout-session", "--expiry", "2", "--description", "one purchase",
        "--actor", "owner:ann", "--json", prefix=redis_prefix,
    )  # fmt: skip
    assert json.loads(ok(changed))["lifetime"] == "2 hours"
    assert SessionManager(store).types.fetch("checkout-session").description == "one purchase"

    refused = failed(run("types", "delete", "checkout-session", "--yes", prefix=redis_prefix), 1)
    assert "2 live session(s)" in refused and "--force" in refused
    renamed = run(
        "types", "update", "checkout-session", "--new-tag", "cart", prefix=redis_prefix
    )  # fmt: skip
    refused = failed(renamed, 1)  # the command's words, not the library's force=True
    assert "2 live session(s)" in refused and "types delete --force" in refused
    assert "force=True" not in refused
    forced = run("types", "delete", "checkout-session", "--force", "--yes", prefix=redis_prefix)
    assert ok(forced) == "deleted session type checkout-session\n"
    assert "keep the type as they last read it" in forced.stderr  # (running apps: say so)
    assert SessionManager(store).types.fetch_all() == []

    audit = json.loads(ok(run("audit", "--action", "type", "--json", prefix=redis_prefix)))
    assert [(e["actor"], e["reason"]) for e in audit] == [
        (getpass.getuser(), "deleted checkout-session; 2 live sessions left to expire"),
        (
            "owner:ann",
            "updated checkout-session: description '-' -> 'one purchase'; "
            "lifetime '1 hour' -> '2 hours'",
        ),
        ("owner:ann", "created checkout-session (1 hour)"),
    ]


def test_a_schema_from_a_file_and_a_selector_removed(redis_prefix: str, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"userId": "string", "role": "string?"}', encoding="utf-8")
    made = run(
        "types", "create", "--name", "User session", "--schema", f"@{schema}",
        "--selector", "$Session{userId}", "--expiry", "7", "--period", "days", "--json",
        prefix=redis_prefix,
    )  # fmt: skip
    assert json.loads(ok(made))["schema"] == {"userId": "string", "role": "string?"}
    piped = run(
        "types", "update", "user-session", "--schema", "@-", "--no-selector", "--json",
        prefix=redis_prefix, input='{"userId": "string"}',
    )  # fmt: skip
    document = json.loads(ok(piped))
    assert document["schema"] == {"userId": "string"} and document["selector"] is None


def test_bad_definitions_exit_2_naming_the_fault(redis_prefix: str, tmp_path: Path) -> None:
    def refused(*args: str) -> str:
        return failed(run("types", *args, prefix=redis_prefix), 2)

    assert "not JSON" in refused("create", "--name", "X", "--schema", "{bad")
    assert "is not a unit" in refused("create", "--name", "X", "--period", "fortnights")
    assert "'integer'" in refused("create", "--name", "X", "--schema", '{"n": "int"}')
    assert "--name" in refused("create", "--expiry", "2")
    assert "cannot read" in refused("create", "--name", "X", "--schema", f"@{tmp_path}/none")
    ok(run("types", "create", "--name", "X", prefix=redis_prefix))
    taken = failed(run("types", "create", "--name", "X", prefix=redis_prefix), 1)  # refused
    assert "exists: change it with 'sessionware types update x ...'" in taken
    assert "say what to change" in refused("update", "x")
    assert "not both" in refused("update", "x", "--selector", "$Session{a}", "--no-selector")


def test_unknown_tags_exit_1_naming_the_known_ones(redis_prefix: str) -> None:
    ok(run("types", "create", "--name", "Cart", prefix=redis_prefix))
    for args in (("show", "nope"), ("update", "nope", "--expiry", "2"), ("delete", "nope", "-y")):
        told = failed(run("types", *args, prefix=redis_prefix), 1)
        assert "'nope'" in told and "cart" in told


def test_delete_asks_on_a_terminal_and_refuses_in_a_pipe(
    redis_prefix: str, store: RedisStore
) -> None:
    ok(run("types", "create", "--name", "Cart", prefix=redis_prefix))
    assert "pass --yes" in failed(run("types", "delete", "cart", prefix=redis_prefix), 1)
    args = ["--store", REDIS_URL, "--prefix", redis_prefix, "types", "delete", "cart"]
    code, shown = run_on_terminal(args, answer=b"n\n")
    assert code == 1 and "Delete session type cart (Cart)?" in shown
    assert [t.tag for t in SessionManager(store).types.fetch_all()] == ["cart"]


def test_an_unreadable_type_is_deleted_with_force(redis_prefix: str, store: RedisStore) -> None:
    store.registry_put("session-type", "broken", b"{not json")
    refused = failed(run("types", "delete", "broken", "--yes", prefix=redis_prefix), 1)
    assert "sessionware types delete broken --force" in refused
    said = ok(run("types", "delete", "broken", "--force", "--yes", prefix=redis_prefix))
    assert said == "deleted session type broken\n"
    assert store.registry_get("session-type", "broken") is None


def test_an_empty_registry_names_the_store_and_prefix(redis_prefix: str) -> None:
    result = run("types", "list", prefix=redis_prefix)
    assert ok(result) == "" and redis_prefix in result.stderr
    assert "sessionware --prefix PREFIX types list" in result.stderr  # this command again
    assert json.loads(ok(run("types", "list", "--json", prefix=redis_prefix))) == []
