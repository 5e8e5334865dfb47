"""Templates and the filters they use: how the console writes times, sizes, payloads.

Templates live in ``templates/`` beside this module and autoescape everything;
only the server-built SVG of ``charts`` is marked safe.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..errors import missing_extra
from ..export import to_json
from ..visible import visible
from .http import Response

HERE = Path(__file__).parent
STATIC = HERE / "static"


# A shown value keeps a payload's lines and the two joiners (ordinary Persian and Indic
# text, emoji use them); the rest of what hides or reorders text is written out
_KEPT = frozenset({"\t", "\n", "\u200c", "\u200d"})


class Verbatim(str):
    """A value a form sends back (a search box, a filter, a hidden field): the
    ``verbatim`` filter marks it, and :func:`_visible` leaves it as it is, so that
    what the form sends is what was typed or stored. (Still HTML-escaped.)"""


def _visible(value: Any) -> Any:
    """A shown value with what hides or reorders text written out, by the command
    line's rule (:mod:`sessionware.visible`; Jinja's ``finalize``). Markup (the charts'
    SVG) stays Markup; a :class:`Verbatim` value stays as it is."""
    if not isinstance(value, str) or isinstance(value, Verbatim) or value.isprintable():
        return value
    shown = visible(value, _KEPT)
    return type(value)(shown) if isinstance(value, _markup_type()) else shown


def _verbatim(value: Any) -> Any:
    return Verbatim(value) if isinstance(value, str) else value


def _markup_type() -> type:
    from markupsafe import Markup

    return Markup


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as error:  # pragma: no cover - the extra is installed in tests
        raise missing_extra("the session console (Jinja2)", "admin") from error
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible,
    )
    env.filters.update(when=when, ago=ago, size=size, short=short, verbatim=_verbatim)
    return env


class Templates:
    """The console's Jinja2 templates, loaded once per console."""

    def __init__(self) -> None:
        self.env = _environment()

    def page(self, name: str, status: int = 200, **context: Any) -> Response:
        """``name`` rendered with ``context`` as an HTML response."""
        html = self.env.get_template(name).render(**context)
        return Response(html.encode(), status)


def when(moment: dt.datetime | None) -> str:
    """A UTC time to the second, ``-`` for none (a durable session's expiry)."""
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: dt.datetime | None, now: dt.datetime) -> str:
    """How long before ``now``, roughly: ``just now``, ``12 s ago``, ``5 min ago``, ``3 h ago``."""
    if moment is None:
        return "-"
    gap = (now - moment).total_seconds()
    if gap < 0:
        return "in " + ago(now, moment).removesuffix(" ago")
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if gap >= span:
            return f"{int(gap // span)} {unit} ago"
    return "just now" if gap < 5 else f"{int(gap)} s ago"


def size(count: int) -> str:
    """Bytes in a short human form: ``512 B``, ``1.5 KiB``, ``2.0 MiB``."""
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


def short(session_id: str) -> str:
    """The first 12 characters of an id, enough to tell sessions apart on screen."""
    return session_id if len(session_id) <= 13 else session_id[:12] + "…"


def type_name(value: Any) -> str:
    """What a payload value is, as an operator reads it: ``datetime``, ``bytes (3)``."""
    if isinstance(value, (bytes, str, list, tuple, set, frozenset, dict)):
        return f"{type(value).__name__} ({len(value)})"
    return type(value).__name__


def payload_json(payload: dict[str, Any]) -> str:
    """A revealed payload as indented JSON (values in ``sessionware.export``'s forms)."""
    return json.dumps(to_json(payload), indent=2, ensure_ascii=False, sort_keys=True)
