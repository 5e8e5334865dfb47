"""``sessionware types``: the session types kept in the store, for the people who own them.

Each subcommand is one ``SessionManager(store).types`` call (see
``sessionware.session_types.registry``); a change reaches every worker within
``registry.CACHE_SECONDS``, with no redeploy. ``create``, ``update`` and ``delete``
are audit-logged (action ``type``) under ``--actor``, else the login name.

A schema is given as JSON, inline or ``@FILE`` (``@-``: stdin), in either of the
forms ``SessionType`` takes (field -> type name, or field -> example value).
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import CorruptRecord, InvalidSessionType, SessionTypeInUse
from ..session_types.model import PUBLIC_FIELDS, SessionType
from ..session_types.registry import KIND
from ..visible import visible
from . import output
from .app import (
    BadUsage,
    Failure,
    Operator,
    actor_option,
    confirm,
    json_option,
    login_name,
    pass_operator,
    yes_option,
)

MAX_SCHEMA_BYTES = 1024 * 1024  # a schema file larger than this is a slip, not a schema


@click.group()
def types() -> None:
    """Session types: list, show, create, update, delete."""


def _as_json(session_type: SessionType, live: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(session_type.to_document())  # the stored form
    data["lifetime"] = session_type.lifetime
    if live is not None:
        data["liveSessions"] = live
    return data


@types.command("list")
@json_option
@pass_operator
def list_types(operator: Operator, /, as_json: bool) -> None:
    """Every session type, by tag, with its live sessions."""
    registry = operator.manager.types
    found = [(t, registry.live_sessions(t.tag)) for t in registry.fetch_all()]
    if as_json:
        output.print_json([_as_json(t, live) for t, live in found])
        return
    if not found:
        output.note(f"no session types are in {operator.where('types list')}")
        return
    rows = [(t.tag, t.name, t.lifetime, t.selector, live) for t, live in found]
    output.rows(("tag", "name", "lifetime", "selector", "live sessions"), rows)


@types.command()
@click.argument("tag")
@json_option
@pass_operator
def show(operator: Operator, /, tag: str, as_json: bool) -> None:
    """One session type: its fields, schema and live sessions."""
    registry = operator.manager.types
    found = registry.fetch(tag)
    data = _as_json(found, registry.live_sessions(found.tag))
    if as_json:
        output.print_json(data)
        return
    data["schema"] = json.dumps(data["schema"], ensure_ascii=False)  # one line: --json has it whole
    output.mapping(data, as_json=False)


def _schema(text: str | None) -> Any:
    """``--schema``: JSON text, or ``@FILE`` (``@-``: stdin) holding it; ``None`` if not given."""
    if text is None:
        return None
    where = "--schema"
    if text.startswith("@"):
        where = text[1:] or "-"
        try:
            with click.open_file(where, encoding="utf-8") as source:
                text = source.read(MAX_SCHEMA_BYTES + 1)
        except OSError as error:
            raise BadUsage(
                f"cannot read {output.clipped(where)}: {error.strerror or error}"
            ) from None
        except UnicodeDecodeError:
            raise BadUsage(f"{output.clipped(where)} is not UTF-8 text") from None
        if len(text) > MAX_SCHEMA_BYTES:
            raise BadUsage(f"{output.clipped(where)} is over {MAX_SCHEMA_BYTES} characters")
    try:
        return json.loads(text)
    except ValueError as error:
        raise BadUsage(
            f"the schema in {output.clipped(where)} is not JSON ({error}); give an object such "
            'as \'{"userId": "string", "role": "string?"}\''
        ) from None


def _fields(**given: Any) -> dict[str, Any]:
    return {name: value for name, value in given.items() if value is not None}


definition_options = [
    click.option("--name", help="For people: 'Checkout session'."),
    click.option("--description", help="What the type is for."),
    click.option("--schema", metavar="JSON|@FILE", help="What a session may hold, as JSON."),
    click.option("--selector", metavar="'$Session{field}'", help="The field naming the user."),
    click.option("--expiry", type=int, help="How many periods a session lasts."),
    click.option("--period", help="seconds, minutes, hours, days, weeks, months or years."),
]


def with_definition_options(fn: Any) -> Any:
    for option in reversed(definition_options):
        fn = option(fn)
    return fn


@types.command()
@with_definition_options
@click.option("--tag", help="The unique key [default: made from the name].")
@actor_option
@json_option
@pass_operator
def create(
    operator: Operator, /, actor: str | None, as_json: bool, schema: str | None, **given: Any
) -> None:
    """Register a new session type (--name is required; expiry and period default to 1 day)."""
    if given["name"] is None:
        raise click.UsageError("name the type: --name 'Checkout session'")
    fields = _fields(**given, schema=_schema(schema))
    try:
        made = operator.manager.types.create(actor=actor or login_name(), **fields)
    except InvalidSessionType as error:  # a bad definition: exit 2; a taken tag: refused
        tag = SessionType(**fields).tag if error.field == "tag" else None
        if tag is None or operator.manager.types.store.registry_get(KIND, tag) is None:
            raise
        raise Failure(
            f"a session type with tag {visible(tag)} exists: change it with "
            f"'sessionware types update {visible(tag)} ...', or give this one another "
            "--tag (or --name)"
        ) from None
    _done(f"created session type {made.tag} ({made.lifetime})", made, as_json)


@types.command()
@click.argument("tag")
@with_definition_options
@click.option("--new-tag", help="Rename the type (refused while sessions of it live).")
@click.option("--no-selector", is_flag=True, help="Remove the selector: sessions name no user.")
@actor_option
@json_option
@pass_operator
def update(
    operator: Operator,
    /,
    tag: str,
    actor: str | None,
    as_json: bool,
    schema: str | None,
    no_selector: bool,
    **given: Any,
) -> None:
    """Change some fields of the type TAG, keeping the others. Sessions already started
    keep the lifetime they were given; a new schema applies to their next writes."""
    if no_selector and given["selector"] is not None:
        raise click.UsageError("give --selector or --no-selector, not both")
    changes = _fields(**given, schema=_schema(schema))
    if no_selector:
        changes["selector"] = None
    if not changes:
        known = ", ".join(f"--{name}" for name in PUBLIC_FIELDS if name != "tag")
        raise click.UsageError(f"say what to change: {known}, --new-tag or --no-selector")
    try:
        made = operator.manager.types.update(tag, actor=actor or login_name(), **changes)
    except SessionTypeInUse as error:  # a rename: the library's advice names force=True
        raise Failure(
            f"cannot rename session type {visible(tag)}: {error.live} live session(s) carry "
            "its tag; revoke them (sessions revoke-user) or let them expire, then rename; or "
            f"create the type under the new tag and, once nothing uses {visible(tag)}, delete "
            "it with types delete --force"
        ) from error
    _done(f"updated session type {made.tag}", made, as_json)


@types.command()
@click.argument("tag")
@click.option("--force", is_flag=True, help="Even while sessions of it live (they run out).")
@actor_option
@yes_option
@pass_operator
def delete(operator: Operator, /, tag: str, force: bool, actor: str | None, yes: bool) -> None:
    """Remove the type TAG; refused while sessions of it live, unless --force."""
    registry = operator.manager.types
    try:
        found = registry.fetch(tag)
        tag, name = found.tag, found.name
    except CorruptRecord:  # (its message says to pass --force)
        if not force:
            raise
        name = "its stored document unreadable"
    confirm(f"Delete session type {visible(tag)} ({visible(name)})?", yes)
    try:
        registry.delete(tag, force=force, actor=actor or login_name())
    except SessionTypeInUse as error:
        raise Failure(
            f"session type {visible(tag)} has {error.live} live session(s): revoke "
            "them first (sessions revoke-user, or let them expire), or pass --force"
        ) from error
    output.message(f"deleted session type {visible(tag)}")
    output.note(
        f"apps bound to {visible(tag)} (session_type) keep the type as they last read "
        "it, and go on making sessions of it, until they restart; then they refuse to start: "
        "bind them to another type, or create this one again"
    )


def _done(said: str, made: SessionType, as_json: bool) -> None:
    if as_json:
        output.print_json(_as_json(made))
    else:
        output.message(visible(said))
