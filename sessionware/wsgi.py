"""WSGISessionMiddleware: the WSGI shell (any WSGI app), and the sync half it
shares with the Flask integration.

Raw WSGI, wrapping ``start_response``: the session is saved when the app starts
its response, so a store failure can still turn the response into a 503 and a
5xx response saves nothing. ``environ["sessionware.session"]`` is the
:class:`~sessionware.session.Session`; it loads on first use, so a request that
never touches it costs no store I/O. Each request gets its own session and the
middleware keeps no per-request state, so threaded servers (gunicorn gthread,
waitress) are safe as long as the store is (``MemoryStore`` and ``RedisStore`` are).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .bearer import BearerMixin, BearerSession, bearer_plan, bearer_session, planner
from .bounded import Bounded
from .core import (
    RAISED_ADVICE,
    SessionConfig,
    SessionOptions,
    check_option_names,
    claim,
    dead_meta,
    init_option_names,
    logged_out,
    plan,
    run_plan,
    unloaded_logout,
    untouched,
    warn_if_failure_dropped,
)
from .devices import KNOWN_DEVICES, remembered
from .disabled import disabled
from .errors import ConfigurationError, StoreUnavailable, TokenRequired
from .lifecycle import SessionHooks, observed
from .responses import (
    SAVE_ERRORS,
    Refusal,
    checked_store,
    error_body,
    error_headers,
    load_failure,
    merge_headers,
    not_a_store,
    note_missing,
    refusal,
    status_line,
    token_required_body,
    wants_json,
    warn_if_app_sets_cookie,
    warn_if_cookie_will_be_dropped,
)
from .session import Session
from .session_types.access import WSGI_KEY, register
from .stores.base import StoredSession, SyncStore
from .stores.memory import MemoryStore
from .transport import refuse_plain_http, wsgi_is_secure

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from typing_extensions import Unpack

    from .session_types.registry import BoundType

ENVIRON_KEY = "sessionware.session"
Headers = list[tuple[str, str]]


class SyncSessions:
    """Sessions against a sync store: open one per request, save it at the end.

    What the WSGI middleware and the Flask integration share. Raises
    ConfigurationError when ``store`` does not implement the sync store contract.
    """

    def __init__(
        self,
        config: SessionConfig,
        store: SyncStore | None,
        hooks: SessionHooks | None = None,
        metrics: bool = False,
        registry: Any = None,
    ) -> None:
        self.store: SyncStore = checked_store(
            MemoryStore() if store is None else store, config.enabled
        )
        if not isinstance(self.store, SyncStore):
            raise not_a_store(self.store, asynchronous=False)
        self.config = config.with_store(self.store, asynchronous=False)
        label = config.session_type or config.app_id  # what the records say
        calls, self.lifecycle = observed(self.store, label, hooks, metrics, registry)
        self._calls: SyncStore = calls
        tag = config.session_type
        # (sessions off read no store: nor the type, which they never use)
        self.bound = None if tag is None else _bound(tag, self.store, False, config.enabled)
        self._devices: Bounded[tuple[Any, ...], Any] = Bounded(KNOWN_DEVICES)  # see remembered

    def open(
        self,
        cookie_header: str | None,
        cls: type[Session] = Session,
        environ: Mapping[str, Any] | None = None,
    ) -> Session:
        """The request's session (an instance of ``cls``), loading on first use.

        Sync code can load in the middle of ``session["key"]``, so ``autoload``
        makes no difference here; a failing load raises StoreUnavailable there.
        With ``session_type``, the type is read here (UnknownSessionType for a
        type never seen; a store failure is raised at the session's first use,
        see ``BoundType``) and the session is also put under its tag in
        ``environ["sessionware.sessions"]``.
        """
        if not self.config.enabled:  # sessions off: no cookie read or set, no store touched
            return disabled(cls)
        if environ is not None:  # (as ASGI does: one middleware per cookie, per tokens)
            tag = None if self.bound is None else self.bound.tag
            made = "WSGISessionMiddleware(app, ...) or Flask's Sessionware(app"
            claim(environ, self, self.config.cookie.name, self.config.bearer, tag, made)  # type: ignore[arg-type]
        cookies = [cookie_header] if cookie_header else []
        if self.config.bearer:  # no cookie read: the session is the Authorization header's
            cookies, authorization = [], (environ or {}).get("HTTP_AUTHORIZATION")
            cls = cls if issubclass(cls, BearerMixin) else BearerSession
            session = bearer_session(self.config, [authorization] if authorization else [], cls)
        else:
            session = self.config.session_for(cookies, cls, joined=True)
        if self.bound is not None:
            try:
                session._type = self.bound.current()
            except StoreUnavailable as error:  # a 503 if the handler uses the session
                _fail_on_use(session, error)
            if environ is not None:
                register(environ, WSGI_KEY, self.bound.tag, session)  # type: ignore[arg-type]
        if environ is not None and self.config.record_device:  # from the request's environ
            peer, agent = environ.get("REMOTE_ADDR"), environ.get("HTTP_USER_AGENT")
            forwarded = environ.get("HTTP_X_FORWARDED_FOR")
            session._device = remembered(
                self._devices,
                (peer, agent, forwarded),
                lambda: self.config.device_for(peer, agent, forwarded),
            )
        if self.lifecycle is not None:
            self.lifecycle.fire(self.lifecycle.opened(session, cookies, self.config.cookie.name))
        if session._pending:
            session._sync_loader = lambda: self._load(session)
        return session

    def _load(self, session: Session) -> StoredSession | None:
        session_id, kwargs = self.config.load_args(session, time.time())
        record = self._calls.load(session_id, **kwargs)
        if record is None and not self.config.bearer:  # a token's end is ordinary
            note_missing(self.store, session_id, kwargs["now"])
        if self.lifecycle is not None and record is None:
            dead = dead_meta(self.store, session_id, kwargs["now"])
            self.lifecycle.fire(self.lifecycle.loaded(session_id, record, dead))
        return record

    def save(self, session: Session, environ: Mapping[str, Any] | None = None) -> Headers | Refusal:
        """Carry out the end-of-request plan: the headers to add, or, when the
        session could not be saved (logged), the error answer to send instead.

        ``environ`` is the request's, for ``require_https``.
        """
        session._seal()
        if not self.config.enabled:
            return []
        if untouched(session):
            return []
        try:
            decision = (bearer_plan if self.config.bearer else plan)(self.config, session)
            if self.config.require_https:
                secure = wsgi_is_secure(environ or {}, self.config.trusted_proxies)
                refuse_plain_http(decision.method, secure, bearer=self.config.bearer)
            before, looked = None, False
            if self.lifecycle is not None and unloaded_logout(decision, session):
                looked, before = logged_out(self.store, decision.args[0], time.time())  # whose?
            headers = run_plan(self._calls, decision)
        except SAVE_ERRORS as error:
            return refusal(error)
        if self.lifecycle is not None:
            if decision.gone_id:  # a blind write found what a load would have
                dead = dead_meta(self.store, decision.gone_id, time.time())
                self.lifecycle.fire(self.lifecycle.loaded(decision.gone_id, None, dead))
            self.lifecycle.fire(self.lifecycle.saved(decision, session, before, looked))
        if decision.new_token is not None and environ is not None:
            scheme, host = environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST")
            agent = environ.get("HTTP_USER_AGENT")
            warn_if_cookie_will_be_dropped(self.config.cookie.secure, scheme, host, agent)
        return headers


class WSGISessionMiddleware:
    """Server-side sessions for a WSGI app. See the README's configuration table.

    Takes :class:`~sessionware.SessionMiddleware`'s options. ``store`` must
    implement the sync store contract; ``None`` means a fresh
    :class:`~sessionware.MemoryStore`. ``autoload`` has no effect: the session
    always loads on first use. Raises ConfigurationError (a ValueError) for
    invalid options.
    """

    def __init__(
        self,
        app: WSGIApplication,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        store: SyncStore | None = None,
        hooks: SessionHooks | None = None,
        metrics: bool = False,
        registry: Any = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        check_option_names(options, init_option_names(WSGISessionMiddleware.__init__))
        config = SessionConfig.build(secret_key=secret_key, **options)
        self._attach(app, SyncSessions(config, store, hooks, metrics, registry))

    @classmethod
    def sharing(cls, app: WSGIApplication, sessions: SyncSessions) -> WSGISessionMiddleware:
        """The middleware around ``app`` over another shell's ``sessions`` (its options,
        keys, store and hooks; requests follow its keys as they rotate): Flask's
        :meth:`~sessionware.flask.Sessionware.wrap` gives a WSGI app mounted beside a
        Flask app (Werkzeug's ``DispatcherMiddleware``) the Flask app's sessions."""
        middleware = cls.__new__(cls)
        middleware._attach(app, sessions)
        return middleware

    def _attach(self, app: WSGIApplication, sessions: SyncSessions) -> None:
        self.app, self.sessions = app, sessions
        self.config, self.store = sessions.config, sessions.store

    @classmethod
    def from_config(
        cls, app: WSGIApplication, path: str | os.PathLike[str] | None = None, **overrides: Any
    ) -> WSGISessionMiddleware:
        """The middleware with options from :func:`sessionware.config.load` (the file at
        ``path``, then the environment), then ``overrides`` (``store=``, say).

        Raises ConfigurationError as :func:`~sessionware.config.load` does, and when
        no secret key is set anywhere.
        """
        from .config import shell_options

        return cls(app, **shell_options(path, overrides))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        session = self.sessions.open(environ.get("HTTP_COOKIE"), environ=environ)
        if self.sessions.bound is None or self.sessions.config.bearer:
            environ[ENVIRON_KEY] = session  # a bearer app's clients are its tokens' sessions
        else:
            environ.setdefault(ENVIRON_KEY, session)  # the outermost middleware's stays
        exchange = _Exchange(self.sessions, session, start_response)
        exchange.environ = environ
        try:
            body = self.app(environ, exchange.start_response)
        except StoreUnavailable as error:
            if exchange.committed:
                raise
            return exchange.answer(load_failure(error))
        except TokenRequired as error:
            if exchange.committed:
                raise
            return exchange.answer(401, token_required_body(error))
        except Exception as error:
            exchange.failed(error)
            raise
        if isinstance(body, (list, tuple)) and exchange.pending:  # the app is done: commit now
            exchange.commit()
            if exchange.replaced:
                return [exchange.answered]
            return body
        return _Body(exchange, body)


class _Body:
    """What the middleware returns for a streamed body: :meth:`_Exchange.body`'s chunks,
    and a ``close`` that closes the app's own body even when the server closes this
    one before reading any of it (PEP 3333 asks that of every iterable; a generator's
    ``finally`` would not run then). Such a response was never sent: nothing is
    saved, and a change it dropped is logged."""

    __slots__ = ("_app_body", "_chunks", "_exchange", "_started")

    def __init__(self, exchange: _Exchange, body: Iterable[bytes]) -> None:
        self._exchange, self._app_body = exchange, body
        self._chunks = exchange.body(body)
        self._started = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self._started = True
        return next(self._chunks)

    def close(self) -> None:
        self._chunks.close()
        if not self._started:
            self._started = True  # (a second close has nothing left to do)
            exchange = self._exchange
            _close(self._app_body)
            if not exchange.committed:  # (an untouched session warns of nothing)
                config = exchange.sessions.config
                warn_if_failure_dropped(UNSENT, config, exchange.session, planner(config))


class _Exchange:
    """One request's ``start_response`` wrapper.

    PEP 3333: headers are committed only when the first non-empty body chunk (or
    ``write()``) goes out; until then the app may still raise or restart the
    response with ``exc_info``. So the session is saved at that commit, with the
    status then in force, and an app that raises before it saves nothing.
    """

    def __init__(self, sessions: SyncSessions, session: Session, start: StartResponse) -> None:
        self.sessions = sessions
        self.session = session
        self.start = start
        self.pending: tuple[str, Headers, OptExcInfo | None] | None = None
        self.committed = False
        self.replaced = 0  # the error status we answered instead of the app's response
        self.answered = b""  # and its body
        self._write: Callable[[bytes], object] = _discard
        self.environ: Mapping[str, Any] | None = None  # the request's, for require_https

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None and self.committed and not self.replaced:
            raise exc_info[1].with_traceback(exc_info[2])  # type: ignore[union-attr]
        self.pending = (status, list(headers), exc_info)
        return self.write

    def commit(self) -> None:
        if self.committed or self.pending is None:
            return
        status, headers, exc_info = self.pending
        if not untouched(self.session):  # (an anonymous request's cookie ends nothing)
            warn_if_app_sets_cookie(headers, self.sessions.config.cookie.name)
        if int(status[:3]) < 500:
            outcome = self.sessions.save(self.session, self.environ)
            if isinstance(outcome, Refusal):
                self.answer(outcome.status, session=outcome.headers, app=headers)
                return
            headers = _merge(headers, outcome)
        else:
            config = self.sessions.config
            warn_if_failure_dropped(int(status[:3]), config, self.session, planner(config))
        self.committed = True
        self._write = self.start(status, headers, exc_info)

    def write(self, data: bytes) -> object:
        self.commit()
        return None if self.replaced else self._write(data)

    def answer(
        self,
        status: int,
        body: bytes | None = None,
        session: Headers | None = None,
        app: Headers | None = None,
    ) -> list[bytes]:
        """Start the error response for ``status`` instead of the app's; its body
        (``body``, default ``ERROR_BODIES[status]``), with the ``session`` headers and
        the CORS ones among the ``app``'s."""
        self.committed = True
        self.replaced = status
        as_json = wants_json((self.environ or {}).get("HTTP_ACCEPT"))
        self.answered = error_body(status, body, as_json)
        headers = error_headers(status, body, session, app or (), as_json)
        self.start(status_line(status), headers)
        return [self.answered]

    def body(self, body: Iterable[bytes]) -> Generator[bytes, None, None]:
        """The app's body, committing the response before its first non-empty chunk."""
        try:
            if self.replaced:  # refused at a write() the app made before returning
                yield self.answered
                return
            chunks = iter(body)
            while not self.committed:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    self.commit()
                    if self.replaced:
                        yield self.answered
                    return
                except StoreUnavailable as error:
                    if self.committed:
                        raise
                    yield from self.answer(load_failure(error))
                    return
                except Exception as error:
                    self.failed(error)
                    raise
                if not chunk:
                    # Held back: the server may not take a chunk, even an empty one, before
                    # start_response reaches it (wsgiref and Werkzeug assert), and an empty
                    # chunk carries nothing to buffer.
                    continue
                self.commit()
                yield self.answered if self.replaced else chunk
                if self.replaced:
                    return
            yield from chunks
        finally:
            _close(body)
            if self.session._touched or self.session._at_seal:  # the app is done: a late
                # in-place change is lost
                self.session._warn_if_changed_late()

    def failed(self, error: Exception) -> None:
        """The app raised ``error``: before the response was committed, nothing is saved."""
        if not self.committed:
            config = self.sessions.config
            plan_for = planner(config)
            warn_if_failure_dropped(error, config, self.session, plan_for, advice=RAISED_ADVICE)


def _fail_on_use(session: Session, error: StoreUnavailable) -> None:
    """Make the first use of ``session`` raise ``error``, as a failed load does."""

    def fail() -> StoredSession | None:
        raise error

    session._sync_loader, session._unloaded = fail, True


def _merge(headers: Headers, extra: Headers) -> Headers:
    """Add ``extra`` to WSGI ``headers`` (see :func:`merge_headers`)."""
    return merge_headers(list(headers), extra)


UNSENT = "the server closed the response before sending any of it (the client went away?)"


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _discard(data: bytes) -> None:
    """The ``write`` callable once an error response replaced the app's."""


def _bound(tag: str, store: object, asynchronous: bool, check: bool) -> BoundType | None:
    """The binding, checked at start-up: ConfigurationError when the store answers that
    no such type is registered (every request would fail). A store that cannot be read
    now is no refusal: requests try again, answering 503 until it can."""
    from .session_types.binding import bound_type, startup_problem  # a bound one's only

    bound = bound_type(tag, store, asynchronous=asynchronous)
    if check and bound is not None and (problem := startup_problem(bound)) is not None:
        raise ConfigurationError(problem)
    return bound
