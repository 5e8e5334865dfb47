"""Jinja2 templates read and write the session, as platformOS templates do.

    {% session cart_id = 42 %}            {# writes, keeping the type: an int #}
    {{ context.session.cart_id }}         {# reads (platformOS's spelling) #}
    {{ session.cart_id }}                 {# reads #}

Add :class:`SessionExtension` to the environment: with Starlette,
``templates.env.add_extension(SessionExtension)`` (or
``Jinja2Templates(env=Environment(..., extensions=[SessionExtension]))``); with
Flask, ``app.jinja_env.add_extension(SessionExtension)``. The session is found
in the template's context: a ``session`` variable holding a sessionware session
(Flask puts ``flask.session`` there), else ``request.scope["session"]``
(Starlette's ``TemplateResponse`` passes ``request``) or
``request.environ["sessionware.session"]`` (any WSGI request object), else,
inside a Flask request, ``flask.session``.

Contract:

* A write goes through ``session[key] = value``, so it is validated the same
  way: an unstorable value or one that makes the session too large raises
  :class:`SessionTagError` (a ``jinja2.TemplateRuntimeError``) naming the
  template, the line and the key, with the original error as its cause. Other
  session errors (``SessionsDisabled``, ``StoreUnavailable``) pass through
  unchanged, so the shells answer them as from Python code.
* A write is saved like any other as long as it happens before the response
  headers go out: always for ``render``/``TemplateResponse``/``render_template``.
  A streamed template renders as the body is sent, after the headers; use
  :func:`stream` so that tags before the first output are rendered (and saved)
  first. A write after that cannot be saved and is logged as a warning.
* Reads follow Jinja's attribute rules: ``session.cart_id`` finds the key
  ``cart_id``; a key named like a session method (``id``, ``get``, ``items``)
  needs ``session["id"]``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from typing import Any

from .errors import SessionTooLarge, SessionwareError, UnstorableValue, missing_extra
from .session import Session

try:
    from jinja2 import Environment, Template, nodes
    from jinja2.exceptions import TemplateRuntimeError
    from jinja2.ext import Extension
    from jinja2.parser import Parser
    from jinja2.runtime import Context, Undefined
    from jinja2.utils import missing
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("sessionware.jinja", "jinja") from error

__all__ = ["SessionContext", "SessionExtension", "SessionTagError", "TemplateContext", "stream"]

WSGI_KEY = "sessionware.session"


class SessionTagError(SessionwareError, TemplateRuntimeError):
    """A ``{% session key = value %}`` that cannot be stored; ``key`` is its key.

    The session error behind it (``UnstorableValue``, ``SessionTooLarge``) is
    its ``__cause__``.
    """

    def __init__(self, message: str, *, key: str | None) -> None:
        super().__init__(message)
        self.key = key


class TemplateContext:
    """What ``{{ context }}`` is in a template: platformOS's ``context``, holding ``session``."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    def __repr__(self) -> str:
        return f"<TemplateContext session={self.session!r}>"


class SessionContext(Context):
    """A Jinja context in which ``session`` and ``context`` resolve to the request's session
    when the template's variables do not define them."""

    def resolve_or_missing(self, key: str) -> Any:
        value = super().resolve_or_missing(key)
        if value is missing and key in ("session", "context"):
            session = find_session(self)
            if session is not None:
                return session if key == "session" else TemplateContext(session)
        return value


class SessionExtension(Extension):
    """The ``{% session key = expression %}`` tag, and ``session`` / ``context.session``
    in every template of the environment (it sets the environment's ``context_class``)."""

    tags = {"session"}  # noqa: RUF012 - the type Jinja declares for it

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        current = environment.context_class
        if not issubclass(current, SessionContext):
            environment.context_class = (
                SessionContext
                if current is Context
                else type(f"Session{current.__name__}", (SessionContext, current), {})
            )

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        key = parser.stream.expect("name").value
        parser.stream.expect("assign")
        value = parser.parse_expression()
        where = f"template {parser.name or '<string>'!r}, line {lineno}"
        call = self.call_method(
            "_write", [nodes.ContextReference(), nodes.Const(key), value, nodes.Const(where)]
        )
        return nodes.ExprStmt(call, lineno=lineno)

    def _write(self, context: Context, key: str, value: Any, where: str) -> str:
        tag = f"{where}: {{% session {key} = ... %}}"
        session = find_session(context)
        if session is None:
            raise SessionTagError(
                f"{tag} found no session: install sessionware's middleware (or Sessionware for "
                "Flask) and render with the request in the context (request=request); in a "
                "macro of another template, import it with the context: "
                "{% import 'macros.html' as m with context %} (or {% from ... import ... with "
                "context %}), since Jinja's import passes no variables by default",
                key=key,
            )
        if isinstance(value, Undefined):
            raise SessionTagError(f"{tag}: the value is undefined, so nothing was stored", key=key)
        try:
            session[key] = value
        except (UnstorableValue, SessionTooLarge) as error:
            raise SessionTagError(f"{tag}: {error}", key=key) from error
        return ""


def find_session(context: Context) -> Session | None:
    """The request's session as the template's variables give it, or None."""
    session = _variable(context, "session")
    try:
        if isinstance(session, Session):  # also Flask's flask.session proxy
            return session
    except RuntimeError:  # that proxy outside a request (an email, a command): no session
        pass
    request = _variable(context, "request")
    for holder, key in (("scope", "session"), ("environ", WSGI_KEY)):
        try:
            found = getattr(request, holder, {}).get(key) if request is not None else None
        except RuntimeError:  # (Flask's request proxy, outside a request)
            found = None
        if isinstance(found, Session):
            return found
    flask = sys.modules.get("flask")  # a template rendered without Flask's context variables
    if flask is not None and flask.has_request_context():
        found = flask.session._get_current_object()
        if isinstance(found, Session):
            return found
    return None


def _variable(context: Context, name: str) -> Any:
    """A template variable as given, without SessionContext's fallbacks."""
    return context.vars[name] if name in context.vars else context.parent.get(name)


def stream(template: Template, /, *args: Any, **context: Any) -> Iterator[str]:
    """``template.generate(...)``, with the template rendered up to its first output now.

    ``{% session %}`` tags that come before any output therefore run before the
    response starts, and are saved with it; pass the result to a streaming
    response (``StreamingResponse``, or Flask's ``Response`` with
    ``stream_with_context``).
    """
    chunks = template.generate(*args, **context)
    head: list[str] = []
    for chunk in chunks:
        head.append(chunk)
        if chunk:
            break
    return itertools.chain(head, chunks)
