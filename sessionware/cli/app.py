"""The ``sessionware`` command: each subcommand is one SessionManager call.

Exit codes: 0 done, 1 not found or refused, 2 usage (bad options, unknown
store URL, missing extra), 3 the store is unreachable.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import itertools
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import click

from ..errors import (
    ConfigurationError,
    CorruptRecord,
    MissingExtra,
    RevocationIncomplete,
    SessionTypeInUse,
    StoreUnavailable,
    UnknownSessionType,
)
from ..export import stream_document, to_json
from ..management import AUDIT_ACTIONS, MAX_PAGE_SIZE, STATUSES, SessionManager, operator_name
from ..stores.base import SORT_FIELDS
from ..stores.urls import masked, open_store, scrubbed, without_prefix
from ..visible import visible
from . import output
from .durations import parse_duration

NOT_FOUND, USAGE, UNREACHABLE = 1, 2, 3


class Failure(click.ClickException):
    """An expected failure (not found, refused): its message on stderr, no traceback."""

    exit_code = NOT_FOUND


class BadUsage(Failure):
    """Options the store or the manager refused, or a missing extra."""

    exit_code = USAGE


class Unreachable(Failure):
    """The store could not be reached or failed."""

    exit_code = UNREACHABLE


class Operator:
    """The store named on the command line, opened on first use, closed at exit."""

    def __init__(self, url: str | None, prefix: str | None) -> None:
        self.url, self.prefix = url, prefix
        self._manager: SessionManager | None = None

    @property
    def manager(self) -> SessionManager:
        if self._manager is None:
            if not self.url:
                raise click.UsageError("name the store: --store URL or SESSIONWARE_STORE")
            try:
                store = open_store(self.url, self.prefix, existing=True)  # creates no tables
            except (ConfigurationError, MissingExtra):
                raise
            except (ValueError, KeyError) as error:  # a client library's reading of the URL
                reason = scrubbed(f"{type(error).__name__}: {error}", self.url)
                raise BadUsage(
                    f"the store URL {masked(self.url)!r} cannot be used ({reason}); "
                    "check its host, port and options"
                ) from None
            self._manager = SessionManager(store)
            has_tables = getattr(store, "has_tables", None)
            if has_tables is not None and not has_tables():
                raise Failure(
                    f"no sessionware tables are in {self.where()} (nothing was created: "
                    "this command reads the tables an app's store made)"
                )
        return self._manager

    def where(self, command: str = "sessions list") -> str:
        """The store and its prefix, as a person would check them (credentials masked):
        an app whose store uses another prefix keeps its sessions out of this one's
        sight, and an empty listing says nothing else. ``command``: the one to run
        again with the right prefix."""
        store = self.manager.store
        prefix = getattr(store, "prefix", None)
        where = masked(self.url or "?")
        if not isinstance(prefix, str):
            return where
        kind = "key prefix" if type(store).__name__ == "RedisStore" else "table prefix"
        how = (
            "change ?prefix= in the store URL"
            if self.url and without_prefix(self.url)[1] is not None
            else f"pass it: sessionware --prefix PREFIX {command} (or SESSIONWARE_PREFIX)"
        )
        return f"{where} under the {kind} {prefix!r}; if your app's store has another, {how}"

    def close(self) -> None:
        close = getattr(self._manager and self._manager.store, "close", None)
        if close is not None:
            close()


class _Root(click.Group):
    """Turns sessionware's expected errors into messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnicodeEncodeError as error:  # a stdout that is no UTF-8 (PYTHONIOENCODING)
            raise BadUsage(
                f"stdout's encoding ({getattr(sys.stdout, 'encoding', '?')}) cannot write "
                f"{error.object[error.start : error.end]!a} of the output: run with "
                "PYTHONIOENCODING=utf-8 (or a UTF-8 locale)"
            ) from None
        except KeyboardInterrupt:  # Ctrl-C: 128 + SIGINT, as the signal's own exit would
            # be (click's is 1, "not found or refused"); a prompt's Ctrl-C stays click's
            sys.stderr.write("interrupted\n")
            raise SystemExit(128 + 2) from None
        except StoreUnavailable as error:
            url, told = _told(ctx, error)
            if error.misconfigured:  # the store answered: the URL is wrong, not the server
                raise BadUsage(f"store refused ({masked(url or '?')}): {told}") from error
            raise Unreachable(f"store unreachable ({masked(url or '?')}): {told}") from error
        except (ConfigurationError, MissingExtra) as error:
            raise BadUsage(_told(ctx, error)[1]) from error
        except CorruptRecord as error:  # an encrypted or damaged session's content
            raise Failure(visible(str(error))) from error
        except RevocationIncomplete as error:  # sign-ins as fast as revoke-user ends them
            raise Failure(str(error)) from error
        except (UnknownSessionType, SessionTypeInUse) as error:
            raise Failure(visible(str(error))) from error


def _told(ctx: click.Context, error: Exception) -> tuple[str | None, str]:
    """The store URL, if one was given, and ``error``'s message without that URL's
    credentials: a client library that misread the URL (a password holding a raw
    ``/``) may repeat them, whole or in pieces, as a host, port or path."""
    url = ctx.obj.url if isinstance(ctx.obj, Operator) else None
    return url, str(error) if not url else scrubbed(str(error), url)


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; without one, refuse unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise Failure(f"{question} Refused: no terminal to confirm on; pass --yes")
    if not click.confirm(question, default=False):
        raise Failure("cancelled")


def login_name() -> str:
    """Who runs the command, for the audit log when ``--actor`` is not given."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


pass_operator = click.make_pass_decorator(Operator)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, not a table.")
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def _operator_actor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--actor``, unless it takes a form the audit log keeps for end users' actions."""
    try:
        return None if value is None else operator_name(value, "--actor")
    except ConfigurationError as error:
        raise click.BadParameter(str(error)) from error


actor_option = click.option(
    "--actor",
    callback=_operator_actor,
    help="Who acts, for the audit log [default: login name].",
)


def filter_options(fn: Any) -> Any:
    """The listing filters every listing-like command takes."""
    for option in reversed(
        [
            click.option("--search", help="Substring of id, user, email, app or status."),
            click.option("--status", type=click.Choice(STATUSES)),
            click.option("--app", help="Exact app id."),
            click.option("--user", help="Exact user."),
        ]
    ):
        fn = option(fn)
    return fn


@click.group(cls=_Root)
@click.option("--store", envvar="SESSIONWARE_STORE", metavar="URL", help="The session store.")
@click.option("--prefix", envvar="SESSIONWARE_PREFIX", help="Key prefix, where the store has one.")
@click.version_option(package_name="sessionware")
@click.pass_context
def cli(ctx: click.Context, store: str | None, prefix: str | None) -> None:
    """Operate a sessionware session store: list, inspect, revoke, export, audit;
    and the session types kept in it.

    Store URLs: redis://, rediss://, unix:///path?db=0, redis+cluster://,
    redis+sentinel://, sqlite:///path, postgresql://. Exit codes: 0 done, 1 not
    found or refused, 2 usage, 3 store unreachable, 130 interrupted (Ctrl-C).
    """
    # a store's client libraries may log each failed attempt (psycopg_pool's "error
    # connecting"): the command says once, in its one-line error, what failed
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    ctx.obj = Operator(store, prefix)
    ctx.call_on_close(ctx.obj.close)


@cli.group()
def sessions() -> None:
    """Sessions: list, show, reveal, revoke, ttl, export, stats."""


@sessions.command("list")
@filter_options
@click.option("--sort", type=click.Choice(SORT_FIELDS), default="last_activity", show_default=True)
@click.option("--ascending", is_flag=True, help="Sort ascending [default: descending].")
@click.option(
    "--page", type=click.IntRange(min=0), default=0, show_default=True, help="0-based page."
)
@click.option(
    "--page-size",
    type=click.IntRange(1, MAX_PAGE_SIZE),
    default=100,
    show_default=True,
    help=f"Sessions per page, 1 to {MAX_PAGE_SIZE}.",
)
@json_option
@pass_operator
def list_sessions(operator: Operator, /, ascending: bool, as_json: bool, **query: Any) -> None:
    """One page of sessions, as SessionManager.list gives it."""
    manager = operator.manager
    listing = manager.list(descending=not ascending, **query)
    output.page(listing, as_json)
    if listing.total_items or as_json:
        return
    if query_given(query) and manager.list(page_size=1).total_items:
        output.note("no sessions match these filters")  # the store and prefix are right
    else:  # an empty store: perhaps the wrong one, or the wrong prefix
        output.note(f"no sessions are in {operator.where()}")


FILTERS = ("search", "status", "app", "user")  # filter_options' names


def query_given(query: dict[str, Any]) -> bool:
    """Whether a listing's options filter it (an empty store and a narrow filter read
    alike otherwise)."""
    return any(query.get(name) is not None for name in FILTERS)


@sessions.command()
@click.argument("session_id")
@json_option
@pass_operator
def show(operator: Operator, /, session_id: str, as_json: bool) -> None:
    """A session's metadata (never its payload)."""
    output.session(_existing(operator, session_id), as_json)


@sessions.command()
@click.argument("session_id")
@click.option("--reason", required=True, help="Why, for the audit log.")
@actor_option
@pass_operator
def reveal(operator: Operator, /, session_id: str, reason: str, actor: str | None) -> None:
    """A live session's payload as JSON; the read is audit-logged."""
    if not reason.strip():
        raise click.BadParameter(
            "say why, for the audit log (a ticket, a request)", param_hint="'--reason'"
        )
    info = _existing(operator, session_id)
    if info.status != "active":
        raise Failure(f"session {output.clipped(session_id)} is {info.status}: its payload is gone")
    payload = operator.manager.reveal(session_id, actor=actor or login_name(), reason=reason)
    output.print_json(to_json(payload))


@sessions.command()
@click.argument("session_id")
@actor_option
@click.option("--reason", help="Why, for the audit log.")
@yes_option
@click.option("--json", "as_json", is_flag=True, help="Print the session as `show --json` does.")
@pass_operator
def revoke(
    operator: Operator,
    /,
    session_id: str,
    actor: str | None,
    reason: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """End a live session now."""
    info = _existing(operator, session_id)
    shown = output.clipped(session_id)
    if info.status != "active":  # (asked first, a yes would only meet this refusal)
        raise Failure(f"session {shown} is {info.status}, not active: nothing to revoke")
    confirm(f"Revoke session {shown} (user {visible(info.user or '-')})?", yes)
    if not operator.manager.revoke(session_id, actor=actor or login_name(), reason=reason):
        raise Failure(f"session {shown} ended meanwhile: nothing to revoke")
    if as_json:
        output.session(_existing(operator, session_id), as_json=True)
    else:
        output.message(f"revoked {shown}")


@sessions.command("revoke-user")
@click.argument("user", required=False)
@click.option("--keep", metavar="ID", help="A session of the user to leave alive.")
@click.option(
    "--of",
    "of_session",
    metavar="ID",
    help="Instead of USER: the user session ID names (ID itself included).",
)
@actor_option
@click.option("--reason", help="Why, for the audit log (each entry says it was one of many).")
@yes_option
@click.option("--json", "as_json", is_flag=True, help='Print {"user": USER, "revoked": N}.')
@pass_operator
def revoke_user(
    operator: Operator,
    /,
    user: str | None,
    keep: str | None,
    of_session: str | None,
    actor: str | None,
    reason: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """End every live session of USER (but --keep), or of the user of --of ID."""
    if of_session is not None:
        _revoke_user_of(operator, of_session, user, keep, actor, reason, yes, as_json)
        return
    if user is None or not user.strip():  # (no session has a blank user: a slip, not "none")
        raise click.BadParameter("name a user (or --of a session of theirs)", param_hint="'USER'")
    but = f" but {output.clipped(keep)}" if keep else ""
    # a mistyped --keep would end the very session meant to stay: refuse it first
    if keep is not None and all(i.id != keep for i in operator.manager.user_sessions(user)):
        raise Failure(
            f"--keep {output.clipped(keep)} is not a live session of user "
            f"'{output.clipped(user)}': nothing was revoked; pass an id that "
            f"`sessions list --user {output.clipped(user)}` shows"
        )
    confirm(f"Revoke every live session of user '{output.clipped(user)}'{but}?", yes)
    count = operator.manager.revoke_user(
        user, actor=actor or login_name(), keep=keep, reason=reason
    )
    if not count:
        raise Failure(f"user '{output.clipped(user)}' has no live session to revoke")
    _revoked(user, count, as_json)


def _revoke_user_of(
    operator: Operator,
    session_id: str,
    user: str | None,
    keep: str | None,
    actor: str | None,
    reason: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """``revoke-user --of ID``: the user as session ID's record names it."""
    if user is not None or keep is not None:
        raise click.UsageError("--of names the user by a session: give no USER and no --keep")
    info = operator.manager.get(session_id)
    if info is None or not info.user:
        what = "no such session" if info is None else "it names no user"
        raise Failure(f"session {output.clipped(session_id)}: {what}; nothing was revoked")
    named = f"user '{output.clipped(info.user)}' (of session {output.clipped(session_id)})"
    confirm(f"Revoke every live session of {named}?", yes)
    count = operator.manager.revoke_user_of(session_id, actor=actor or login_name(), reason=reason)
    if not count:
        raise Failure(f"{named} has no live session to revoke")
    _revoked(info.user, count, as_json)


def _revoked(user: str, count: int, as_json: bool) -> None:
    """What ``revoke-user`` says it did: a line, or ``{"user": ..., "revoked": N}``."""
    if as_json:
        output.print_json({"user": user, "revoked": count})
    else:
        output.message(f"revoked {count} session{'s' if count != 1 else ''} of {visible(user)}")


class _DurationCommand(click.Command):
    """``ttl``: an unknown option of a dash and a digit (``-5m``) reaches the duration
    parser, which says what a duration is; any other is refused as click refuses an
    unknown option (``No such option``), not taken for the session id."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option)]
        known = {name for p in options for name in (*p.opts, *p.secondary_opts)}
        taking = {name for p in options if not p.is_flag and not p.count for name in p.opts}
        words = iter(args)
        for arg in words:
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            if arg in taking:
                next(words, None)  # its value, whatever it looks like (--actor -ops)
            elif arg.startswith("-") and not arg[1:2].isdigit() and name not in known:
                near = difflib.get_close_matches(name, sorted(known))
                raise click.NoSuchOption(name, possibilities=near, ctx=ctx)
        return super().parse_args(ctx, args)


@sessions.command(cls=_DurationCommand, context_settings={"ignore_unknown_options": True})
@click.argument("session_id")
@click.argument("duration", metavar="DURATION|unlimited")
@actor_option
@click.option("--json", "as_json", is_flag=True, help="Print the session as `show --json` does.")
@pass_operator
def ttl(
    operator: Operator, /, session_id: str, duration: str, actor: str | None, as_json: bool
) -> None:
    """Expire a live session DURATION from now (90s, 15m, 2h, 7d, 2w, 6mo, 1y), or never.
    Audit-logged (action "ttl")."""
    ttl_value = parse_duration(duration)
    if not operator.manager.set_ttl(_given(session_id), ttl_value, actor=actor or login_name()):
        raise Failure(
            f"session {output.clipped(session_id)} is not live (unknown, expired or revoked)"
        )
    if as_json:
        output.session(_existing(operator, session_id), as_json=True)
        return
    when = "never expires" if ttl_value is None else f"now expires {duration} from now"
    output.message(f"session {output.clipped(session_id)} {when}")


@sessions.command()
@click.option("--include-metadata", is_flag=True, help="Each item's metadata too (all statuses).")
@filter_options
@click.option("--jsonl", is_flag=True, help="One JSON item per line, not one document.")
@click.option(
    "-o",
    "--output",
    "path",
    type=click.Path(dir_okay=False),
    help="Write to FILE (replaced whole at the end; - is stdout) [default: stdout].",
)
@actor_option
@click.option("--reason", help="Why, for the audit log.")
@pass_operator
def export(
    operator: Operator,
    /,
    include_metadata: bool,
    jsonl: bool,
    path: str | None,
    actor: str | None,
    reason: str | None,
    **filters: Any,
) -> None:
    """Every matching session (not one page) as JSON, streamed; audit-logged before the
    first payload is read and once written, with the filters and how many it wrote."""
    filters = {name: value for name, value in filters.items() if value is not None}
    if path == "-":  # (the usual name of stdout)
        path = None
    bar = output.progress_bar(to_stdout=path is None)
    task = bar.add_task("export", total=None) if bar else None

    def progress(scanned: int, total: int) -> None:
        if bar is not None and task is not None:
            bar.update(task, completed=scanned, total=total)

    def write(items: Iterator[dict[str, Any]]) -> None:
        with _destination(path) as out:  # opened first: a path it cannot write reads nothing
            items = _started(items)
            chunks = (json.dumps(i, ensure_ascii=False) + "\n" for i in items) if jsonl else None
            for chunk in chunks or stream_document(items):
                out.write(output.json_text(chunk))

    try:
        with bar or contextlib.nullcontext(), _stopped_as_interrupts():  # audited before, after
            count = operator.manager.export_to(
                write,
                include_metadata=include_metadata,
                actor=actor or login_name(),
                reason=reason,
                progress=progress,
                **filters,
            )
    except BrokenPipeError:  # the reader stopped (| head): exit as SIGPIPE's default would
        with contextlib.suppress(OSError):  # (nothing more reaches it, not even a flush)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(128 + 13) from None
    if not count:  # (a document with no items, or nothing at all with --jsonl)
        empty = not operator.manager.list(page_size=1).total_items  # the wrong store?
        output.note(
            f"no sessions are in {operator.where('sessions export')}: the export holds none"
            if empty
            else "no sessions matched: the export holds none"
        )
    if bar is not None:
        bar.console.print(  # the path is the operator's own text: never markup
            f"exported {count} sessions" + (f" to {visible(str(path))}" if path else ""),
            highlight=False,
            markup=False,
        )


def _given(session_id: str) -> str:
    """``session_id``, unless it is empty (a shell variable that was not set)."""
    if not session_id:
        raise BadUsage("the session id is empty: pass an id as `sessions list` shows it")
    return session_id


def _started(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``items``, the first of them already read: a store that cannot be read fails
    here, before a document's opening is written to stdout (which cannot be taken back)."""
    first = next(items, None)
    return items if first is None else itertools.chain((first,), items)


@contextlib.contextmanager
def _stopped_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP (``timeout``, a cancelled job, a closed terminal) stop the
    block as Ctrl-C does, by an exception, so that an export's audit entry says how
    many sessions left and that it was interrupted; the exit status is 128 + the
    signal's number, as the signal's own would be."""
    import signal

    def stop(number: int, _frame: object) -> None:
        raise SystemExit(128 + number)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    try:  # (a signal ignored already stays ignored: nohup's SIGHUP)
        wanted = [number for number in wanted if signal.getsignal(number) != signal.SIG_IGN]
        before = [signal.signal(number, stop) for number in wanted]
    except ValueError:  # not the main thread (a caller's own): as it was
        yield
        return
    try:
        yield
    finally:
        for number, handler in zip(wanted, before, strict=True):
            signal.signal(number, handler)


@contextlib.contextmanager
def _destination(path: str | None) -> Iterator[IO[str]]:
    """stdout, or ``path`` written whole or not at all (a ``.part`` file renamed at the end).

    The ``.part`` file is new (never one that was there, nor a link's target), in
    ``path``'s folder, and readable by its owner only: an export holds payloads.
    """
    if path is None:
        yield sys.stdout
        return
    try:
        out, partial = _private_file(path)
    except OSError as error:
        raise BadUsage(
            f"cannot write {output.clipped(path)}: {error.strerror or error}; "
            "name a file in a folder that exists and you may write to"
        ) from None
    try:
        with out:
            yield out
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def _private_file(path: str) -> tuple[IO[str], str]:
    """A new file beside ``path`` (``<name>.<random>.part``), mode 0600, open for
    writing, and its path. Created exclusively, so a file or link planted under
    that name is never written through."""
    folder, name = os.path.split(path)
    handle, partial = tempfile.mkstemp(prefix=f"{name}.", suffix=".part", dir=folder or ".")
    return os.fdopen(handle, "w", encoding="utf-8"), partial


@sessions.command()
@json_option
@pass_operator
def stats(operator: Operator, /, as_json: bool) -> None:
    """How many sessions the store holds, by status."""
    manager = operator.manager
    counts = {"total": manager.list(page_size=1).total_items}
    for status in STATUSES:
        counts[status] = manager.list(status=status, page_size=1).total_items
    output.mapping(counts, as_json)
    if not counts["total"] and not as_json:  # all zeros: perhaps the wrong store or prefix
        output.note(f"no sessions are in {operator.where('sessions stats')}")


@cli.command()
@click.option("--actor", help="Only this actor's entries.")
@click.option("--action", type=click.Choice(AUDIT_ACTIONS), help="Only this action.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
@pass_operator
def audit(
    operator: Operator, /, actor: str | None, action: str | None, limit: int, as_json: bool
) -> None:
    """The audit log of reveals, exports and revocations, newest first."""
    entries = operator.manager.audit_log(limit=limit, actor=actor, action=action)
    output.audit(entries, as_json)
    if not entries and not as_json:  # (an empty table alone says nothing)
        filtered = actor is not None or action is not None
        output.note(
            "no audit entries match these filters"
            if filtered
            else f"the audit log is empty in {operator.where('audit')}"
        )


def _existing(operator: Operator, /, session_id: str) -> Any:
    info = operator.manager.get(_given(session_id))
    if info is None:
        raise Failure(f"no session {output.clipped(session_id)} in the store")
    return info
