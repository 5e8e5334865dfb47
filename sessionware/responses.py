"""What every shell answers when the session fails, and how it adds ``Vary``.

The ASGI, WSGI and Flask shells send these the way their protocol wants; the
words, statuses and log lines are written once, here. Headers are
``(lower-case name, value)`` string pairs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .errors import (
    ConfigurationError,
    InsecureTransport,
    SessionConflict,
    SessionTooLarge,
    StoreUnavailable,
    TokenRequired,
    UnstorableValue,
)
from .transport import local_host

logger = logging.getLogger("sessionware")

ERROR_BODIES = {
    401: b"Unauthorized: send a valid session token as Authorization: Bearer <token>",
    403: b"Forbidden: this site keeps sessions over https only; open it with https://",
    409: (
        b"Conflict: another request changed this session (a sign-in, a sign-out, or a "
        b"change of its own) before this one could save, so this one's changes were not "
        b"saved; send the request again (reloading the page does; a form refused then, "
        b"as expired or without its CSRF token, needs opening afresh and sending again). "
        b"If it is refused again, sign in again, or wait a few seconds"
    ),
    500: b"Internal Server Error",
    503: b"Service Unavailable: the session store cannot be reached, try again shortly",
}

# What saving the session at the end of a request may raise; see refusal().
SAVE_ERRORS = (
    SessionTooLarge,
    UnstorableValue,
    StoreUnavailable,
    InsecureTransport,
    SessionConflict,
)


# the 401 for a handler's regenerate() or "remember me" on a bearer session: the
# token sent is fine, and the client should not drop it (sessionware.bearer)
KEEPS_ITS_TOKEN = (
    b"Unauthorized: the session token sent is valid and still works, but this request "
    b'tried to give the session a new token or lifetime (regenerate() or "remember me"), '
    b"which only a refresh does"
)


def token_required_body(error: TokenRequired) -> bytes:
    """The 401's body for ``error``: a write no token backs, or a refused rotation."""
    return KEEPS_ITS_TOKEN if error.token_valid else ERROR_BODIES[401]


def wants_json(accept: str | bytes | None) -> bool:
    """Whether an error answer goes out as JSON: the request's ``Accept`` names
    ``application/json`` (or a ``+json`` type), as API clients and FastAPI frontends
    send it, and not ``text/html`` (a browser's page load, which reads text)."""
    if not accept:
        return False
    text = (accept.decode("latin-1") if isinstance(accept, bytes) else accept).lower()
    return ("application/json" in text or "+json" in text) and "text/html" not in text


def error_body(status: int, body: bytes | None = None, as_json: bool = False) -> bytes:
    """``body``, or the plain-text body for ``status`` (401, 403, 409, 500 or 503) if None;
    ``as_json``: as FastAPI's errors are, ``{"detail": "<that text>"}``."""
    text = ERROR_BODIES[status] if body is None else body
    if not as_json:
        return text
    return json.dumps({"detail": text.decode("utf-8")}).encode()


def error_headers(
    status: int,
    body: bytes | None = None,
    session: list[tuple[str, str]] | None = None,
    app: Iterable[tuple[Any, Any]] = (),
    as_json: bool = False,
) -> list[tuple[str, str]]:
    """The headers of the error answer for ``status`` (401, 403, 409, 500 or 503), whose
    body is :func:`error_body`'s, sent in place of the app's response: with the
    ``session``'s own merged in (a 409's cookie expiry: see :class:`Refusal`), and the
    :func:`cors_headers` of the ``app``'s headers. ``as_json``: see :func:`wants_json`."""
    headers = [
        ("content-type", "application/json" if as_json else "text/plain; charset=utf-8"),
        ("content-length", str(len(error_body(status, body, as_json)))),
        ("cache-control", "no-store"),
    ]
    if status == 503:
        headers.append(("retry-after", "1"))
    if status == 401:  # about a bearer session (sessionware.bearer): its answers vary
        headers.append(("www-authenticate", "Bearer"))  # with the Authorization header
        headers.append(("vary", "Authorization"))
    extra = [*(session or ()), *cors_headers(app)]
    return merge_headers(headers, extra) if extra else headers


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


_CORS_VARY = {"origin", "access-control-request-method", "access-control-request-headers"}


def status_line(status: int) -> str:
    """``"503 Service Unavailable"``: the WSGI form of ``status``."""
    return f"{status} {HTTPStatus(status).phrase}"


def cors_headers(headers: Iterable[tuple[Any, Any]]) -> list[tuple[str, str]]:
    """The app's ``Access-Control-*`` headers among ``headers`` (str or latin-1 bytes
    pairs), as str pairs, and a ``Vary`` of the names among its ``Vary`` that they
    vary with (``Origin``, the preflight's): an error answered in place of the app's
    response keeps them, or a cross-origin client could not read it (the browser
    would report a network error instead of the 409 or 503). The app's other
    headers go with its body."""
    kept, varies = [], []
    for name, value in headers:
        name, value = _text(name), _text(value)
        if name.lower().startswith("access-control-"):
            kept.append((name, value))
        elif name.lower() == "vary":
            varies += [t.strip() for t in value.split(",") if t.strip().lower() in _CORS_VARY]
    return [*kept, ("vary", ", ".join(varies))] if varies else kept


@dataclass(frozen=True, slots=True)
class Refusal:
    """The error answer a shell sends instead of the app's response when the session
    could not be saved: its ``status``, and the session's ``headers`` that go with
    it (a 409's cookie expiry, when the session ended meanwhile)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)


def refusal(error: Exception) -> Refusal:
    """Log why the session could not be saved; the answer to send instead.

    503 when the store failed (retrying may work), 500 when the session itself
    cannot be stored (in-place changes made it too large or unstorable), 403
    when it would be written over plain http with ``require_https``, 409 when
    another request ended it or gave it a new id meanwhile (:class:`SessionConflict`).
    """
    if isinstance(error, InsecureTransport):
        logger.warning("sessionware: %s; answering 403", error)
        return Refusal(403)
    if isinstance(error, SessionConflict):  # with its cookie's expiry, when it ended
        logger.warning("sessionware: %s; answering 409", error)
        return Refusal(409, error.headers)
    if isinstance(error, StoreUnavailable):
        return Refusal(_store_failed(error, "saving"))
    logger.error("sessionware: the session could not be saved; answering 500", exc_info=error)
    return Refusal(500)


def load_failure(error: StoreUnavailable) -> int:
    """Log that the store failed while loading the session; the status to answer (503)."""
    return _store_failed(error, "loading")


TRACEBACK_EVERY_SECONDS = 60.0  # an outage logs one line per request, a traceback this often
_last_traceback = [float("-inf")]


def _store_failed(error: StoreUnavailable, operation: str) -> int:
    """One log line per failed request; the traceback at most once a minute (an outage
    must not bury the log under thousands of identical tracebacks)."""
    now = time.monotonic()
    with_traceback = now - _last_traceback[0] >= TRACEBACK_EVERY_SECONDS
    if with_traceback:
        _last_traceback[0] = now
    logger.error(
        "sessionware: the session store failed while %s the session (%s); answering 503",
        operation,
        error,
        exc_info=error if with_traceback else None,
    )
    return 503


_warned_hosts: set[str] = set()


def warn_if_cookie_will_be_dropped(
    secure: bool, scheme: str, host: str | None, agent: bytes | str | None = None
) -> None:
    """Warn, once per host, that a Secure cookie set over plain http is dropped by browsers;
    and once per process when a client that is no browser (``agent`` is its User-Agent)
    gets one from a local host, which browsers allow and such clients do not."""
    if not secure or scheme != "http" or host is None:
        return
    if local_host(host):  # as require_https counts it: localhost, *.localhost, loopback
        _warn_if_no_browser(agent)
        return
    name = (host[: host.find("]") + 1] if host.startswith("[") else host.split(":")[0]).lower()
    if name in _warned_hosts or len(_warned_hosts) >= 1000:
        return
    _warned_hosts.add(name)
    test_client = (  # Starlette's and FastAPI's TestClient asks for http://testserver
        '; in tests, TestClient(app, base_url="https://testserver")' if name == "testserver" else ""
    )
    logger.warning(
        "sessionware: a Secure session cookie was set on a plain-http request to %r; every "
        "browser drops it, so sessions will not stick. Serve https; behind a proxy, pass the "
        "forwarded scheme (uvicorn --proxy-headers, gunicorn --forwarded-allow-ips); or set "
        "secure=False for local development (SESSIONWARE_SECURE = False in a Flask app's "
        "config)%s",
        name,
        test_client,
    )


_warned_app_cookie: set[str] = set()
_SET_COOKIE = (b"set-cookie", "set-cookie")


def warn_if_app_sets_cookie(headers: Iterable[tuple[Any, Any]], name: str) -> None:
    """Warn, once per process and cookie name, when the app's own response sets or
    expires the session cookie ``name`` (``response.delete_cookie("session")`` as a
    logout, carried over from cookie sessions): the stored session outlives it, and a
    copy of the cookie still opens it. ``headers``: ASGI's (bytes) or WSGI's (str).
    The shells ask only when a cookie came in or the app used the session: an
    anonymous request's answer has nothing to end."""
    if name in _warned_app_cookie:
        return
    for key, value in headers:  # (bytes under ASGI, str under WSGI; in any case)
        if len(key) != 10 or key.lower() not in _SET_COOKIE:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if value.lstrip().startswith(name + "="):
            _warned_app_cookie.add(name)
            logger.warning(
                "sessionware: the app's response sets the session cookie %r itself; that "
                "neither ends nor changes the stored session (a copy of the cookie still "
                "opens it), and the browser may keep either cookie. To log out, call "
                "session.clear(), which deletes the record and expires the cookie; give "
                "a cookie of the app's own another name",
                name,
            )
            return


_warned_client = [False]
_KEEPS_LOCAL_SECURE = ("Mozilla/", "Werkzeug/", "curl/")  # clients that send it back


def _warn_if_no_browser(agent: bytes | str | None) -> None:
    """A Secure cookie over http to localhost: browsers keep it, Python's HTTP clients
    (httpx, requests, urllib's cookie jar) and most others never send it back, so each
    of their requests starts a new session. Every browser says Mozilla/; Flask's test
    client (Werkzeug/) keeps such cookies too, and so does curl's cookie jar (since
    7.79, 2021: localhost is a secure context to it)."""
    if isinstance(agent, bytes):
        agent = agent.decode("latin-1")
    if _warned_client[0] or agent is None or agent.startswith(_KEEPS_LOCAL_SECURE):
        return  # (no User-Agent at all: a test tool's own request, as Flask's session_transaction)
    _warned_client[0] = True
    shown = (agent or "no User-Agent")[:60]
    logger.warning(
        "sessionware: a Secure session cookie was set over plain http to a local address for "
        "%r. Browsers send it back from localhost; this client most likely will not (Python's "
        "httpx and requests never send a Secure cookie over http), so each of its requests "
        "would start a new session. For scripts and tests against a local http server, set "
        "secure=False (SESSIONWARE_SECURE = False in a Flask app's config), or use https",
        shown,
    )


def no_store(cache_control: str) -> str:
    """An existing ``Cache-Control`` value made safe for a response that sets a cookie.

    ``no-store`` is added and ``public`` dropped; every other directive the app set
    stays, so the result is never weaker than what the app asked for.
    """
    directives = [part.strip() for part in cache_control.split(",") if part.strip()]
    names = {part.split("=", 1)[0].strip().lower() for part in directives}
    kept = [part for part in directives if part.split("=", 1)[0].strip().lower() != "public"]
    return ", ".join(kept if "no-store" in names else [*kept, "no-store"])


def merge_headers(
    headers: list[Any], extra: list[tuple[str, str]], *, raw: bool = False
) -> list[Any]:
    """``headers`` (the app's, changed in place) with the session's ``extra`` added.

    ``headers`` are ``(name, value)`` pairs of str (WSGI), or with ``raw`` of latin-1
    bytes (ASGI; they stay bytes: only a header that a fold rewrites is decoded). ``Vary`` and
    ``Cache-Control`` fold into the app's own header when it has one
    (:func:`vary_with`, :func:`no_store`); every other header is appended.
    """
    for name, value in extra:
        key: Any = name.encode("latin-1") if raw else name
        if name == "vary":  # (the app's on one line or several: all count, the first takes it)
            _vary_into(headers, key, value, raw)
            continue
        fold = _FOLDS.get(name)
        for i, (existing, current) in enumerate(headers if fold is not None else ()):
            if existing.lower() == key:
                folded = fold(current.decode("latin-1") if raw else current, value)  # type: ignore[misc]
                headers[i] = (existing, folded.encode("latin-1") if raw else folded)
                break
        else:
            headers.append((key, value.encode("latin-1") if raw else value))
    return headers


def vary_with(vary: str, names: str) -> str:
    """An existing ``Vary`` value with the comma-separated ``names`` added, each unless
    already covered (by itself, in any case, or by ``*``)."""
    folded = vary_first_line([vary], names)
    return vary if folded is None else folded


def vary_missing(lines: list[str], names: str) -> list[str]:
    """Which of the comma-separated ``names`` the ``Vary`` header lines ``lines`` do not
    cover yet (none when one of them says ``*``), in order, once each."""
    have = {part.strip().lower() for line in lines for part in line.split(",")}
    if "*" in have:
        return []
    more = [n.strip() for n in names.split(",") if n.strip() and n.strip().lower() not in have]
    return list(dict.fromkeys(more))


def vary_first_line(lines: list[str], names: str) -> str | None:
    """The app's first ``Vary`` line (``""`` for none) with those of ``names`` that no
    line covers folded in (the line Werkzeug's ``response.vary`` and most middleware
    read); ``None`` when every line stays as it is."""
    more = vary_missing(lines, names)
    if not more:
        return None
    first = lines[0] if lines else ""
    return ", ".join([first, *more] if first.strip() else more)


def _vary_into(headers: list[Any], key: Any, names: str, raw: bool) -> None:
    """:func:`vary_first_line` on ``headers``: the first ``Vary`` line rewritten, or one
    appended when the app sent none."""
    for start, (existing, _) in enumerate(headers):  # noqa: B007 (read after the loop)
        if existing.lower() == key:
            break
    else:  # (the common case, on every response: nothing more is made)
        headers.append((key, names.encode("latin-1") if raw else names))
        return
    at = [i for i in range(start, len(headers)) if headers[i][0].lower() == key]
    lines = [headers[i][1].decode("latin-1") if raw else headers[i][1] for i in at]
    first = vary_first_line(lines, names)
    if first is not None:
        headers[at[0]] = (headers[at[0]][0], first.encode("latin-1") if raw else first)


_FOLDS: dict[str, Callable[[str, str], str]] = {
    "vary": vary_with,
    "cache-control": lambda current, _: no_store(current),
}


_SHARED_STORES = (
    "SQLiteStore(path) (one machine), PostgresStore.from_url(...) or RedisStore.from_url(...)"
)


def _once_per_process_store(
    store: Any, flag: str, message: str, unless: Callable[[], bool] | None = None
) -> None:
    """Log ``message`` (``%s``: the store's class) once per in-process store, but not
    while ``unless()`` says the case is not the one it explains."""
    if not getattr(store, "per_process", False) or getattr(store, flag, False):
        return
    if unless is None or not unless():
        setattr(store, flag, True)
        logger.warning(message, type(store).__qualname__)


def note_missing(store: Any, session_id: str, now: float) -> None:
    """A validly signed cookie named a session ``store`` does not hold. Said once per
    in-process store: there it is how a second worker, or a restart, shows (sessions
    made elsewhere are simply not here); elsewhere it is an ordinary ended session,
    and so it is where the store keeps a tombstone of it (revoked, expired here)."""
    get_meta = getattr(store, "get_meta", None)  # in-process: a dict lookup, no I/O

    def known() -> bool:
        return get_meta is not None and get_meta(session_id, now=now) is not None

    _once_per_process_store(
        store,
        "_warned_missing",
        "sessionware: a correctly signed session cookie named a session %s does not "
        "hold: it ended, or another worker or an earlier run of this server made it (an "
        "in-process store shares nothing). The visitor gets a fresh session. With more "
        "than one worker, or to survive a restart, use " + _SHARED_STORES,
        unless=known,
    )


def not_a_store(store: Any, asynchronous: bool) -> ConfigurationError:
    """The error for a ``store`` that lacks the store contract of its shell, saying
    what to pass instead: a URL is not a store, and another library's store (the
    one an app migrates from, often of the same class name) is not ours."""
    if isinstance(store, (str, bytes, os.PathLike)):
        return ConfigurationError(
            f"store={store!r} is a URL or path, not a store: pass a store object, "
            "RedisStore.from_url(url), SQLiteStore.from_url(url) or PostgresStore.from_url(url) "
            '(Flask also takes a URL in app.config["SESSIONWARE_STORE"])'
        )
    cls = type(store)
    kind, methods = (
        ("async", ("aload", "acreate", "asave", "arotate", "adelete"))
        if asynchronous
        else ("sync", ("load", "create", "save", "rotate", "delete"))
    )
    missing = ", ".join(m for m in methods if not callable(getattr(store, m, None)))
    where = f"{cls.__module__}.{cls.__qualname__}"
    foreign = (
        ""
        if cls.__module__.startswith("sessionware")
        else (
            "; if it is another library's store, it does not work here: use sessionware's "
            "own, sessionware.RedisStore.from_url(url, prefix=...), SQLiteStore, "
            "PostgresStore or MemoryStore"
        )
    )
    return ConfigurationError(
        f"store {where} does not implement the {kind} store contract (it lacks "
        f"{missing or 'their exact signatures'}){foreign}; to write a store, see "
        "sessionware/stores/base.py"
    )


def checked_store(store: Any, enabled: bool = True) -> Any:
    """``store``, refusing a class where an instance belongs; warns once for an in-process
    store, which a second worker or a restart does not share (unless sessions are off:
    not ``enabled``, nothing is kept anywhere)."""
    if isinstance(store, type):
        raise ConfigurationError(
            f"store={store.__qualname__} is the class; pass an instance: "
            f"store={store.__qualname__}(...)"
        )
    if not enabled:
        return store
    _once_per_process_store(
        store,
        "_warned",
        "sessionware: sessions are kept in %s, inside this one process: a second worker "
        "(uvicorn --workers, gunicorn -w) will not see them and a restart loses them all. "
        "For more than one worker or to survive a restart use " + _SHARED_STORES,
    )
    return store
