"""SessionMiddleware: the ASGI shell (Starlette, FastAPI, any ASGI app).

Raw ASGI, wrapping ``send``: the session is saved when the response starts, so
a store failure can still turn the response into a 503 and a 5xx response
saves nothing. ``scope["session"]`` (Starlette's ``request.session``) is the
:class:`~sessionware.session.Session`. Websocket connections get the session
loaded for reading; changes made there are not saved.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from .bearer import bearer_plan, bearer_session, planner
from .bounded import Bounded
from .core import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_PERMANENT_LIFETIME,
    Duration,
    SessionConfig,
    adead_meta,
    alogged_out,
    arun_plan,
    check_option_names,
    claim,
    nothing_to_store,
    plan,
    unloaded_logout,
    untouched,
    warn_if_failure_dropped,
)
from .devices import KNOWN_DEVICES, remembered
from .disabled import DisabledSession
from .encryption import Keyring
from .errors import ConfigurationError, StoreUnavailable, TokenRequired
from .lifecycle import SessionHooks, observed
from .responses import (
    ERROR_BODIES,
    SAVE_ERRORS,
    checked_store,
    error_body,
    error_headers,
    load_failure,
    merge_headers,
    not_a_store,
    note_missing,
    refusal,
    token_required_body,
    wants_json,
    warn_if_app_sets_cookie,
    warn_if_cookie_will_be_dropped,
)
from .session import ABANDONED, WEBSOCKET, Session
from .session_types.access import ASGI_KEY, register
from .stores.base import AsyncStore
from .stores.memory import MemoryStore
from .transport import asgi_is_secure, refuse_plain_http

if TYPE_CHECKING:
    from .session_types.registry import BoundType

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SessionMiddleware:
    """Server-side sessions for an ASGI app. See the README's configuration table.

    ``store`` must implement the async store contract; ``None`` means a fresh
    :class:`~sessionware.MemoryStore`. ``secret_key`` may come second, by position,
    as Starlette's own SessionMiddleware takes it; every other option is a keyword.
    Raises ConfigurationError (a ValueError) for invalid options.
    """

    def __new__(cls, *args: Any, **options: Any) -> SessionMiddleware:
        """Refuses another library's option names (``session_cookie``, ``https_only``,
        ``lifetime``...) with :class:`~sessionware.errors.UnknownOption`, which names
        ours, before Python's bare TypeError would; type checkers read ``__init__``.
        A subclass with an ``__init__`` of its own (more options) is left to it."""
        if options and cls.__init__ is SessionMiddleware.__init__:
            check_option_names(options, _INIT_OPTIONS)
        return super().__new__(cls)

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        store: AsyncStore | None = None,
        cookie_name: str = "session",
        idle_timeout: Duration | None = DEFAULT_IDLE_TIMEOUT,
        absolute_timeout: Duration | None = None,
        max_age: Duration | None = None,
        secure: bool = True,
        http_only: bool = True,
        same_site: str | None = "lax",
        domain: str | None = None,
        path: str = "/",
        max_payload_bytes: int = 65536,
        autoload: bool = True,
        app_id: str = "default",
        user_key: str | None = None,
        email_key: str | None = None,
        enabled: bool = True,
        require_https: bool = False,
        record_device: bool = True,
        partitioned: bool = False,
        permanent_lifetime: Duration = DEFAULT_PERMANENT_LIFETIME,
        encryption: Keyring | None = None,
        refresh_each_request: bool | None = None,
        trusted_proxies: Sequence[str] = (),
        bearer: bool = False,
        session_type: str | None = None,
        rotate_on_login: bool = True,
        hooks: SessionHooks | None = None,
        metrics: bool = False,
        registry: Any = None,
    ) -> None:
        self.app = app
        self.config = SessionConfig.build(
            secret_key=secret_key,
            cookie_name=cookie_name,
            idle_timeout=idle_timeout,
            absolute_timeout=absolute_timeout,
            max_age=max_age,
            secure=secure,
            http_only=http_only,
            same_site=same_site,
            domain=domain,
            path=path,
            max_payload_bytes=max_payload_bytes,
            autoload=autoload,
            app_id=app_id,
            user_key=user_key,
            email_key=email_key,
            enabled=enabled,
            require_https=require_https,
            record_device=record_device,
            partitioned=partitioned,
            permanent_lifetime=permanent_lifetime,
            encryption=encryption,
            refresh_each_request=refresh_each_request,
            trusted_proxies=trusted_proxies,
            bearer=bearer,
            session_type=session_type,
            rotate_on_login=rotate_on_login,
        )
        self.store: AsyncStore = checked_store(
            MemoryStore() if store is None else store, self.config.enabled
        )
        if not isinstance(self.store, AsyncStore):
            raise not_a_store(self.store, asynchronous=True)
        self.config = self.config.with_store(self.store, asynchronous=True)
        label = session_type or app_id  # what the records say: a bound type's tag
        calls, self.lifecycle = observed(self.store, label, hooks, metrics, registry)
        self._calls: AsyncStore = calls
        self.bound = None if session_type is None else _bound(session_type, self.store, True)
        self._devices: Bounded[tuple[Any, ...], Any] = Bounded(KNOWN_DEVICES)  # see _device

    @classmethod
    def from_config(
        cls, app: ASGIApp, path: str | os.PathLike[str] | None = None, **overrides: Any
    ) -> SessionMiddleware:
        """The middleware with options from :func:`sessionware.config.load` (the file at
        ``path``, then the environment), then ``overrides`` (``store=``, say).

        Raises ConfigurationError as :func:`~sessionware.config.load` does, and when
        no secret key is set anywhere. On Starlette or FastAPI, install it with
        ``app.add_middleware(SessionMiddleware.from_config, path, ...)``: wrapping the
        app puts Starlette's error handler inside, which answers 500 for the 401s and
        503s this middleware answers.
        """
        from .config import shell_options

        return cls(app, **shell_options(path, overrides))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if (
                kind == "lifespan"
                and self.config.enabled
                and (self.bound is not None or _on_asyncio(self))
            ):
                check = _StartupCheck(self, receive, send)
                await self.app(scope, check.receive, check.send)
                if check.problem is not None:  # (a test client's startup raises it)
                    raise ConfigurationError(check.problem)
                return
            await self.app(scope, receive, send)
            return
        config = self.config
        if not config.enabled:  # sessions off: no cookie read or set, no store touched
            scope["session"] = DisabledSession()
            await self.app(scope, receive, send)
            return
        name = config.cookie.name
        if "session" in scope:
            refuse_foreign_session(scope, "outside")
        tag = None if self.bound is None else self.bound.tag
        claim(scope, self, name, config.bearer, tag, "add_middleware(SessionMiddleware")
        # one pass over the headers: the cookies (or bearer tokens), and the device's two
        cookies, tokens = [], []
        agent = forwarded = None
        for header, value in scope["headers"]:
            if header == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif header == b"user-agent":
                agent = value
            elif header == b"x-forwarded-for":  # repeated lines are one list (RFC 9110)
                forwarded = value if forwarded is None else forwarded + b", " + value
            elif header == b"authorization":
                tokens.append(value.decode("latin-1"))
        if config.bearer:  # no cookie read: the session is the Authorization header's
            cookies, session = [], bearer_session(config, tokens)
        else:
            session = config.session_for(cookies)
        if self.bound is not None:
            try:
                session._type = await self.bound.acurrent()
            except StoreUnavailable as error:
                await _refuse(scope, send, load_failure(error))
                return
            register(scope, ASGI_KEY, self.bound.tag, session)
            if config.bearer:  # the API's clients are its tokens' sessions, not a cookie's
                scope["session"] = session
            else:
                scope.setdefault("session", session)  # request.session stays the outermost's
        else:
            scope["session"] = session
        scope.setdefault("session_handler", _NO_STARSESSIONS)  # (starsessions' own, if outer)
        if self.lifecycle and (events := self.lifecycle.opened(session, cookies, name)):
            await self.lifecycle.afire(events)
        if session._pending:
            if self.config.autoload:
                try:
                    await self._load(session)
                except StoreUnavailable as error:
                    await _refuse(scope, send, load_failure(error))
                    return
            else:
                session._async_loader = lambda: self._load_record(session)
        if not self.config.autoload:
            session._unloaded = True  # with or without a cookie: load() comes first
        if kind == "websocket":
            # no response carries a cookie, and nothing is saved: a change warns (see
            # Session._warn_if_sealed), as one after an HTTP response started does
            session._sealed = WEBSOCKET
            socket = _Socket(send)
            try:
                await self.app(scope, receive, socket.send)
            except Exception as error:  # a load() in the handler (autoload=False)
                failure = _store_failure(error)
                if failure is None:
                    raise
                status = load_failure(failure)
                if not socket.accepted:
                    await _refuse(scope, send, status)  # the handshake's 503, as autoload's
                elif not socket.closed:
                    await send({"type": "websocket.close", "code": 1013})  # try again later
                return
            if session._touched:
                session._warn_if_changed_late()
            return
        secure = not config.require_https or asgi_is_secure(scope, config.trusted_proxies)
        response = _Response(self, session, send, scope, secure, (agent, forwarded))
        try:
            await self.app(scope, receive, response.wrapped_send)
        except StoreUnavailable as error:
            if response.started:
                raise
            await _send_error(send, load_failure(error), as_json=_wants_json(scope))
        except TokenRequired as error:
            if response.started:
                raise
            body = token_required_body(error)
            await _send_error(send, 401, body, as_json=_wants_json(scope))
        except Exception as error:
            if not response.started:  # whatever answers it (a 500, or an exception
                # handler run outside this middleware), the answer carries no save
                warn_if_failure_dropped(error, config, session, planner(config))
                session._sealed = ABANDONED  # that handler's changes warn (Session)
            elif session._touched or session._at_seal:  # (a streamed body that failed)
                session._warn_if_changed_late()
            raise
        else:
            if session._touched or session._at_seal:  # changed in place after the start?
                session._warn_if_changed_late()

    async def _load_record(self, session: Session) -> Any:
        session_id, kwargs = self.config.load_args(session, time.time())
        record = await self._calls.aload(session_id, **kwargs)
        if record is None and not self.config.bearer:  # a token's end is ordinary
            note_missing(self.store, session_id, kwargs["now"])
        if self.lifecycle is not None and record is None:
            dead = await adead_meta(self.store, session_id, kwargs["now"])
            await self.lifecycle.afire(self.lifecycle.loaded(session_id, record, dead))
        return record

    async def _load(self, session: Session) -> None:
        session._fill(await self._load_record(session))
        session._accessed = False  # loading for the handler is not the handler reading


# SessionMiddleware's keyword options, read once from its signature (see __new__)
_INIT_OPTIONS = frozenset(inspect.signature(SessionMiddleware.__init__).parameters) - {
    "self",
    "app",
}


def _store_failure(error: BaseException) -> StoreUnavailable | None:
    """``error`` when it is a StoreUnavailable, or the first of an exception group that
    holds nothing else (a handler's task group: a reader and a writer task)."""
    if isinstance(error, StoreUnavailable):
        return error
    inner = getattr(error, "exceptions", None)  # (BaseExceptionGroup, or its backport)
    if isinstance(inner, tuple) and inner:
        found = [_store_failure(each) for each in inner]
        if all(found):
            return found[0]
    return None


class _Socket:
    """A websocket's ``send``, watched: whether the handshake was accepted (or refused)
    and the socket closed, so that a store failure the handler leaves uncaught is
    answered as the protocol still allows (a 503 before the handshake, a close after),
    never left to the server's 500."""

    __slots__ = ("_send", "accepted", "closed")

    def __init__(self, send: Send) -> None:
        self._send, self.accepted, self.closed = send, False, False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted = True
        elif kind == "websocket.close" or kind == "websocket.http.response.start":
            self.accepted = self.closed = True  # (nothing more may be sent on it)
        await self._send(message)


def _on_asyncio(middleware: SessionMiddleware) -> bool:
    """Whether the middleware's store needs the asyncio event loop: sessionware's own
    stores that do I/O do (redis.asyncio, psycopg's asyncio pool, asyncio.to_thread),
    and a subclass of one; MemoryStore and other libraries' stores are left to run
    where they can."""
    return any(kind.__module__ in _ON_ASYNCIO for kind in type(middleware.store).__mro__)


# the modules of the stores whose async methods need asyncio (a subclass's too)
_ON_ASYNCIO = frozenset(
    f"sessionware.stores.{name}" for name in ("redis", "sql", "sqlite", "postgres")
)


def _not_asyncio_problem(middleware: SessionMiddleware) -> str | None:
    """Why the app cannot serve sessions here: a store that needs asyncio, under
    another event loop (trio: ``hypercorn -k trio``, anyio's trio backend), where every
    request that loads or saves a session would answer 500; ``None`` when it can."""
    if not _on_asyncio(middleware):
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return (
            f"sessionware's {type(middleware.store).__name__} runs on asyncio, and this "
            "server runs the app on another event loop (trio: hypercorn -k trio, or "
            "anyio's trio backend), where every request with a session would fail: serve "
            "it on asyncio (hypercorn -k asyncio, uvicorn, granian)"
        )
    return None


class _StartupCheck:
    """The lifespan protocol of a middleware bound to a type, or whose store needs
    asyncio: the app's startup complete is answered with startup failed when the type
    is not in the store, or the event loop is not asyncio's, so that the server stops
    at start-up (uvicorn: "Application startup failed. Exiting."), where every request
    would otherwise answer 500. The app, which did start, is then told to shut down
    (its shutdown complete stays here), and the middleware raises the problem once it
    has ended."""

    def __init__(self, middleware: SessionMiddleware, receive: Receive, send: Send) -> None:
        self.middleware, self._receive, self._send = middleware, receive, send
        self.problem: str | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            self.problem = _not_asyncio_problem(self.middleware)
            if self.problem is None and (bound := self.middleware.bound) is not None:
                from .session_types.binding import astartup_problem  # (a bound one's only)

                self.problem = await astartup_problem(bound)
            if self.problem is not None:
                message = {"type": "lifespan.startup.failed", "message": self.problem}
        elif self.problem is not None and message["type"].startswith("lifespan.shutdown"):
            return  # (the server was told the startup failed: it expects no more)
        await self._send(message)

    async def receive(self) -> Message:
        if self.problem is not None:
            return {"type": "lifespan.shutdown"}
        return await self._receive()


class _Response:
    """One request's ``send`` wrapper: saves the session as the response starts."""

    __slots__ = (
        "device_headers",
        "middleware",
        "replaced",
        "scope",
        "secure",
        "send",
        "session",
        "started",
    )

    def __init__(
        self,
        middleware: SessionMiddleware,
        session: Session,
        send: Send,
        scope: Scope,
        secure: bool,
        device_headers: tuple[bytes | None, bytes | None],
    ) -> None:
        self.middleware = middleware
        self.session = session
        self.send = send
        self.started = False
        self.replaced = False  # we answered an error instead of the app's response
        self.secure = secure  # may the session be written on this request (require_https)?
        self.scope = scope  # the request's: its scheme and host, for one warning
        # User-Agent and X-Forwarded-For: the device is worked out only for a save
        self.device_headers = device_headers

    async def wrapped_send(self, message: Message) -> None:
        if self.replaced:
            return
        if message["type"] == "http.response.start":
            self.started = True
            session = self.session
            found = self.scope.get("session")
            if found is not session and found is not None:  # (an outer sessionware's: fine)
                refuse_foreign_session(self.scope, "inside")
            session._seal()  # from here on, changes can no longer be saved
            config = self.middleware.config
            idle = untouched(session)
            if not idle:  # (an anonymous request's cookie, if the app set one, ends nothing)
                warn_if_app_sets_cookie(message.get("headers", ()), config.cookie.name)
            if message["status"] < 500 and not idle:
                extra: list[tuple[str, str]] | None
                if nothing_to_store(session) and not config.bearer:
                    extra = [("vary", "Cookie")] if session._accessed else []  # plan()'s answer
                else:
                    extra = await self._save(message)
                    if extra is None:
                        return
                if extra:
                    headers = merge_headers(list(message.get("headers", [])), extra, raw=True)
                    message = {**message, "headers": headers}
            elif message["status"] >= 500:
                warn_if_failure_dropped(message["status"], config, session, planner(config))
        await self.send(message)

    async def _save(self, start: Message) -> list[tuple[str, str]] | None:
        """The headers to add to the app's ``start`` message, or ``None`` when an error
        response went out instead (keeping the app's CORS headers). The caller skips
        a session :func:`~sessionware.core.untouched`: nothing to save."""
        session = self.session
        config = self.middleware.config
        agent, forwarded = self.device_headers
        session._device = _device(config, self.scope, agent, forwarded, self.middleware._devices)
        try:
            decision = (bearer_plan if config.bearer else plan)(config, self.session)
            refuse_plain_http(decision.method, self.secure, bearer=config.bearer)
            before, looked, lifecycle = None, False, self.middleware.lifecycle
            if lifecycle and unloaded_logout(decision, session):  # whose was it?
                now = time.time()
                looked, before = await alogged_out(self.middleware.store, decision.args[0], now)
            headers = await arun_plan(self.middleware._calls, decision)
        except SAVE_ERRORS as error:
            failed = refusal(error)
        else:
            if lifecycle and decision.gone_id:  # a blind write found what a load would have
                dead = await adead_meta(self.middleware.store, decision.gone_id, time.time())
                await lifecycle.afire(lifecycle.loaded(decision.gone_id, None, dead))
            if lifecycle and (events := lifecycle.saved(decision, self.session, before, looked)):
                await lifecycle.afire(events)
            if decision.new_token is not None:
                scheme, host = self.scope.get("scheme", "http"), _host(self.scope)
                secure_cookie = self.middleware.config.cookie.secure
                agent = self.device_headers[0]
                warn_if_cookie_will_be_dropped(secure_cookie, scheme, host, agent)
            return headers
        self.replaced = True
        app = start.get("headers", ())
        await _send_error(
            self.send,
            failed.status,
            session=failed.headers,
            app=app,
            as_json=_wants_json(self.scope),
        )
        return None


def refuse_foreign_session(scope: Scope, where: str) -> None:
    """Raise ConfigurationError when ``scope["session"]`` is another library's: a
    session middleware ``where`` ("outside", "inside") sessionware's, such as
    Starlette's own or one a library adds (SQLAdmin's AuthenticationBackend). Left
    alone, the inner one writes the session into a cookie the client can read, and
    its cookie may replace sessionware's (signing users out); the outer one fails
    later with its own, misleading, error. A 500 on the requests both serve, at once."""
    found = scope.get("session")
    if found is None or isinstance(found, (Session, DisabledSession)):
        return
    kind = type(found)
    raise ConfigurationError(
        f"another session middleware {where} sessionware's SessionMiddleware put a "
        f"{kind.__module__}.{kind.__qualname__} in scope['session'] (Starlette's "
        "SessionMiddleware, say, or one a library adds, such as SQLAdmin's "
        "AuthenticationBackend): keep one session layer. Remove the other middleware "
        "(with SQLAdmin: authentication_backend.middlewares = [], and its login then "
        "shares the site's sessionware session)"
    )


def _host(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return None


def _device(
    config: SessionConfig,
    scope: Scope,
    agent: bytes | None,
    forwarded: bytes | None,
    known: Bounded[tuple[Any, ...], Any],
) -> Any:
    """The request's device for ``config.device_for``, from its peer and the two
    headers it reads; ``known``: the devices this middleware worked out lately (see
    :func:`devices.remembered`)."""
    if not config.record_device:
        return None
    peer = (scope.get("client") or (None,))[0]

    def make() -> Any:
        return config.device_for(
            peer,
            None if agent is None else agent.decode("latin-1"),
            None if forwarded is None else forwarded.decode("latin-1"),
        )

    return remembered(known, (peer, agent, forwarded), make)


async def _refuse(scope: Scope, send: Send, status: int) -> None:
    """Answer ``status`` instead of the app: an error response over HTTP; for a websocket,
    the same response where the server offers the ASGI ``websocket.http.response``
    extension (uvicorn does), else a close before the handshake (servers answer 403).
    Returning without a word would leave the server to answer 500."""
    if scope["type"] == "http":
        await _send_error(send, status, as_json=_wants_json(scope))
    elif "websocket.http.response" in scope.get("extensions", {}):
        headers = _raw(error_headers(status))
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": ERROR_BODIES[status]})
    else:
        await send({"type": "websocket.close", "code": 1013})  # try again later


class _StarsessionsHelpers:
    """What ``scope["session_handler"]`` holds: starsessions' helpers (``load_session``,
    ``get_session_id``, ``regenerate_session_id``, its autoload middleware) find it and
    learn what replaces them, rather than failing with a bare KeyError."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle, hasattr probes of the scope: no such thing
            raise AttributeError(name)
        raise ConfigurationError(
            "a starsessions helper (load_session, get_session_id, regenerate_session_id, "
            "is_loaded, get_session_metadata, SessionAutoloadMiddleware) met sessionware's "
            "SessionMiddleware: use `await request.session.load()` (or autoload, the "
            "default), `request.session.id`, `request.session.regenerate()` and "
            "`await AsyncSessionManager(store).get(request.session.id)` instead"
        )


_NO_STARSESSIONS = _StarsessionsHelpers()


def _raw(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _send_error(
    send: Send, status: int, body: bytes | None = None, *, as_json: bool = False, **extra: Any
) -> None:
    """The error answer for ``status`` (JSON ``as_json``, else plain text); ``extra``:
    :func:`error_headers`' ``session`` and ``app`` headers."""
    headers = _raw(error_headers(status, body, as_json=as_json, **extra))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(status, body, as_json)})


def _wants_json(scope: Scope) -> bool:
    """:func:`~sessionware.responses.wants_json` for the request's ``Accept`` header."""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return wants_json(value)
    return False


def _bound(tag: str, store: object, asynchronous: bool) -> BoundType | None:
    from .session_types.binding import bound_type  # only a bound middleware needs it

    return bound_type(tag, store, asynchronous=asynchronous)
