"""Flask integration: ``flask.session`` becomes a sessionware :class:`Session`.

    app = Flask(__name__)
    Sessionware(app, secret_key=..., store=RedisStore.from_url(...))

or, with an app factory, ``Sessionware(**options).init_app(app)``. Each option
comes from the keyword argument, else ``app.config["SESSIONWARE_<OPTION>"]``
(``SESSIONWARE_IDLE_TIMEOUT``, ``SESSIONWARE_STORE``: a store or a store URL, ...),
else the config file named by ``SESSIONWARE_CONFIG`` and the environment
(:func:`sessionware.config.load`), else the default; the secret key falls back to
``app.secret_key`` (and ``SECRET_KEY_FALLBACKS``).

It is a Flask ``SessionInterface`` over the WSGI shell's :class:`SyncSessions`,
so it behaves as every other shell: a view that never touches ``flask.session``
costs no store I/O and sets no cookie; nested changes are saved without
``session.modified``; Flask's ``flash()`` and ``get_flashed_messages()`` share
``Session.flash``'s storage. A 5xx response or an unhandled exception saves
nothing; a store failure answers 503 (from a view, through an error handler
registered for :class:`StoreUnavailable`; while saving, by turning the finished
response into the 503, since ``save_session`` cannot return another one).
"""

from __future__ import annotations

import gc
import logging
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from .bearer import BearerMixin, planner
from .core import (
    DEFAULT_IDLE_TIMEOUT,
    PEER_OPTIONS,
    SessionConfig,
    SessionOptions,
    check_option_names,
    init_option_names,
    seconds,
    untouched,
    warn_if_failure_dropped,
)
from .disabled import unused_secret
from .errors import ConfigurationError, StoreUnavailable, TokenRequired, missing_extra
from .lifecycle import SessionHooks
from .responses import (
    Refusal,
    error_body,
    error_headers,
    load_failure,
    no_store,
    token_required_body,
    vary_first_line,
    wants_json,
    warn_if_app_sets_cookie,
)
from .session import Session
from .stores.base import SyncStore
from .wsgi import ENVIRON_KEY, SyncSessions, WSGISessionMiddleware

try:
    import flask
    from flask.sessions import SecureCookieSessionInterface, SessionInterface, SessionMixin
    from flask.signals import got_request_exception
    from werkzeug.local import LocalProxy
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("sessionware.flask", "flask") from error

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from typing_extensions import Unpack

__all__ = ["FlaskBearerSession", "FlaskSession", "Sessionware", "SessionwareInterface", "session"]

logger = logging.getLogger("sessionware")

CONFIG_PREFIX = "SESSIONWARE_"
_OWN_KEYS = {"SECRET_KEY", "STORE", "CONFIG"}


class FlaskSession(Session, SessionMixin):
    """``flask.session``: a sessionware :class:`Session` that is also Flask's ``SessionMixin``.

    ``modified`` never needs setting (in-place changes are detected); set, it
    reads back as set and changes nothing else. ``permanent`` is stored as Flask
    stores it and makes the cookie last ``PERMANENT_SESSION_LIFETIME``, as does the
    stored record when that is longer than the idle timeout.
    """

    # an unhandled exception ended the request: save nothing (said, if that dropped a change)
    _failed: BaseException | None = None
    _load_error: StoreUnavailable | None = None  # what a load of this request raised:
    # from then on it reads as empty, and nothing of it is saved
    _view_done = False  # the view has answered: the after_request hooks run now
    _said_modified = False  # what code set session.modified to (it changes nothing)

    def _after_view(self, response: flask.Response) -> flask.Response:
        """Registered with ``after_this_request``: those run before the app's hooks."""
        self._view_done = True
        return response

    def _ensure_loaded(self) -> None:
        """Load on first use, at most once per request.

        A load that fails inside the view raises StoreUnavailable (answered 503 by
        the error handler, or caught by the view). One that fails in an
        ``after_request`` hook, where Flask runs no error handler, does not raise
        (Flask-Login's hook reads the session on every request: a view that never
        used the session would get a 500). After a failed load the session reads
        as empty and never asks the store again; a change made to it then makes
        the response a 503 (see ``save_session``), and nothing is saved.
        """
        if self._load_error is not None and (self._pending or self._unloaded):
            self._degrade()
        try:
            super()._ensure_loaded()
        except StoreUnavailable as error:
            self._load_error = error
            if not self._view_done:
                raise
            self._degrade()

    def _degrade(self) -> None:
        """Read as empty from now on (keys set blind before stay, to be refused)."""
        blind = self._blind
        self._take(None)  # empty, the dict's storage without its marker
        self._blind, self._unloaded = blind, False

    @property
    def accessed(self) -> bool:
        """True once the view read or wrote the session (``Vary: Cookie`` is then sent)."""
        return self._accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        # Flask sets this on every touch of the flask.session proxy, even one that
        # reads nothing; the session tracks real use itself.
        pass

    @property
    def modified(self) -> bool:
        """True when the session may have changed (written, a key removed, cleared,
        regenerated, or a mutable value read), or code set it; what changed is only
        known when it is saved."""
        if self._touched or self._cleared or self._regenerate or self._blind or self._said_modified:
            return True
        return any(not dict.__contains__(self, key) for key in self._raw)  # one removed

    @modified.setter
    def modified(self, value: bool) -> None:
        # Flask code sets it after changing a nested value; such changes are detected
        # anyway, and saving needs no flag: it only reads back as set
        self._said_modified = bool(value)

    @property
    def new(self) -> bool:  # type: ignore[override]
        """True when no stored session backs this one (yet); loads the session."""
        return self.is_new

    @property
    def sid(self) -> str | None:
        """Flask-Session's ``sid``: the public id (a hash of the cookie's token, never
        the token), safe to log. As there, it is the new id right after
        ``regenerate()``, which names no record until the response has saved it;
        :attr:`id` names the stored one until then (what SessionManager calls take)."""
        return self._pending_id()


class FlaskBearerSession(BearerMixin, FlaskSession):
    """``flask.session`` on an app with ``bearer=True`` (see ``sessionware.bearer``)."""


def _current_session() -> FlaskSession:
    """``flask.session``, once it is known to be sessionware's: on an app that never
    ran ``Sessionware(app)`` it is Flask's own cookie session, which the client can
    read, and writes to it would seem to work."""
    current = flask.session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, Session):
        raise ConfigurationError(
            "sessionware.flask.session is not a sessionware session on this app: "
            f"flask.session is Flask's {type(current).__name__}, whose values the client "
            "can read; call Sessionware(app, secret_key=...) (or sessions.init_app(app)) on "
            "the app that serves this request"
        )
    return cast(FlaskSession, current)


# ``flask.session``, typed as what it is here (``regenerate()``, ``flash()``, ``id`` ...),
# and refusing to stand in for Flask's own cookie session on an app without sessionware
session = cast(FlaskSession, LocalProxy(_current_session))


class SessionwareInterface(SessionInterface):
    """Opens a lazily loading :class:`FlaskSession` per request and saves it after the view.

    ``config`` and ``store`` are the app's validated options and store.
    """

    def __init__(self, sessions: SyncSessions, *, follow_flask_keys: bool = False) -> None:
        self.sessions = sessions
        self.config = sessions.config
        self.store = sessions.store
        # the keys came from SECRET_KEY / SECRET_KEY_FALLBACKS: read them per request, as
        # Flask does, so that rotating them in app.config takes effect without a restart
        self._flask_keys: list[str | bytes] | None = [] if follow_flask_keys else None

    def _follow_flask_keys(self, app: flask.Flask) -> None:
        keys = _flask_secret(app)
        if keys != self._flask_keys:
            signer = type(self.sessions.config.signer)(keys)  # a cookie's, or a token's
            self.sessions.config = replace(self.sessions.config, signer=signer)
            self.config = self.sessions.config
            self._flask_keys = keys

    def wrap(self, wsgi_app: WSGIApplication) -> WSGISessionMiddleware:
        """``wsgi_app`` with this app's sessions: see :meth:`Sessionware.wrap`."""
        return WSGISessionMiddleware.sharing(wsgi_app, self.sessions)

    def regenerate(self, session: SessionMixin) -> None:
        """Flask-Session's ``app.session_interface.regenerate(session)``: the same as
        ``session.regenerate()`` (a new id at the end of the request, data kept)."""
        if not isinstance(session, FlaskSession):
            raise TypeError(f"not a sessionware session: {type(session).__qualname__}")
        session.regenerate()

    def open_session(self, app: flask.Flask, request: flask.Request) -> FlaskSession:
        if self._flask_keys is not None:
            self._follow_flask_keys(app)
        cls = FlaskBearerSession if self.config.bearer else FlaskSession
        opened = self.sessions.open(request.environ.get("HTTP_COOKIE"), cls, request.environ)
        request.environ[ENVIRON_KEY] = opened
        if opened._pending or opened._unloaded:  # a load may come, and fail, in an
            # after_request hook (_unloaded: a bound type that could not be read)
            flask.after_this_request(cast(FlaskSession, opened)._after_view)
        return cast(FlaskSession, opened)

    def save_session(
        self, app: flask.Flask, session: SessionMixin, response: flask.Response
    ) -> None:
        if not isinstance(session, FlaskSession):
            return
        if not untouched(session):  # (an anonymous request's cookie ends nothing)
            warn_if_app_sets_cookie(response.headers.items(), self.config.cookie.name)
        if session._failed is not None:  # a failed request saves nothing
            failure = session._failed
            if isinstance(failure, Exception):
                plan_for = planner(self.config)
                said = f"the request raised {type(failure).__name__} (in a view or a hook)"
                more = (  # (Flask answers it through the 500 handler, if any: no save)
                    ": a request that raised saves nothing, whatever errorhandler(500) "
                    "answers, a flash or clear() made there included; where a change must "
                    "stand (a logout's included), catch the error where it is raised"
                )
                warn_if_failure_dropped(said, self.config, session, plan_for, more=more)
            return
        if response.status_code >= 500:
            warn_if_failure_dropped(
                response.status_code, self.config, session, planner(self.config)
            )
            return
        if session._load_error is not None:
            # used after its load failed: nothing can be saved. A change would be lost,
            # so the answer is a 503; reads of the empty session keep the view's answer
            if session.modified or session._blind:
                _become_error(response, load_failure(session._load_error))
            else:
                logger.warning(
                    "sessionware: the session store failed while loading the session (%s); "
                    "the request went on with an empty session and changed nothing",
                    session._load_error,
                )
            return
        outcome = self.sessions.save(session, flask.request.environ)
        if isinstance(outcome, Refusal):
            _become_error(response, outcome.status, outcome.headers)
            return
        if session._touched or session._at_seal or response.is_streamed:  # a streamed body
            response.call_on_close(session._warn_if_changed_late)  # may change a value: said
        for name, value in outcome:
            if name == "vary":  # Cookie; Authorization for a bearer session
                lines = response.headers.getlist("Vary")
                if (first := vary_first_line(lines, value)) is not None:  # (the other lines
                    del response.headers["Vary"]  # kept as they are, after it)
                    for line in [first, *lines[1:]]:
                        response.headers.add("Vary", line)
            elif name == "cache-control":
                response.headers["Cache-Control"] = no_store(
                    response.headers.get("Cache-Control", "")
                )
            else:
                response.headers.add(name, value)


class Sessionware:
    """Server-side sessions for Flask apps; see the module docstring for options.

    ``Sessionware(app, secret_key=..., store=..., **options)``, or without
    ``app`` and then :meth:`init_app` once per app. Raises ConfigurationError
    (a ValueError) for invalid options, at ``init_app``.
    """

    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        secret_key: str | bytes | Sequence[str | bytes] | None = None,
        store: SyncStore | None = None,
        hooks: SessionHooks | None = None,
        metrics: bool = False,
        registry: Any = None,
        **options: Unpack[SessionOptions],
    ) -> None:
        self._secret_key = secret_key
        self._store = store
        self._observe = (hooks, metrics, registry)
        self._options = options
        # the apps' interfaces, held weakly: an app factory that makes an app per test
        # with one Sessionware lets each go (and the store it opened from a URL, below)
        self._interfaces: weakref.WeakSet[SessionwareInterface] = weakref.WeakSet()
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"Sessionware(store={self._store!r}, options={self._options!r})"

    def wrap(self, wsgi_app: WSGIApplication) -> WSGISessionMiddleware:
        """``wsgi_app`` (``AdminConsole(...).wsgi()``, say) with the Flask app's sessions,
        to mount beside it: ``DispatcherMiddleware(app.wsgi_app, {"/admin/sessions":
        sessions.wrap(console.wsgi())})``. A dispatched app runs outside Flask, so
        ``flask.session`` never reaches it; wrapped, it reads the same cookie with the
        same keys from the same store (``environ["sessionware.session"]``).

        Raises ConfigurationError before :meth:`init_app`, or after it ran for more
        than one app (then use ``app.extensions["sessionware"].wrap(...)``).
        """
        if len(self._interfaces) != 1:
            gc.collect()  # (an app let go may hold its interface until a collection)
        if len(self._interfaces) != 1:
            raise ConfigurationError(
                f"Sessionware.wrap needs the one Flask app it serves; it was set up on "
                f"{len(self._interfaces)}: call it after Sessionware(app) or init_app(app), "
                'or use app.extensions["sessionware"].wrap(...) for the app to share'
            )
        return next(iter(self._interfaces)).wrap(wsgi_app)

    def init_app(self, app: flask.Flask) -> SessionwareInterface:
        """Make ``flask.session`` a sessionware session on ``app``; returns its interface.

        Raises ConfigurationError when ``app`` already has another session
        interface (Flask-Session's, or a second Sessionware): two session layers
        would each think they own ``flask.session``.
        """
        current = app.session_interface
        if not isinstance(current, SecureCookieSessionInterface) or "sessionware" in app.extensions:
            raise ConfigurationError(
                f"app {app.name!r} already has a session interface "
                f"({type(current).__qualname__}); keep one: remove the other extension "
                "(Flask-Session's Session(app), say), or call Sessionware(...) once per app"
            )
        check_option_names(self._options, init_option_names(Sessionware.__init__))
        explicit: dict[str, Any] = {**_config_options(app.config), **self._options}
        flask_own = _flask_options(app)
        file_options = _file_options(app.config)  # the file and the environment
        from .config import environment_options

        environment = environment_options()  # above Flask's settings, below SESSIONWARE_*
        _warn_overridden(
            {
                **{
                    o: (v, f"{CONFIG_PREFIX}{o.upper()} (environment)")
                    for o, v in environment.items()
                },
                **{
                    o: (v, f"app.config[{CONFIG_PREFIX + o.upper()!r}]")
                    for o, v in explicit.items()
                },
                **{o: (v, f"{o}= (code)") for o, v in self._options.items()},
            },
            flask_own,
        )
        given = {**file_options, **explicit}
        if {**given, **environment}.get("session_type") is not None:
            # a bound type's sessions last its lifetime: Flask's is not an option given
            flask_own.pop("permanent_lifetime", None)
        lifetime = flask_own.get("permanent_lifetime")
        if lifetime is not None and not {"idle_timeout", "permanent_lifetime"} & set(given):
            # a stored session lives no longer than PERMANENT_SESSION_LIFETIME past its last
            # request, as in Flask-Session's store; a longer one never lengthens the default
            lifetime = seconds(lifetime, "PERMANENT_SESSION_LIFETIME")
            if lifetime is not None and lifetime < DEFAULT_IDLE_TIMEOUT.total_seconds():
                max_age = seconds(given.get("max_age"), "max_age")  # a shorter one still caps
                flask_own["idle_timeout"] = lifetime if max_age is None else min(lifetime, max_age)
        if given.get("enabled") is not False:
            _check_other_extension(app, has_store=self._store is not None)
        # lowest first: the file, Flask's own settings, the environment, SESSIONWARE_* keys
        options = {**file_options, **flask_own, **environment, **explicit}
        secret_key = self._secret_key
        follow = False
        if secret_key is None:
            secret_key = app.config.get(CONFIG_PREFIX + "SECRET_KEY")
            if not secret_key and options.get("secret_key"):  # SESSIONWARE_SECRET_KEY
                secret_key = _beside_flask_keys(options["secret_key"], app)
            secret_key = secret_key or unused_secret(options)
            if not secret_key:
                secret_key, follow = _flask_secret(app), True
        options.pop("secret_key", None)
        config = SessionConfig.build(secret_key=secret_key, **options)
        store, opened = self._store, False
        if store is None:
            store = app.config.get(CONFIG_PREFIX + "STORE")
            if isinstance(store, str):  # a URL, as the sessionware command's --store takes
                from .stores.urls import open_store

                store = open_store(store)  # (the URL's ?prefix=, else the store's default)
                opened = True
        if store is None:  # the environment's, as for every other option
            from .config import environment_store

            store = environment_store()
            opened = store is not None
        interface = SessionwareInterface(
            SyncSessions(config, store, *self._observe), follow_flask_keys=follow
        )
        if opened and callable(close := getattr(store, "close", None)):
            weakref.finalize(interface, close)  # a store opened here closes with its app
        app.session_interface = interface
        app.extensions["sessionware"] = interface
        self._interfaces.add(interface)
        app.before_request(_still_ours(app, interface, _settings_of(app.config)))
        app.register_error_handler(StoreUnavailable, _store_unavailable)
        app.register_error_handler(TokenRequired, _token_required)
        got_request_exception.connect(_mark_failed, app, weak=False)
        return interface


# Flask's own session settings -> sessionware's options. Only a value the app changed from
# Flask's default is taken: Flask's defaults (SESSION_COOKIE_SECURE = False, SameSite
# unset) are weaker than sessionware's, and an app that never chose them keeps ours.
_FLASK_SETTINGS = {
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_DOMAIN": "domain",
    "SESSION_COOKIE_PATH": "path",
    "SESSION_COOKIE_HTTPONLY": "http_only",
    "SESSION_COOKIE_SECURE": "secure",
    "SESSION_COOKIE_SAMESITE": "same_site",
    "SESSION_COOKIE_PARTITIONED": "partitioned",
    "PERMANENT_SESSION_LIFETIME": "permanent_lifetime",
    "SESSION_REFRESH_EACH_REQUEST": "refresh_each_request",
}


_FLASK_FLAGS = frozenset(
    {
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_PARTITIONED",
        "SESSION_REFRESH_EACH_REQUEST",
    }
)


def _flask_flag(key: str, value: object) -> bool:
    """A Flask on/off setting as Flask reads it: 1 and 0 (from_prefixed_env gives ints)
    are True and False. Text is refused, naming the setting: Flask would take "false"
    for on, which is never what it says."""
    if isinstance(value, (bool, int)):
        return bool(value)
    raise ConfigurationError(
        f"app.config[{key!r}] must be True or False, not {value!r}: Flask reads any text as "
        "on, so 'false' would mean True"
    )


def _flask_options(app: flask.Flask) -> dict[str, Any]:
    """The sessionware options that Flask's own settings on ``app`` ask for."""
    defaults = flask.Flask.default_config
    options: dict[str, Any] = {}
    for key, option in _FLASK_SETTINGS.items():
        value = app.config.get(key)
        if key not in app.config or value == defaults.get(key):
            continue
        if key == "SESSION_COOKIE_DOMAIN" and value is False:
            continue
        if key == "SESSION_COOKIE_PATH" and not value:
            continue  # Flask falls back to APPLICATION_ROOT, below
        if key == "SESSION_COOKIE_DOMAIN" and isinstance(value, str):
            host, colon, port = value.rpartition(":")
            value = host if colon and port.isdigit() else value  # a port: Werkzeug drops it
        if key in _FLASK_FLAGS:
            value = _flask_flag(key, value)
        options[option] = value
    root = app.config.get("APPLICATION_ROOT")
    if "path" not in options and root and root != defaults.get("APPLICATION_ROOT"):
        options["path"] = root  # Flask's fallback when SESSION_COOKIE_PATH is not set
    return options


_ANY_CASE = {"same_site", "domain"}  # options whose values ignore case ("Strict", "strict")


def _same(option: str, a: Any, b: Any) -> bool:
    """Two spellings of one value of ``option``: "Strict" and "strict" (where case does
    not matter: not in a cookie's name or path), timedelta(hours=2) and 7200."""
    if isinstance(a, timedelta):
        a = a.total_seconds()
    if isinstance(b, timedelta):
        b = b.total_seconds()
    if option in _ANY_CASE and isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


def _warn_overridden(explicit: Mapping[str, tuple[Any, str]], flask_own: Mapping[str, Any]) -> None:
    """One start-up warning listing Flask settings that sessionware options override;
    ``explicit``: each option's value and where it was set (the one that wins)."""
    clashes = [
        f"{key} (Flask) vs {explicit[option][1]} = {explicit[option][0]!r}"
        for key, option in _FLASK_SETTINGS.items()
        if option in explicit
        and option in flask_own
        and not _same(option, explicit[option][0], flask_own[option])
    ]
    if clashes:
        logger.warning(
            "sessionware: these Flask session settings are overridden by sessionware's own "
            "options: %s; drop one of each pair to silence this",
            "; ".join(clashes),
        )


# Flask-Session's settings (none of which sessionware reads), with what replaces each
_FLASK_SESSION_HINTS = {
    "SESSION_TYPE": "SESSIONWARE_STORE = a store URL (redis://..., sqlite:///path, "
    "postgresql://...) or store=",
    "SESSION_REDIS": "SESSIONWARE_STORE = 'redis://...' or store=RedisStore(client)",
    "SESSION_KEY_PREFIX": "a prefix in the store URL (redis://...?prefix=myapp:) or "
    "RedisStore.from_url(url, prefix=...)",
    "SESSION_PERMANENT": "session.permanent = True where a session starts (at login), or "
    "SESSIONWARE_MAX_AGE for every cookie: Flask-Session's default True made every cookie "
    "persistent, and sessionware's end with the browser unless told",
    "SESSION_USE_SIGNER": "nothing: the cookie is always signed",
    "SESSION_ID_LENGTH": "nothing: ids are always 256 bits",
    "SESSION_SERIALIZATION_FORMAT": "nothing: values are stored as msgpack, exact types",
    "SESSION_SQLALCHEMY": "SESSIONWARE_STORE = the database's URL (postgresql://... or "
    "sqlite:///path): PostgresStore and SQLiteStore keep tables of their own",
    "SESSION_SQLALCHEMY_TABLE": "a table prefix in the store URL "
    "(postgresql://...?prefix=sessionware_, or app.sessionware_ for a schema)",
    "SESSION_SQLALCHEMY_SCHEMA": "the schema in the store URL's prefix "
    "(postgresql://...?prefix=app.sessionware_)",
}
_FLASK_SESSION_FAMILIES = (  # each backend's settings: SESSION_SQLALCHEMY_TABLE, ...
    "SESSION_MEMCACHED",
    "SESSION_FILE_",
    "SESSION_MONGODB",
    "SESSION_SQLALCHEMY",
    "SESSION_CLEANUP_N_REQUESTS",
    "SESSION_CACHELIB",
    "SESSION_DYNAMODB",
)


def _check_other_extension(app: flask.Flask, *, has_store: bool) -> None:
    """Flask-Session's settings are not read here. With ``SESSION_TYPE`` and no store of
    our own, sessions would silently stay in this process: ConfigurationError.
    Otherwise one warning names each one set and what replaces it."""
    foreign = sorted(
        key
        for key in app.config
        if (key in _FLASK_SESSION_HINTS or key.startswith(_FLASK_SESSION_FAMILIES))
        and not (key == "SESSION_PERMANENT" and app.config[key] is False)  # ours already
    )
    if not foreign:
        return
    if "SESSION_TYPE" in foreign and "SESSION_PERMANENT" not in app.config:
        foreign = sorted([*foreign, "SESSION_PERMANENT"])  # its default True: not ours
    from .config import environment_store_url

    store_given = (
        has_store
        or app.config.get(CONFIG_PREFIX + "STORE") is not None
        or bool(environment_store_url())
    )
    if "SESSION_TYPE" in foreign and not store_given:
        raise ConfigurationError(
            f"SESSION_TYPE = {app.config['SESSION_TYPE']!r} is Flask-Session's setting, which "
            "sessionware does not read: without a store of its own, sessions would stay in "
            f"this process. Set {_FLASK_SESSION_HINTS['SESSION_TYPE']}"
        )
    logger.warning(
        "sessionware: these Flask-Session settings are not read by sessionware: %s",
        "; ".join(
            f"{key} (use {_FLASK_SESSION_HINTS[key]})" if key in _FLASK_SESSION_HINTS else key
            for key in foreign
        ),
    )


def _file_options(config: Any) -> dict[str, Any]:
    """What the config file and the ``SESSIONWARE_*`` environment variables set: the file
    is ``app.config["SESSIONWARE_CONFIG"]``, else the one the environment's
    ``SESSIONWARE_CONFIG`` names (relative: to the current directory), else none. A
    relative ``app.config`` path is read where Flask's ``config.from_file`` reads one
    (``config.root_path``: the app's folder, or its instance folder with
    ``instance_relative_config``), or else from the current directory, where earlier
    releases read it."""
    from .config import load

    path = config.get(CONFIG_PREFIX + "CONFIG") or None
    if path is not None and not os.path.isabs(path):
        beside = os.path.join(getattr(config, "root_path", ""), path)
        path = beside if os.path.exists(beside) or not os.path.exists(path) else path
    return load(path)


def _config_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SESSIONWARE_*`` options in ``app.config``; ConfigurationError for unknown ones."""
    names = set(SessionOptions.__annotations__)
    options: dict[str, Any] = {}
    for key, value in config.items():
        if not key.startswith(CONFIG_PREFIX) or key[len(CONFIG_PREFIX) :] in _OWN_KEYS:
            continue
        name = key[len(CONFIG_PREFIX) :].lower()
        if name not in names:
            known = sorted(CONFIG_PREFIX + n.upper() for n in names | {"secret_key", "store"})
            hint = f" (use {PEER_OPTIONS[name]})" if name in PEER_OPTIONS else ""
            raise ConfigurationError(
                f"unknown Flask config key {key!r}{hint}; sessionware reads: {', '.join(known)}"
            )
        if name in _ON_OFF and type(value) is int and value in (0, 1):
            value = bool(value)  # (Flask's from_prefixed_env reads FLASK_..._SECURE=0 as 0)
        options[name] = value
    return options


# the on/off options, which Flask's from_prefixed_env gives as 0 and 1 (as it does its own)
_ON_OFF = frozenset(
    name
    for name, kind in SessionOptions.__annotations__.items()
    if getattr(kind, "__forward_arg__", kind) in ("bool", "bool | None")
)


def _flask_secret(app: flask.Flask) -> list[str | bytes]:
    if not app.secret_key:
        raise ConfigurationError(
            "Sessionware needs a secret key: pass secret_key=..., or set "
            "app.config['SESSIONWARE_SECRET_KEY'], app.secret_key or the environment "
            "variable SESSIONWARE_SECRET_KEY"
        )
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, (str, bytes)):  # (a list of one character per key, else)
        raise ConfigurationError(
            "app.config['SECRET_KEY_FALLBACKS'] is one string; Flask takes a list of older "
            "keys: SECRET_KEY_FALLBACKS = ['the-old-key']"
        )
    return [app.secret_key, *fallbacks]


def _beside_flask_keys(
    environment: str | bytes | Sequence[str | bytes], app: flask.Flask
) -> list[str | bytes]:
    """The keys of the environment's ``SESSIONWARE_SECRET_KEY``, which sign, then the
    app's ``SECRET_KEY`` and fallbacks, which still verify: cookies signed with Flask's
    key before the variable was set (or read) stay valid. Logged once, at start-up."""
    keys = [environment] if isinstance(environment, (str, bytes)) else list(environment)
    flask_keys = [key for key in (_flask_secret(app) if app.secret_key else []) if key not in keys]
    if flask_keys:
        logger.warning(
            "sessionware: cookies are signed with the environment's SESSIONWARE_SECRET_KEY; "
            "the app's SECRET_KEY (and fallbacks) only verify existing cookies. Unset one of "
            "them to silence this"
        )
    return [*keys, *flask_keys]


def _still_ours(
    app: flask.Flask, interface: SessionwareInterface, settings: dict[str, Any]
) -> Callable[[], None]:
    """A ``before_request`` check: an extension set up after ``Sessionware(app)``
    (Flask-Session's ``Session(app)``, say) that replaced its session interface would
    otherwise run every session in its place, in silence. At the first request it also
    warns, once, of session settings (``settings``: as read at set-up) that the app
    changed afterwards: they have no effect, where Flask-Session reads them per request
    (an app factory, or a test fixture, that edits ``app.config`` after ``create_app()``)."""
    unchecked = [True]

    def check() -> None:
        if app.session_interface is not interface:
            raise ConfigurationError(
                f"app {app.name!r}'s session interface was replaced after Sessionware(app) "
                f"by {type(app.session_interface).__qualname__}: its sessions are not "
                "sessionware's. Keep one: remove the other extension (Flask-Session's "
                "Session(app), say)"
            )
        if unchecked:
            unchecked.clear()
            now = _settings_of(app.config)
            changed = sorted(key for key in {*settings, *now} if settings.get(key) != now.get(key))
            if changed:  # (names only: a value may be a secret)
                logger.warning(
                    "sessionware: app %r changed %s after Sessionware(app) read its settings: "
                    "the change has no effect; set them before Sessionware(app) or "
                    "init_app(app) (in an app factory, before it returns)",
                    app.name,
                    ", ".join(f"app.config[{key!r}]" for key in changed),
                )

    return check


def _settings_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The session settings sessionware reads from ``app.config`` at set-up: Flask's own
    cookie and lifetime settings and every ``SESSIONWARE_*`` key, as compared: a
    duration as its seconds (31 days as a timedelta or as 2678400 is one setting), a
    list, set or dict as a copy (changed in place, it is still a change)."""
    return {
        key: _as_compared(value)
        for key, value in config.items()
        if key in _FLASK_SETTINGS or key.startswith(CONFIG_PREFIX)
    }


def _as_compared(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (list, set, dict)):
        return value.copy()
    return value


def _store_unavailable(error: StoreUnavailable) -> flask.Response:
    """The error handler for a store failure inside a view (a lazy load): 503."""
    status, as_json = load_failure(error), _wants_json()
    return flask.current_app.response_class(
        error_body(status, None, as_json), status, error_headers(status, as_json=as_json)
    )


def _token_required(error: TokenRequired) -> flask.Response:
    """The error handler for a write to a bearer session no token backs: 401."""
    body, as_json = token_required_body(error), _wants_json()
    return flask.current_app.response_class(
        error_body(401, body, as_json), 401, error_headers(401, body, as_json=as_json)
    )


def _wants_json() -> bool:
    """:func:`~sessionware.responses.wants_json` for the request's ``Accept`` header."""
    return wants_json(flask.request.headers.get("Accept"))


def _mark_failed(sender: flask.Flask, exception: BaseException, **extra: object) -> None:
    """An unhandled exception: whatever the 500 handler answers, save nothing."""
    opened = flask.request.environ.get(ENVIRON_KEY)
    if isinstance(opened, FlaskSession):
        opened._failed = exception


def _become_error(
    response: flask.Response, status: int, session: list[tuple[str, str]] | None = None
) -> None:
    """Turn the finished ``response`` into the plain error answer for ``status``, with
    the ``session``'s headers (a 409's cookie expiry) and the app's CORS headers
    (flask-cors adds them in an ``after_request`` hook, which has run by now)."""
    close = getattr(response.response, "close", None)
    if close is not None:
        close()
    app = list(response.headers.items())
    response.status_code = status
    response.direct_passthrough = False
    response.headers.clear()
    as_json = _wants_json()
    response.headers.extend(error_headers(status, session=session, app=app, as_json=as_json))
    response.set_data(error_body(status, None, as_json))
