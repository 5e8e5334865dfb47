"""The little HTTP the console needs, over ASGI and WSGI alike.

Views are written once, as ``async`` functions of a :class:`Request` returning a
:class:`Response`. The ASGI shell awaits them; the WSGI shell drives the same
coroutine by hand (:func:`run_sync`) over the sync manager, whose awaitable
wrapper never suspends — httpx's trick of one flow, two drivers.

Every response carries the console's security headers: a strict Content
Security Policy (own scripts and styles only, no inline code), ``Cache-Control:
no-store``, no framing, no sniffing, no referrer across origins. A ``HEAD``
request is answered as the ``GET`` would be, headers and all, without the body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from ..cookies import cookie_jar
from ..errors import ConfigurationError

T = TypeVar("T")
MAX_BODY_BYTES = 64 * 1024  # forms here are a few fields; anything larger is refused
# what Request.form holds instead of a body refused whole: over MAX_BODY_BYTES (413), or
# shorter than its Content-Length or cut by a disconnect (400)
TOO_LARGE, CUT_SHORT = "too large", "cut short"

SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
)
NO_SESSION_WSGI = (
    "this request reached the sessionware pages without a session: under WSGI they must "
    "sit inside the session middleware. Beside a Flask app (DispatcherMiddleware), mount "
    "sessions.wrap(console.wsgi()), where sessions = Sessionware(app, ...); elsewhere "
    "WSGISessionMiddleware(console.wsgi(), **the options of your session middleware)"
)
NO_SESSION = (
    "this request reached the sessionware pages without a session: mount them inside "
    "the app that SessionMiddleware wraps (Starlette's Mount, FastAPI's app.mount)"
)


@dataclass
class Request:
    """One request to the console, whatever the server.

    ``path`` is relative to where the console is mounted (``root``); ``query``
    and ``form`` keep the last value of each name. ``native`` is the ASGI scope
    or the WSGI environ; ``session`` the sessionware session a
    ``SessionMiddleware`` around the console gave the request, if any.
    """

    method: str
    path: str
    root: str
    query: dict[str, str]
    headers: dict[str, str]
    native: Mapping[str, Any]
    form: dict[str, str] = field(default_factory=dict)

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, name → value (the first of a name wins). One pair
        that is not a plain ``name=value`` (a bare name a page set, a space in a
        value) is read as it comes, and costs no other cookie its place."""
        joined = "REQUEST_METHOD" in self.native  # WSGI: servers join repeated headers with ","
        return cookie_jar(self.headers.get("cookie", ""), joined=joined)

    @property
    def session(self) -> Any:
        """The session the middleware around the pages gave this request.

        Raises ConfigurationError when there is none: the pages are mounted outside
        the session middleware, so no callable could tell who is signed in (and
        ``request.session.get(...)`` would fail as an AttributeError on ``None``).
        """
        if "session" in self.native:  # an empty session is falsy: test the key
            return self.native["session"]
        if "sessionware.session" in self.native:
            return self.native["sessionware.session"]
        raise ConfigurationError(NO_SESSION_WSGI if "wsgi.version" in self.native else NO_SESSION)


@dataclass
class Response:
    """What a view answers; the shells add :data:`SECURITY_HEADERS`. Without
    ``send_body`` (a HEAD), the headers still describe ``body``, which is not sent."""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    send_body: bool = True

    def all_headers(self) -> list[tuple[str, str]]:
        """Content type, length, the view's headers, then the security headers."""
        return [
            ("content-type", self.content_type),
            ("content-length", str(len(self.body))),
            *self.headers,
            *SECURITY_HEADERS,
        ]


def without_body(response: Response) -> Response:
    """``response`` as the answer to a HEAD: the same headers, no body sent."""
    return replace(response, send_body=False)


def redirect(location: str) -> Response:
    """A 303 See Other to ``location`` (after a POST, the browser GETs it)."""
    return Response(b"", 303, headers=[("location", location)])


def json_download(document: Any, filename: str) -> Response:
    """``document`` as an attached JSON file named ``filename``."""
    body = json.dumps(document, indent=2, ensure_ascii=False).encode()
    disposition = ("content-disposition", f'attachment; filename="{filename}"')
    return Response(body, content_type="application/json", headers=[disposition])


def plain(status: int, text: str | None = None) -> Response:
    """A short plain-text answer (errors the browser shows as they are)."""
    message = text or HTTPStatus(status).phrase
    return Response(message.encode(), status, "text/plain; charset=utf-8")


def parse_form(body: bytes, content_type: str) -> dict[str, str] | None:
    """An urlencoded form body, ``None`` for any other content type or broken text."""
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return None


# -- ASGI ----------------------------------------------------------------------------

View = Callable[[Request], Awaitable[Response]]


async def asgi_request(scope: Mapping[str, Any], receive: Callable[[], Awaitable[Any]]) -> Request:
    """Read an ASGI http request (its body, up to MAX_BODY_BYTES) into a :class:`Request`."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    cookies = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"cookie"]
    if len(cookies) > 1:  # (HTTP/2 sends a header per cookie): all of them, in order
        headers["cookie"] = "; ".join(cookies)
    body, more, cut = b"", True, False
    while more and len(body) <= MAX_BODY_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            cut = True  # the client went away mid-body: act on none of it
            break
        body += message.get("body", b"")
        more = message.get("more_body", False)
    root = scope.get("root_path", "")
    path = scope["path"]
    if root and path.startswith(root):  # Starlette's Mount keeps the full path
        path = path[len(root) :]
    request = Request(
        scope["method"],
        path or "/",
        root,
        dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
        headers,
        scope,
    )
    if len(body) > MAX_BODY_BYTES:
        request.form = {"": TOO_LARGE}
    elif cut:
        request.form = {"": CUT_SHORT}
    elif body:
        request.form = parse_form(body, headers.get("content-type", "")) or {}
    return request


async def asgi_send(send: Callable[[Any], Awaitable[None]], response: Response) -> None:
    """Send ``response`` through ASGI."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.all_headers()]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    body = response.body if response.send_body else b""
    await send({"type": "http.response.body", "body": body})


# -- WSGI ----------------------------------------------------------------------------


def wsgi_request(environ: Mapping[str, Any]) -> Request:
    """A WSGI environ as a :class:`Request` (the body read up to MAX_BODY_BYTES)."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    content_type = environ.get("CONTENT_TYPE", "")
    headers["content-type"] = content_type
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes | None = None
    if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
        # a chunked body (gunicorn, Werkzeug): no length, read to its end, bounded
        body = environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        length = len(body)
    request = Request(
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", "") or "/",
        environ.get("SCRIPT_NAME", ""),
        dict(parse_qsl(environ.get("QUERY_STRING", ""))),
        headers,
        environ,
    )
    if length > MAX_BODY_BYTES:
        request.form = {"": TOO_LARGE}
    elif length > 0:
        if body is None:
            body = environ["wsgi.input"].read(length)
        if len(body) < length:  # the client went away mid-body: act on none of it
            request.form = {"": CUT_SHORT}
        else:
            request.form = parse_form(body, content_type) or {}
    return request


def wsgi_answer(response: Response, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Start ``response`` through WSGI and return its body."""
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    start_response(status, response.all_headers())
    return [response.body] if response.send_body else []


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the WSGI console's views) to its result.

    Raises ConfigurationError if it does suspend: an ``async`` ``authorize`` or
    ``user`` callable that awaits real I/O cannot run under WSGI.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise ConfigurationError(
        "the WSGI console awaited something that suspends: under WSGI, pass a sync "
        "authorize=/user= callable (or serve the console over ASGI)"
    )
