"""What the command prints: every format in one place.

``--json`` output is the management API's JSON shapes (``sessionware.export``),
written with :mod:`json`; tables are rich tables on stdout. Nothing else
decides how a session, a page or an audit entry looks.

Users, emails, user agents, audit actors and reasons come from requests and
operators, not from us: a table cell holds them as :class:`rich.text.Text` (never
read as markup) with control characters written out (:func:`visible`), so a
stored value cannot crash a table, restyle it, or send escape sequences to the
operator's terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..export import JSON, AuditEntry, SessionInfo, SessionPage, as_now, info_json, page_json
from ..visible import hides, visible

PIPE_WIDTH = 400  # a table written to a pipe or file is never wrapped narrower
LISTED = 64  # characters of a user, email or app in a listing's table
WIDE = 130  # columns a listing needs for all its columns; narrower shows fewer
ECHOED = 48  # characters of an argument repeated in a message: a whole id (43), not more

# json.dumps(ensure_ascii=False) escapes C0 but leaves DEL and C1 raw; inside JSON
# text they can only be in strings, where \u00XX means the same character.
_JSON_CONTROLS = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def clipped(text: str) -> str:
    """An argument to repeat in a message: :func:`visible`, and cut to :data:`ECHOED`
    characters and ``…`` (whatever was passed for an id may be of any length)."""
    return visible(text if len(text) <= ECHOED else text[:ECHOED] + "…")


def cell(value: object) -> Text:
    """A table cell showing ``value`` literally: never rich markup, no control characters;
    ``None`` is ``-``; a Text (made of visible parts) as it is."""
    if isinstance(value, Text):
        return value
    return Text("-" if value is None else visible(str(value)))


def _cut(text: str | None) -> str | None:
    """A listing's user, email or app, cut to :data:`LISTED` characters and ``…``: one
    long value must not push the other columns out of a table (``--json`` has it whole,
    ``sessions show`` too)."""
    return text if text is None or len(text) <= LISTED else text[: LISTED - 1] + "…"


def stdout() -> Console:
    """The console tables go to: the terminal's width, or wide enough not to fold ids."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=PIPE_WIDTH)


def print_json(data: JSON) -> None:
    """``data`` as indented JSON on stdout."""
    sys.stdout.write(json_text(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")


def json_text(text: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` with DEL and C1 characters
    escaped too (``\\u009b``), and the characters that reorder or hide text (the bidi
    overrides, format characters, separators: :func:`~sessionware.visible.hides`), so none reaches a
    terminal raw; the JSON still means exactly the same values."""
    return _NOT_ASCII.sub(_json_escaped, text.translate(_JSON_CONTROLS))


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")  # outside JSON's structure: only inside strings


def _json_escaped(match: re.Match[str]) -> str:
    char = match[0]
    if not hides(char):
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes a character past U+FFFF as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def page(listing: SessionPage, as_json: bool) -> None:
    """A listing page: a table with a footer, or the export-with-metadata shape."""
    if as_json:
        print_json(page_json(listing))
        return
    console = stdout()
    narrow = console.width < WIDE  # an 80-column terminal: the id, and what tells rows apart
    names = ["id", "user", "email", "app", "status", "last activity (UTC)", "expires (UTC)"]
    shown = [0, 1, 4, 5] if narrow else list(range(len(names)))
    table = Table(*(names[i] for i in shown))
    table.columns[0].no_wrap = True
    for info in map(as_now, listing.items):
        cells: list[Text | str] = [
            cell(info.id),
            cell(_cut(info.user) or None),
            cell(_cut(info.email) or None),
            cell(_cut(info.app)),
            cell(info.status),
            _when(info.last_activity_at),
            _when(info.expires_at),
        ]
        table.add_row(*(cells[i] for i in shown))
    pages = max(listing.total_pages, 1)
    total = f"{listing.total_items} session{'' if listing.total_items == 1 else 's'} in all"
    if not listing.total_items:
        table.caption = total  # (no "page 0 of 1": there are no pages)
    elif listing.page >= pages:
        table.caption = f"there is no page {listing.page}: pages 0 to {pages - 1}, {total}"
    else:
        table.caption = f"page {listing.page} of {pages} (0-based), {total}"
    if narrow:
        table.caption += f"; email, app and expiry in a window of {WIDE}+ columns, or --json"
    console.print(table)


def session(info: SessionInfo, as_json: bool) -> None:
    """One session's metadata: a two-column table, or its with-metadata JSON."""
    if as_json:
        print_json(info_json(info))
        return
    rows: dict[str, Any] = {**info_json(info), "device": _device(info)}
    _pairs(rows.items())


def _device(info: SessionInfo) -> Text | None:
    """Where the session was created and last used, a line each: label, address, agent
    (each written out by :func:`visible`; only the line break between them is ours)."""
    record = info.device
    if record is None:
        return None
    lines = []
    for name, device in (("first", record.first), ("last", record.last)):
        ip = f" from {device.ip}" if device.ip else ""
        line = f"{name}: {device.label}{ip} ({device.user_agent or 'no user agent'})"
        lines.append(visible(line))
    return Text("\n".join(lines))


def mapping(values: Mapping[str, Any], as_json: bool) -> None:
    """Plain named values (stats): a two-column table or a JSON object."""
    if as_json:
        print_json(dict(values))
        return
    _pairs(values.items())


def rows(header: Iterable[str], values: Iterable[Iterable[Any]]) -> None:
    """A plain table: ``header``, then one row per item of ``values`` (cells as :func:`cell`)."""
    table = Table(*header)
    for row in values:
        table.add_row(*(cell(value) for value in row))
    stdout().print(table)


def _pairs(rows: Iterable[tuple[str, Any]]) -> None:
    table = Table(show_header=False)
    for name, value in rows:
        table.add_row(cell(name), cell(value))
    stdout().print(table)


def audit_json(entry: AuditEntry) -> dict[str, JSON]:
    """An audit entry as JSON: ``at`` is ISO-8601 UTC."""
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "sessionId": entry.session_id,
        "reason": entry.reason,
        "byEndUser": entry.by_end_user,
    }


def audit(entries: list[AuditEntry], as_json: bool) -> None:
    """Audit entries, newest first: a table or a JSON array."""
    if as_json:
        print_json([audit_json(entry) for entry in entries])
        return
    # "by" has a column of its own: text after the actor could be part of its name
    table = Table("at (UTC)", "by", "actor", "action", "session", "reason")
    for entry in entries:
        table.add_row(
            _when(entry.at),
            "end user" if entry.by_end_user else "operator",
            cell(entry.actor),
            cell(entry.action),
            cell(entry.session_id or None),
            cell(entry.reason or None),
        )
    stdout().print(table)


def message(text: str) -> None:
    """A one-line result for a person, on stdout."""
    sys.stdout.write(text + "\n")


def note(text: str) -> None:
    """A hint beside a result, on stderr: what stdout carries stays the result alone."""
    sys.stderr.write(text + "\n")


def progress_bar(to_stdout: bool) -> Progress | None:
    """A progress bar on stderr when it is a terminal; ``None`` in a pipe or a file, and
    when the result (``to_stdout``) goes to the same terminal. It never takes stdout
    over: what the command writes there goes where stdout goes (rich's default sends it
    to the bar's console, the terminal, however stdout was redirected)."""
    console = Console(stderr=True)
    if not console.is_terminal or (to_stdout and sys.stdout.isatty()):
        return None
    return Progress(
        TextColumn("scanning sessions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
    )
