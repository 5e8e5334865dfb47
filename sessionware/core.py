"""The sans-I/O core: options, the request's session, and the end-of-request plan.

Every shell (ASGI, WSGI, Flask) does the same three things:

1. ``config.session_for(cookie_headers)`` → a :class:`Session`, not loaded yet;
2. load it through the store when it is used (or at once with ``autoload``),
   giving the result to ``session._fill``;
3. ``plan(config, session, now)`` → a :class:`Plan` naming one store call and the
   headers to send; :func:`run_plan` / :func:`arun_plan` carry it out.

Nothing here awaits or imports a framework, so the decision is written once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from . import codec, devices
from .bounded import Bounded
from .codec import MAX_RECORD_BYTES, check_indexable
from .cookies import (
    MAX_COOKIE_SECONDS,
    CookieSettings,
    CookieSigner,
    TokenSigner,
    cookie_values,
    new_token,
    public_id,
)
from .encryption import SEAL_OVERHEAD, Keyring, indexed_user
from .errors import ConfigurationError, SchemaViolation, SessionConflict, UnknownOption
from .identity import UserPath
from .session import FLASH_KEY, Session
from .stores.base import (
    EXPIRED,
    MAX_DURATION_SECONDS,
    MOVED,
    REVOKED,
    TOO_LARGE,
    UNCOUNTED_KEYS,
    WRITTEN,
    AsyncStore,
    BlindWrite,
    Changes,
    Meta,
    SyncStore,
    attribute_count,
    checks_changes,
    entry_size,
    slid_expiry,
    too_large,
    written_meanwhile,
)
from .transport import Network, parse_proxies

logger = logging.getLogger("sessionware")

DEFAULT_IDLE_TIMEOUT = dt.timedelta(days=30)
DEFAULT_PERMANENT_LIFETIME = dt.timedelta(days=31)  # Flask's PERMANENT_SESSION_LIFETIME
PERMANENT_KEY = "_permanent"  # Flask's key: True, or the seconds remember() was given

# Keys frameworks keep for themselves, not counted as the session's attributes:
# flash messages, and Flask's permanent flag.
INTERNAL_KEYS = UNCOUNTED_KEYS  # (the stores count a record's keys by the same rule)
Duration = dt.timedelta | int | float

# A persistent cookie is sent again once this share of its max_age has passed,
# so its expiry slides with use without a Set-Cookie on every response.
COOKIE_REFRESH_FRACTION = 0.01


# what a duration option's range error says None means, where not "no expiry"
# (permanent_lifetime takes no None: nothing)
_NONE_MEANS = {"max_age": "; None means a browser-session cookie", "permanent_lifetime": ""}


def seconds(value: Duration | None, name: str, at_least: float = 0.0) -> float | None:
    """``value`` in seconds; ``None`` stays ``None``. Raises ConfigurationError if not
    positive, or under ``at_least`` (a cookie's times are whole seconds: a middleware's
    timeouts under one would start a new session on every request, without a word)."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    else:
        raise ConfigurationError(
            f"{name} must be a datetime.timedelta or seconds (int or float), not "
            f"{type(value).__qualname__}"
        )
    if 0 < result < at_least:
        raise ConfigurationError(
            f"{name} must be at least {at_least:g} second(s), got {value!r}: a session "
            "would end before its next request (a timeout is in seconds; timeout_minutes "
            "in a config file is in minutes)"
        )
    if not 0 < result <= MAX_DURATION_SECONDS:  # also refuses NaN
        raise ConfigurationError(
            f"{name} must be positive seconds up to 100 years, got {value!r}"
            + (_NONE_MEANS.get(name, "; None means no expiry") if result > 0 else "")
        )
    return result


class SessionOptions(TypedDict, total=False):
    """:meth:`SessionConfig.build`'s options other than ``secret_key``.

    For shells that take them as ``**options`` (WSGI, Flask): defaults and
    validation live in ``build`` alone.
    """

    cookie_name: str
    idle_timeout: Duration | None
    absolute_timeout: Duration | None
    max_age: Duration | None
    permanent_lifetime: Duration
    encryption: Keyring | None
    refresh_each_request: bool | None
    secure: bool
    http_only: bool
    same_site: str | None
    domain: str | None
    path: str
    max_payload_bytes: int
    autoload: bool
    app_id: str
    user_key: str | None
    email_key: str | None
    rotate_on_login: bool
    enabled: bool
    require_https: bool
    record_device: bool
    partitioned: bool
    trusted_proxies: Sequence[str]
    bearer: bool
    session_type: str | None


# What other session libraries call an option (starsessions, Starlette, Flask-Session),
# and what takes its place here: the hint an unknown option's error gives.
PEER_OPTIONS = {
    "lifetime": "absolute_timeout (starsessions' lifetime as it is by default, "
    "rolling=False: the session ends that long after it began, however active) and max_age "
    "(the cookie's lifetime); with rolling=True, idle_timeout (it ends that long after "
    "its last request) and max_age",
    "rolling": "refresh_each_request=True to renew the cookie on every response; "
    "the stored session's idle_timeout slides with every request already",
    "https_only": "secure",
    "cookie_https_only": "secure",
    "session_cookie": "cookie_name",
    "cookie_same_site": "same_site",
    "cookie_samesite": "same_site",
    "cookie_domain": "domain",
    "cookie_path": "path",
    "serializer": "nothing: values are stored as msgpack, with their exact types",
    "permanent": "session.permanent = True in a view, or max_age for every cookie",
    "key_prefix": "the store's own prefix (RedisStore.from_url(url, prefix=...))",
    # ours, but keyword arguments in code only: what a config file or app.config
    # cannot name (an object, or a registry of objects; the environment never reads them)
    "metrics": "metrics=True in code, where the middleware or Sessionware(app) is made",
    "hooks": "hooks=SessionHooks(...) in code",
    "registry": "registry= in code, with metrics=True",
    "encryption": "encryption=Keyring([...]) in code, its keys read from the app's secrets "
    "(Flask: app.config['SESSIONWARE_ENCRYPTION'] = Keyring([...]))",
}
CODE_ONLY = frozenset({"metrics", "hooks", "registry", "encryption"})  # ours, objects only


def check_option_names(
    options: Mapping[str, Any], known: Collection[str] = SessionOptions.__annotations__
) -> None:
    """:class:`UnknownOption` naming each option that is not one of ``known`` (by default
    :class:`SessionOptions`), with what replaces it for another library's name, in place
    of Python's TypeError."""
    unknown = sorted(set(options) - set(known))
    if not unknown:
        return
    raise UnknownOption(
        f"unknown session option(s): {'; '.join(name + use_instead(name) for name in unknown)}. "
        f"The options are: {', '.join(sorted(known))}"
    )


def init_option_names(init: Callable[..., Any]) -> frozenset[str]:
    """The keyword options a shell's ``init`` takes: its own keyword parameters and,
    for its ``**options``, :class:`SessionOptions` (for :func:`check_option_names`)."""
    names: set[str] = set()
    for parameter in inspect.signature(init).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY or (
            parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            and parameter.name not in ("self", "app")  # (secret_key, as Starlette has it)
        ):
            names.add(parameter.name)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names.update(SessionOptions.__annotations__)
    return frozenset(names)


def claim(
    request: MutableMapping[str, Any],
    owner: object,
    name: str,
    bearer: bool,
    tag: str | None,
    made: str,
) -> None:
    """Note on ``request`` (an ASGI scope, a WSGI environ) that ``owner`` (a middleware)
    serves it, with cookie ``name`` or (``bearer``) the tokens of type ``tag``
    (``None``: every type's); ConfigurationError when another one serves the same cookie
    or tokens: their sessions would overwrite each other's cookie on every response,
    signing users out with no error. The same owner may claim again (Flask opens a
    session twice for a test client's ``session_transaction``). ``made`` is how the app
    adds a middleware, for the message."""
    if bearer:  # reads no cookie: no clash with a cookie middleware around it
        bearers: dict[str | None, object] = request.setdefault("sessionware.bearer", {})
        # an untyped bearer middleware opens every type's tokens: it overlaps any other
        others = [tag for tag, known in bearers.items() if known is not owner]
        if others and (tag is None or None in others or tag in others):
            raise ConfigurationError(
                "two sessionware bearer SessionMiddleware open the same tokens on this "
                "request: keep one per session_type (an untyped one opens every type)"
            )
        bearers[tag] = owner
        return
    owners: dict[str, object] = request.setdefault("sessionware.cookies", {})
    known = owners.setdefault(name, owner)
    if known is not owner:  # nested apps need distinct cookies
        raise ConfigurationError(
            f"two sessionware SessionMiddleware use the cookie {name!r} on this request: "
            f"keep one {made}, ...) (pass store= to it), or give a mounted app (or a "
            "second session type) its own cookie_name"
        )


def use_instead(name: str) -> str:
    """What to write after an unknown option's ``name``: ``" (use secure)"`` when it is
    another library's name (:data:`PEER_OPTIONS`), else nothing. The keyword options and
    the config file's ``sessions`` block both say it."""
    return f" (use {PEER_OPTIONS[name]})" if name in PEER_OPTIONS else ""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Validated middleware options, shared by every shell."""

    signer: CookieSigner
    cookie: CookieSettings
    idle_seconds: float | None
    absolute_seconds: float | None
    max_payload_bytes: int
    autoload: bool
    app_id: str
    user_key: UserPath | None
    email_key: UserPath | None
    enabled: bool = True  # False: no cookie read or set, no store touched (sessionware.disabled)
    require_https: bool = False  # refuse session writes over plain http (sessionware.transport)
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-Proto/-For are believed
    record_device: bool = True
    permanent_seconds: int = 31 * 24 * 3600  # the cookie of a session made permanent
    encryption: Keyring | None = None  # seals every stored value (sessionware.encryption)
    refresh_each_request: bool | None = None  # re-send a persistent cookie: always/never/1%
    bearer: bool = False  # sessions come from Authorization: Bearer, never a cookie (bearer.py)
    session_type: str | None = None  # the tag of the type the sessions are bound to
    rotate_on_login: bool = True  # a new id when a write names a user the record did not
    # keys set without a read are saved without a load (see with_store, Session._blind)
    blind_writes: bool = False
    blind_skip: frozenset[str] = frozenset()  # keys that always load first: see with_store
    # ids whose record a load found missing or unusable: never written blind (see plan)
    unreadable: Bounded[str, None] = field(
        default_factory=lambda: Bounded(UNREADABLE_REMEMBERED), compare=False, repr=False
    )

    @classmethod
    def build(
        cls,
        *,
        secret_key: str | bytes | Sequence[str | bytes],
        cookie_name: str = "session",
        idle_timeout: Duration | None = DEFAULT_IDLE_TIMEOUT,
        absolute_timeout: Duration | None = None,
        max_age: Duration | None = None,
        permanent_lifetime: Duration = DEFAULT_PERMANENT_LIFETIME,
        encryption: Keyring | None = None,
        refresh_each_request: bool | None = None,
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
        trusted_proxies: Sequence[str] = (),
        bearer: bool = False,
        session_type: str | None = None,
        rotate_on_login: bool = True,
    ) -> SessionConfig:
        """Validate every middleware option; ConfigurationError (a ValueError) if wrong."""
        _check_binding(session_type, app_id, user_key)
        _check_type_lifetime(
            session_type,
            idle_timeout=idle_timeout is not DEFAULT_IDLE_TIMEOUT,
            absolute_timeout=absolute_timeout is not None,
            max_age=max_age is not None,
            permanent_lifetime=permanent_lifetime is not DEFAULT_PERMANENT_LIFETIME,
        )
        cookie_max_age = seconds(max_age, "max_age", at_least=1)
        if not isinstance(max_payload_bytes, int) or not 0 < max_payload_bytes <= MAX_RECORD_BYTES:
            raise ConfigurationError(
                f"max_payload_bytes must be a positive int up to {MAX_RECORD_BYTES}, "
                f"not {max_payload_bytes!r}"
            )
        for flag, value in (
            ("enabled", enabled),
            ("require_https", require_https),
            ("secure", secure),
            ("http_only", http_only),
            ("autoload", autoload),
        ):
            _flag(value, flag)  # "false" from a file or the environment is no False
        return cls(
            signer=(TokenSigner if bearer else CookieSigner)(secret_key),
            cookie=CookieSettings(
                name=cookie_name,
                path=path,
                domain=domain,
                secure=secure,
                http_only=http_only,
                same_site=same_site,
                max_age=None if cookie_max_age is None else max(1, round(cookie_max_age)),
                partitioned=_flag(partitioned, "partitioned"),
            ),
            idle_seconds=_idle_default(idle_timeout, cookie_max_age),
            absolute_seconds=seconds(absolute_timeout, "absolute_timeout", at_least=1),
            max_payload_bytes=max_payload_bytes,
            autoload=autoload,
            app_id=app_id,
            user_key=None if user_key is None else UserPath.parse(user_key, "user_key"),
            email_key=None if email_key is None else UserPath.parse(email_key, "email_key"),
            enabled=enabled,
            require_https=require_https,
            trusted_proxies=parse_proxies(trusted_proxies),
            record_device=_flag(record_device, "record_device"),
            permanent_seconds=max(1, round(_remembered_seconds(permanent_lifetime))),
            encryption=_keyring(encryption),
            refresh_each_request=(
                None
                if refresh_each_request is None
                else _flag(refresh_each_request, "refresh_each_request", or_none=True)
            ),
            bearer=_flag(bearer, "bearer"),
            session_type=session_type,
            rotate_on_login=_flag(rotate_on_login, "rotate_on_login"),
        )

    def with_store(self, store: object, *, asynchronous: bool) -> SessionConfig:
        """These options, with blind writes on when ``store`` offers them.

        A blind write saves the keys a request set without reading the session in
        one store call (``write``/``awrite``, see ``stores/base.py``), with no load
        first. It is off with encryption (sizes are of the plaintext), a bound
        session type (its selector reads the whole session) and bearer tokens;
        keys the user or email paths start at, and the framework's own keys,
        always load first.
        """
        method = "awrite" if asynchronous else "write"
        able = callable(getattr(store, method, None))
        able = able and self.encryption is None and self.session_type is None and not self.bearer
        roots = {path.keys[0] for path in (self.user_key, self.email_key) if path is not None}
        return dataclasses.replace(
            self, blind_writes=able, blind_skip=frozenset(roots) | INTERNAL_KEYS
        )

    def device_for(
        self, peer: str | None, user_agent: str | None, forwarded_for: str | None
    ) -> devices.Device | None:
        """The request's device to record (``None`` when ``record_device`` is off)."""
        if not self.record_device:
            return None
        ip = devices.client_ip(peer, forwarded_for, self.trusted_proxies)
        return devices.current(user_agent, ip)

    def session_for(
        self, cookie_headers: Iterable[str], cls: type[Session] = Session, *, joined: bool = False
    ) -> Session:
        """A new, unloaded session for a request with these ``Cookie`` header values.

        The first cookie of our name whose signature verifies wins; a forged,
        malformed or oversized one is ignored (the session starts empty).
        ``cls`` is the class to make: a :class:`Session` subclass a framework
        needs (Flask's ``flask.session``). ``joined``: WSGI's ``HTTP_COOKIE``,
        where repeated headers arrive joined with ``,`` (see ``cookie_values``).
        """
        session = cls(max_payload_bytes=self.max_payload_bytes)
        session._keyring = self.encryption
        # only this app's records open here: another app's cookie, on the same key and
        # store, finds nothing (and a blind write checks the same: see _blind_write)
        session._app = self.session_type or self.app_id
        values = cookie_values(cookie_headers, self.cookie.name, joined=joined)
        session._cookie_sent = bool(values)
        for value in values:
            verified = self.signer.verify(value)
            if verified is not None:
                session._token, session._signed_at = verified.token, verified.signed_at
                session._resign = not verified.current_key
                session._remembered_cookie = verified.permanent
                session._id = public_id(session._token)
                session._pending = True
                break
        if self.blind_writes and not (session._resign or session._remembered_cookie):
            fit = not self._cookie_due(session._signed_at) and session._id not in self.unreadable
            session._blind_ok = fit
            session._blind_skip = self.blind_skip
        return session

    def _cookie_due(self, signed_at: float | None) -> bool:
        """Whether a save would send this session's cookie again (``_update``'s rule for a
        session that is not remembered): a blind write never sends one, so it loads."""
        max_age = self.cookie.max_age
        if max_age is None or signed_at is None:
            return False
        if self.refresh_each_request is not None:
            return self.refresh_each_request
        span = min(max_age, MAX_COOKIE_SECONDS)  # as _cookie_span counts it
        return time.time() - signed_at >= max(1.0, span * COOKIE_REFRESH_FRACTION) + 1

    def load_args(self, session: Session, now: float) -> tuple[str, dict[str, Any]]:
        """The id and keyword arguments of the store's ``load``/``aload`` call."""
        assert session._id is not None
        idle = self.idle_seconds
        if session._remembered_cookie and idle is not None:
            idle = max(idle, self.permanent_seconds)  # "remember me" outlasts the idle timeout
        return session._id, {"now": now, "idle_seconds": idle}


@dataclass(slots=True)
class Plan:
    """What to do once the handler is done: at most one store call, then headers.

    ``method`` is the store method (``"save"``; an async store's is ``"asave"``)
    or ``""`` for none. ``headers`` go out when the call succeeds;
    ``headers_if_gone`` when it reports the record is no longer live (it was
    revoked, expired, logged out or given a new id elsewhere meanwhile): never a
    cookie (see :func:`_with`), and only when that cost the request nothing
    (:meth:`gone`; otherwise the run raises :class:`SessionConflict`).
    """

    method: str = ""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    headers_if_gone: list[tuple[str, str]] = field(default_factory=list)
    # sent too if the record is gone because it ended (revoked, expired), not replaced
    expire_if_ended: tuple[str, str] | None = None
    session: Session | None = None  # whose id and token change when the call succeeds
    new_token: str | None = None  # the token it then has (None: none, after a logout)
    # a blind write's plan when its record is gone: a new session with the keys set
    fallback: Callable[[], Plan] | None = None
    gone_id: str | None = None  # once it fell back: the id whose record was gone
    # a save's own work, lost if the record is gone: keys the handler set, and keys it
    # removed (not values sealed anew under a newer key, nor a flash read)
    sets_keys: bool = False
    removes_keys: bool = False
    # a logout whose cookie named no live record: that id, whose mark says whether a
    # login moved it moments ago (see refuse_if_overtaken); the plan itself is empty
    logout_of: str | None = None

    def fall_back(self, outcome: object) -> bool:
        """After a blind write: ``False`` when it was written. Otherwise this plan
        becomes its fallback (a new session holding the keys set) and ``True`` says
        to carry that out; raises SessionTooLarge when the store refused the size."""
        if self.method != "write" or outcome == WRITTEN:
            return False
        if outcome == TOO_LARGE:
            raise too_large(self.args[1].max_size_bytes)
        assert self.fallback is not None
        gone_id, fresh = self.args[0], self.fallback()
        for name in _PLAN_FIELDS:
            setattr(self, name, getattr(fresh, name))
        self.gone_id = gone_id  # for the lifecycle: what a load would have reported
        return True

    def gone_before(self) -> str | None:
        """For a new session's plan (``create``): the id its request named (a cookie,
        or a blind write's record) whose record was not live, if any; else ``None``.
        A store's mark on it (``base.MarkingStore``) says whether a concurrent login
        or logout took it. Not for a login's new session (``regenerate()``) nor one
        the handler cleared first (``clear()``, then a user or a flash): it wants
        nothing of the old record, so the login or logout form sent twice, the
        second after the first's response, does its work again rather than answer
        409."""
        session = self.session
        if session is None or session._regenerate or session._cleared:
            return None
        return session._unusable

    def refuse_if_taken(self, gone_id: str, mark: str | None) -> None:
        """Raise :class:`SessionConflict` (a 409 with no cookie) when ``mark`` says a
        login or logout took ``gone_id`` moments ago: the browser now holds (or soon
        will) the cookie that response set, which this new session's would replace,
        signing the user out. Sent again, the request carries that cookie."""
        if mark is not None:
            raise SessionConflict(gone_id, ended=False, headers=self.result_headers(False))

    def ends_session(self) -> bool:
        """Whether this is a logout: a delete, or a rotation that carries nothing over
        and starts a session of only framework keys (``clear()``, then a flash). One
        that stores the app's own keys is a login written as ``clear()`` then the user,
        which signs in afresh whatever happened to the old id."""
        if self.method == "delete":
            return True
        return (
            self.method == "rotate"
            and not self.kwargs.get("require_live", True)
            and set(self.args[2]) <= INTERNAL_KEYS
        )

    def refuse_if_overtaken(self, mark: str | None, session_id: str | None = None) -> None:
        """After a logout (:meth:`ends_session`, or :attr:`logout_of` for one whose
        cookie named no live record): raise :class:`SessionConflict` (a 409 with no
        cookie) when ``mark`` says a login gave the session a new id before the logout
        ran, so that it ended nothing and the signed-in session lives on under the
        cookie the login's response set. Sent again, the logout carries that cookie and
        ends it. (A mark is left only by a store that keeps them: see
        ``base.MarkingStore``. A logout's own mark is ``LOGGED_OUT``; a login that came
        after it finds nothing to move and leaves none.)"""
        if mark == MOVED:
            gone = self.args[0] if session_id is None else session_id
            raise SessionConflict(gone, ended=False, headers=self.result_headers(False))

    def gone(
        self, ended: bool, written: bool = False, mark: str | None = None
    ) -> list[tuple[str, str]]:
        """The headers for a save or rotation that found its record gone; ``ended``:
        its tombstone says it was revoked or expired (its cookie is then expired).

        Raises :class:`SessionConflict` when that lost what the handler did: a save
        of keys it set (or removed, unless the session ended: the keys went with
        it), or a rotation (a login) of a session that ended, that another request
        wrote meanwhile (``written``: the store refused to carry an older view over
        it), or that another login moved or a logout ended (``mark``, from a store
        that leaves marks: see ``base.MarkingStore``). A login whose record another
        login moved is the login form sent twice, most often: the browser threw the
        first response away, cookie and all, so a 200 with no cookie would leave the
        user signed out without a word, and making a record of its own from what it
        loaded could bring back a session revoked or logged out since, or drop a write
        the first login carried; sent again (reloaded), it signs in afresh. A save
        that wrote only the device, values sealed anew under a newer key or a flash
        read loses nothing. A rotation on a store that leaves no marks keeps the
        handler's answer and sends no cookie, as before marks.
        """
        if ended and self.expire_if_ended is not None:
            self.headers_if_gone.append(self.expire_if_ended)
        headers = self.result_headers(False)
        if self.method == "rotate":
            lost = ended or written or mark is not None
        else:
            lost = self.sets_keys or (self.removes_keys and not ended)
        if lost:
            raise SessionConflict(self.args[0], ended=ended, headers=headers, written=written)
        return headers

    def result_headers(self, outcome: object) -> list[tuple[str, str]]:
        """The headers to send given what the store call returned.

        A session that was created, rotated or deleted takes its new id (``None``
        once deleted), so that code running after the response (a background task)
        sees the record that exists. A response that sets the cookie always
        carries ``Vary: Cookie`` and ``Cache-Control: no-store`` (merged with the
        app's own by the shell), so that no shared cache stores one user's
        Set-Cookie for others (CVE-2023-30861).
        """
        if self.session is not None:
            token = None if outcome is False else self.new_token
            self.session._token = token
            self.session._id = None if token is None else public_id(token)
        headers = self.headers_if_gone if outcome is False else self.headers
        if any(n == "set-cookie" for n, _ in headers):
            if ("vary", "Cookie") not in headers:
                headers = [("vary", "Cookie"), *headers]
            # and no shared cache may keep a response that sets someone's session cookie
            headers = [*headers, ("cache-control", "no-store")]
        return headers


_PLAN_FIELDS = tuple(f.name for f in dataclasses.fields(Plan))


# the store calls whose record found gone may have cost the request its work (Plan.gone)
GONE_MATTERS = ("save", "rotate")


def run_plan(store: SyncStore, plan: Plan) -> list[tuple[str, str]]:
    """Carry out ``plan`` against a sync store; returns the headers to add. Raises
    SessionTooLarge when the store refused a save or blind write as over the cap
    (nothing written: concurrent requests passed it together), and SessionConflict
    when the record was gone and the request's changes with it (:meth:`Plan.gone`)."""
    if plan.logout_of is not None:  # a logout of a cookie whose session a login took?
        plan.refuse_if_overtaken(moved_mark(store, plan.logout_of), plan.logout_of)
    kwargs = _kwargs_for(store, plan)
    if plan.method == "create" and (gone_id := plan.gone_before()):
        plan.refuse_if_taken(gone_id, moved_mark(store, gone_id))
    outcome = getattr(store, plan.method)(*plan.args, **kwargs) if plan.method else None
    if plan.fall_back(outcome):
        if plan.method == "create" and (gone_id := plan.gone_before()):
            plan.refuse_if_taken(gone_id, moved_mark(store, gone_id))
        outcome = getattr(store, plan.method)(*plan.args, **kwargs)
    if plan.ends_session():  # a logout: was the session moved from under it?
        mark = moved_mark(store, plan.args[0])
        if mark == MOVED and plan.method == "rotate":
            store.delete(plan.args[1])  # the new session it made: its cookie never went out
        plan.refuse_if_overtaken(mark)
    if outcome is False and plan.method in GONE_MATTERS:
        dead = dead_meta(store, plan.args[0], time.time())
        ended, written = _ended(dead), written_meanwhile(kwargs, dead)
        mark = None
        if plan.method == "rotate" and not (ended or written):
            mark = moved_mark(store, plan.args[0])
        return plan.gone(ended, written, mark)
    return plan.result_headers(outcome)


async def arun_plan(store: AsyncStore, plan: Plan) -> list[tuple[str, str]]:
    """:func:`run_plan` against an async store: the headers to add; raises as it does."""
    if plan.logout_of is not None:  # a logout of a cookie whose session a login took?
        plan.refuse_if_overtaken(await amoved_mark(store, plan.logout_of), plan.logout_of)
    method = getattr(store, "a" + plan.method) if plan.method else None
    kwargs = _kwargs_for(store, plan)
    if plan.method == "create" and (gone_id := plan.gone_before()):
        plan.refuse_if_taken(gone_id, await amoved_mark(store, gone_id))
    outcome = await method(*plan.args, **kwargs) if method else None
    if plan.fall_back(outcome):
        if plan.method == "create" and (gone_id := plan.gone_before()):
            plan.refuse_if_taken(gone_id, await amoved_mark(store, gone_id))
        outcome = await getattr(store, "a" + plan.method)(*plan.args, **kwargs)
    if plan.ends_session():  # a logout: was the session moved from under it?
        mark = await amoved_mark(store, plan.args[0])
        if mark == MOVED and plan.method == "rotate":
            await store.adelete(plan.args[1])  # the new session it made: never sent
        plan.refuse_if_overtaken(mark)
    if outcome is False and plan.method in GONE_MATTERS:
        dead = await adead_meta(store, plan.args[0], time.time())
        ended, written = _ended(dead), written_meanwhile(kwargs, dead)
        mark = None
        if plan.method == "rotate" and not (ended or written):
            mark = await amoved_mark(store, plan.args[0])
        return plan.gone(ended, written, mark)
    return plan.result_headers(outcome)


def _kwargs_for(store: object, plan: Plan) -> dict[str, Any]:
    """The plan's keyword arguments that ``store`` takes: a rotation's
    ``unchanged_since`` only where its class says it checks it (a store written
    before that argument keeps working, without the check)."""
    kwargs = plan.kwargs
    if "unchanged_since" in kwargs and not checks_changes(store):
        return {key: value for key, value in kwargs.items() if key != "unchanged_since"}
    return kwargs


def _ended(meta: Meta | None) -> bool:
    """Whether a record a save found gone ended (revoked, expired): its tombstone says
    so. One that was given a new id, or logged out, left none: another request's
    response has set the cookie that follows it, which this one must not touch."""
    return meta is not None and meta.status in (REVOKED, EXPIRED)


def unloaded_logout(decision: Plan, session: Session) -> bool:
    """Whether ``decision`` deletes a session the request never loaded (``clear()``
    under WSGI or ``autoload=False``): the hooks then learn whose it was, or that it
    had ended already, from its record read just before (one store call, made only
    for hooks and metrics)."""
    return decision.method == "delete" and session._meta is None


def dead_meta(store: object, session_id: str, now: float) -> Meta | None:
    """What a record the load did not find had become, where the store can tell."""
    return logged_out(store, session_id, now)[1]


def logged_out(store: object, session_id: str, now: float) -> tuple[bool, Meta | None]:
    """Whether the store could tell what ``session_id``'s record is, and what: ``(True,
    None)`` says there is none (a logout of a session never loaded: the cookie named no
    session, as a load would have found); ``(False, None)``, that it cannot say (it
    keeps no metadata, or the read failed, which is logged: never a failed request)."""
    get_meta = getattr(store, "get_meta", None)
    if get_meta is None:
        return False, None
    try:
        return True, get_meta(session_id, now=now)
    except Exception:  # only for an event or the cookie: never fail the request over it
        logger.warning("sessionware: could not read what session %s became", session_id)
        return False, None


async def adead_meta(store: object, session_id: str, now: float) -> Meta | None:
    """:func:`dead_meta` for an async store."""
    return (await alogged_out(store, session_id, now))[1]


async def alogged_out(store: object, session_id: str, now: float) -> tuple[bool, Meta | None]:
    """:func:`logged_out` for an async store."""
    get_meta = getattr(store, "aget_meta", None)
    if get_meta is None:
        return False, None
    try:
        return True, await get_meta(session_id, now=now)
    except Exception:
        logger.warning("sessionware: could not read what session %s became", session_id)
        return False, None


def moved_mark(store: object, session_id: str) -> str | None:
    """Why ``session_id``'s live record left moments ago, where ``store`` keeps marks
    (``base.MarkingStore``): MOVED, LOGGED_OUT or ``None``. A store that keeps none
    answers ``None``, and its requests behave as before marks."""
    ask = getattr(store, "moved_mark", None)
    return None if ask is None else ask(session_id, now=time.time())


async def amoved_mark(store: object, session_id: str) -> str | None:
    """:func:`moved_mark` for an async store."""
    ask = getattr(store, "amoved_mark", None)
    return None if ask is None else await ask(session_id, now=time.time())


ASGI_EXCEPTION_ADVICE = (
    "an exception handler that runs outside the session middleware (in Starlette and "
    "FastAPI, one for Exception or 500) answers without a save: handle the error in the "
    "route, or with a handler for its own exception class"
)
RAISED_ADVICE = (
    "where a change must stand (a logout's included), catch the error in the view that raised it"
)


def warn_if_failure_dropped(
    failure: int | Exception | str,
    config: SessionConfig,
    session: Session,
    planner: Callable[[SessionConfig, Session], Plan],
    *,
    advice: str = ASGI_EXCEPTION_ADVICE,
    more: str = "",
) -> None:
    """A response of 500 or above saves nothing, as Django decides (the request
    failed: its half-made changes stay out), nor does an exception that leaves the
    app before its response starts; log a warning when that dropped a change, a
    logout's included, so that it never goes unseen. ``failure``: the status, or
    the exception; ``planner``: the shell's plan function (a bearer session's is
    its own); ``advice``: what to do about an exception, in the shell's terms. A str
    ``failure`` says what happened instead, in words (a response never sent), and
    ``more`` what follows the result (why, and what to do)."""
    if untouched(session) or nothing_to_store(session):
        return
    try:
        method = planner(config, session).method
    except Exception:  # an unsavable change: the failure stands, and says enough
        return
    if not method:
        return
    which = "the new session" if session._id is None else f"session {session._id}"
    if isinstance(failure, int):
        logger.warning(
            "sessionware: the response is %d, so %s's changes were not saved (a "
            "response of 500 or above saves nothing, as in Django: the request failed); "
            "answer below 500 where a change must stand, a logout's included",
            failure,
            which,
        )
    elif isinstance(failure, str):
        logger.warning("sessionware: %s, so %s's changes were not saved%s", failure, which, more)
    else:
        logger.warning(
            "sessionware: the app raised %s before its response started, so %s's "
            "changes were not saved (a request that fails saves nothing); %s",
            type(failure).__name__,
            which,
            advice,
        )


def untouched(session: Session) -> bool:
    """No cookie came in and the handler never looked: the common case, where the plan
    is nothing at all (the shells skip it outright, a cost on every such request)."""
    return not (session._accessed or session._cookie_sent)


def nothing_to_store(session: Session) -> bool:
    """The request names no live record and leaves none: no cookie verified (or none
    came), no load found one gone, and the handler left the session empty. A cookie
    session's :func:`plan` is then at most ``Vary: Cookie`` (when the handler looked),
    and the shells answer that without planning: an anonymous visitor's page that
    checks the session pays for no device, plan or store call."""
    return session._id is None and session._unusable is None and not dict.__len__(session)


def plan(config: SessionConfig, session: Session, now: float | None = None) -> Plan:
    """Decide what the request's session needs: nothing, save, create, rotate or delete.

    Raises :class:`SessionTooLarge` or :class:`UnstorableValue` when in-place
    changes made the payload unsavable (the shell answers 500 and saves nothing).
    """
    result = Plan()
    if untouched(session):
        return result
    if session._unusable is not None and config.blind_writes:
        _remember_unreadable(config.unreadable, session._unusable)
    if session._accessed:
        result.headers.append(("vary", "Cookie"))
    if nothing_to_store(session):
        return result
    if session._pending:  # never read: nothing changed but the keys set blind, if any
        return _blind_write(config, session, result, now) if session._blind else result
    if session._type is not None:  # values changed in place since they were assigned
        for key in session._touched:
            if dict.__contains__(session, key):
                try:
                    session._type.validate_item(key, dict.__getitem__(session, key))
                except SchemaViolation:
                    if not session._as_loaded(key):
                        raise
                    # read, not changed: a record of an older schema (schema_problems)
    now = time.time() if now is None else now
    old_id = session._id
    kept = not session._cleared and not session._regenerate and old_id is not None
    if kept and not _signs_in(config, session):  # (a sign-in: a new id all the same, below)
        return _update(config, session, result, now)
    expire = ("set-cookie", config.cookie.expire_cookie())
    data = session._encoded()
    if session._cleared and session._unusable is not None and set(data) <= INTERNAL_KEYS:
        # a logout (nothing, or a flash, after clear()) of a cookie that named no live
        # record: its mark says whether a login moved that record moments ago
        result.logout_of = session._unusable
    if not data:  # an empty session is never stored, regenerated or not
        session._next_token = None
        if old_id is not None:  # logout
            result.session = session
            return _with(result, "delete", (old_id,), cookie=expire)
        # An unusable cookie (forged, another key, expired, unknown) is left alone until the
        # handler writes: deleting it helps nobody, and a bad key deploy that is rolled
        # back would otherwise have logged everyone out.
        return result
    token, session._next_token = session._next_token or new_token(), None
    meta = _meta(config, session, data, now)
    result.session, result.new_token = session, token
    new_id = public_id(token)
    data = _sealed(config, new_id, data, token)
    if config.encryption is not None:  # the store counts what it holds: the sealed values
        meta.size_bytes = meta.max_size_bytes = sum(entry_size(*item) for item in data.items())
    if old_id is None:
        cookie = _set_cookie(
            config,
            token,
            meta.deadline,
            now,
            _lifetime(config, session),
            remembered=bool(_remembered(session)),
        )
        return _with(result, "create", (new_id, data, meta), cookie=cookie)
    carry = not session._cleared
    if carry and session._meta is not None:  # regenerate keeps creation time and deadline
        meta.created_at, meta.deadline = session._meta.created_at, session._meta.deadline
        meta.sliding = session._meta.sliding
        if session._device is not None:  # the device it was created on stays
            meta.device = _device_change(session) or session._meta.device
        meta.max_size_bytes = max(meta.size_bytes, session._meta.max_size_bytes)
        meta.expires_at = (
            slid_expiry(meta, now, _idle(config, session))
            if meta.sliding
            else session._meta.expires_at
        )
    args = (old_id, new_id, data, meta)
    cookie = _set_cookie(
        config,
        token,
        meta.deadline,
        now,
        _lifetime(config, session),
        remembered=bool(_remembered(session)),
    )
    step = _with(result, "rotate", args, cookie=cookie)
    step.expire_if_ended = ("set-cookie", config.cookie.expire_cookie())
    step.kwargs["require_live"] = carry
    if carry and session._meta is not None:  # not over a write another request made since
        step.kwargs["unchanged_since"] = session._meta.updated_at
    return step


def _update(config: SessionConfig, session: Session, result: Plan, now: float) -> Plan:
    """A loaded session kept its id: write the changed keys, slide a persistent cookie."""
    changed, removed = session._changes()
    cookie: tuple[str, str] | None = None
    max_age = _lifetime(config, session)
    signed_at = session._signed_at or 0.0
    # cookie timestamps are whole seconds: +1 so that a fresh cookie never looks stale
    refresh_after = (
        max(1.0, _cookie_span(session, max_age) * COOKIE_REFRESH_FRACTION) + 1 if max_age else 0.0
    )
    remember_changed = PERMANENT_KEY in changed or PERMANENT_KEY in removed
    if config.refresh_each_request is None:
        slide = max_age is not None and now - signed_at >= refresh_after
    else:  # True: every response re-sends a persistent cookie (Flask); False: never
        slide = max_age is not None and config.refresh_each_request
    remembered = bool(_remembered(session))
    # a cookie signed before the choice was made (or undone) is signed again to match it
    if session._resign or remember_changed or slide or remembered != session._remembered_cookie:
        assert session._token is not None
        deadline = session._meta.deadline if session._meta is not None else None
        cookie = _set_cookie(config, session._token, deadline, now, max_age, remembered=remembered)
    device = _device_change(session)
    if not changed and not removed and device is None:
        if cookie:
            result.headers.append(cookie)
        return result
    values = session._data  # one copy for the user, the email and the count
    user, email = _identity(config, session, values)
    assert session._id is not None
    changes = Changes(
        set=_sealed(config, session._id, changed, session._token),
        removed=removed,
        updated_at=now,
        size_bytes=session._size,
        max_size_bytes=_stored_cap(config, values),
        uncounted_keys=INTERNAL_KEYS,
        user=user,
        email=email,
        device=device,
    )
    result = _with(result, "save", (session._id, changes), cookie=cookie)
    result.expire_if_ended = ("set-cookie", config.cookie.expire_cookie())
    raw = session._raw  # a value only sealed anew is stored as it was loaded
    for key, value in changed.items():
        if value != raw.get(key) and not (key == FLASH_KEY and _flashes_read(session)):
            result.sets_keys = True
            break
    result.removes_keys = any(key != FLASH_KEY for key in removed) if removed else False
    return result


def _signs_in(config: SessionConfig, session: Session) -> bool:
    """Whether the request changed the user the session names (``user_key``, or a type's
    selector) to one other than the loaded record names: a sign-in, or a switch of
    user, that did not call ``regenerate()``. With ``rotate_on_login`` (the default) it
    gets a new id anyway, so that an id planted before the sign-in (session fixation)
    opens nothing after it. Never for a read (a value read, even a mutable one, is no
    change), nor for the same user indexed another way (under an older key's hash, or
    before ``hash_user_ids``); never for a token session (its id is its token's) or
    without a loaded record. A request that changed no key the user is read from costs
    nothing here."""
    meta = session._meta
    if not config.rotate_on_login or config.bearer or meta is None or not session._touched:
        return False
    roots: Iterable[str] = session._touched  # a type's selector may read any of them
    if session._type is None:
        if config.user_key is None or config.user_key.keys[0] not in session._touched:
            return False
        roots = (config.user_key.keys[0],)
    present = [root for root in roots if dict.__contains__(session, root)]
    if all(session._as_loaded(root) for root in present):
        return False  # read, or written back unchanged: the user is the one loaded
    user = _identity(config, session, session._data)[0]
    if user is None or user == meta.user:
        return False
    return meta.user is None or not _same_user(config, session, meta.user)


def _same_user(config: SessionConfig, session: Session, recorded: str) -> bool:
    """Whether ``recorded`` (the loaded record's user index entry) names the session's
    user under another form: a hash under an older key of the ring, or the plain id
    recorded before ``hash_user_ids`` was turned on."""
    ring = config.encryption
    if ring is None or not ring.hash_user_ids:
        return False
    raw = _named_user(config, session, session._data)
    return raw is not None and recorded in (*ring.user_tags(raw), raw)


def _flashes_read(session: Session) -> bool:
    """The flash messages only lost some (``pop_flashes(category)``): a read, which a
    session that ended meanwhile does not need saved."""
    loaded = session._raw.get(FLASH_KEY)
    try:
        before = [tuple(f) for f in codec.decode(loaded)] if loaded is not None else []
        now = [tuple(f) for f in dict.get(session, FLASH_KEY, ())]
    except Exception:  # not the list of pairs flash() keeps: count it as a change
        return False
    return len(now) < len(before) and all(f in before for f in now)


UNREADABLE_REMEMBERED = 4096  # ids per process; the oldest is forgotten first


def _remember_unreadable(ids: Bounded[str, None], session_id: str) -> None:
    """A load found ``session_id``'s record missing, corrupt or undecodable: keys set
    under it are never written blind again here, but load first (and, finding nothing,
    start a new session), so that nobody keeps writing into a record nobody can read.
    Another process learns it on its own first load of the record."""
    ids.remember(session_id, None)


def _blind_write(config: SessionConfig, session: Session, result: Plan, now: float | None) -> Plan:
    """Keys set without a read: one store call that writes them into the live record
    (and slides it); if the record is gone, a new session holding them instead."""
    assert session._id is not None
    now = time.time() if now is None else now
    write = BlindWrite(
        session._blind_encoded(),
        now,
        config.idle_seconds,
        config.max_payload_bytes,
        config.session_type or config.app_id,  # never into another app's record
    )
    result.method, result.args = "write", (session._id, write)
    result.fallback = lambda: _fresh(config, session, now)
    return result


def _fresh(config: SessionConfig, session: Session, now: float) -> Plan:
    """The plan for a blind write whose record was gone: what a load would have led
    to, an empty session given the keys set, saved as a new one."""
    session._fill(None)
    return plan(config, session, now)


def _set_cookie(
    config: SessionConfig,
    token: str,
    deadline: float | None,
    now: float,
    lifetime: int | None = None,
    *,
    remembered: bool = False,
) -> tuple[str, str]:
    """The Set-Cookie for ``token``; a persistent cookie never outlives the absolute deadline.

    ``remembered`` signs it as a "remember me" session's cookie, so that loads slide the
    stored record by the longer idle timeout (see :func:`_idle`)."""
    remaining = None if deadline is None else max(0, int(deadline - now))
    value = config.signer.sign(token, permanent=remembered)
    return ("set-cookie", config.cookie.set_cookie(value, remaining, lifetime))


def _sealed(
    config: SessionConfig, session_id: str, data: dict[str, bytes], token: str | None
) -> dict[str, bytes]:
    """``data`` as stored: each value sealed for its place (and, in sealed mode, to the
    session's ``token``) when encryption is on."""
    keyring = config.encryption
    if keyring is None:
        return data
    return {key: keyring.seal(session_id, key, raw, token) for key, raw in data.items()}


def _keyring(value: object) -> Keyring | None:
    if value is None or isinstance(value, Keyring):
        return value
    raise ConfigurationError(
        f"encryption takes a sessionware.Keyring([newest, older, ...]), not {value!r}"
    )


def _remembered(session: Session) -> int | bool:
    """The session's own "remember me" choice: ``True``, whole seconds (at most
    :data:`MAX_DURATION_SECONDS`, however many were stored), or ``False``."""
    flag = dict.get(session, PERMANENT_KEY)
    if type(flag) is int and flag > 0:
        return min(flag, _MAX_REMEMBERED)
    return flag is True


_MAX_REMEMBERED = int(MAX_DURATION_SECONDS)


def _cookie_span(session: Session, max_age: int) -> float:
    """The lifetime the 1% re-send rule counts in: a stored typed session's whole
    lifetime (its cookie says what remains, which would make re-sends ever more
    frequent near the end; a set_ttl that moves the end reaches the cookie at the next
    re-send), else the cookie's Max-Age; at most the 400 days browsers keep a cookie,
    so that a longer one is re-sent before they drop it."""
    kept = _kept_span(session) if session._type is not None else None
    span = float(max_age) if kept is None else kept[1] - kept[0]
    return min(span, MAX_COOKIE_SECONDS)


def _kept_span(session: Session) -> tuple[float, float] | None:
    """``(created_at, end)`` of the stored record the response keeps, when it has an
    end; ``None`` for a new record (after ``clear()`` too, which starts one) or a
    durable one."""
    meta = None if session._cleared else session._meta
    end = None if meta is None else meta.deadline or meta.expires_at
    return None if meta is None or end is None else (meta.created_at, end)


def _idle_default(idle_timeout: Duration | None, cookie_max_age: float | None) -> float | None:
    """The idle timeout in seconds. Left at its default, it is no longer than a
    persistent cookie's ``max_age``: the server keeps no session past the cookie
    that carries it (a cookie is re-sent, so its Max-Age restarts, no later than
    the request that keeps the session alive), as Starlette's cookie sessions end
    with theirs. Given, it is kept as given."""
    idle = seconds(idle_timeout, "idle_timeout", at_least=1)
    if idle_timeout is DEFAULT_IDLE_TIMEOUT and idle is not None and cookie_max_age is not None:
        return min(idle, max(1.0, cookie_max_age))
    return idle


def _lifetime(config: SessionConfig, session: Session) -> int | None:
    """The cookie's Max-Age: a typed session's lifetime, the session's own "remember me"
    choice, else ``max_age`` (the absolute deadline caps each, see :func:`_set_cookie`)."""
    if session._type is not None:  # what remains of the lifetime its type gave it at creation
        now, kept = time.time(), _kept_span(session)
        # a new (or durable) record: the type's lifetime as it stands
        end = session._type.expires_at(now) if kept is None else kept[1]
        return max(1, int(end - now))
    flag = _remembered(session)
    if flag is True:
        return config.permanent_seconds
    return flag or config.cookie.max_age


def _idle(config: SessionConfig, session: Session) -> float | None:
    """The stored record's idle timeout: a remembered session's lasts as long as its
    cookie (see ``SessionConfig.load_args``, which slides it by the same rule)."""
    flag, idle = _remembered(session), config.idle_seconds
    if not flag or idle is None:
        return idle
    return max(idle, config.permanent_seconds if flag is True else flag)


def _with(
    result: Plan,
    method: str,
    args: tuple[Any, ...],
    *,
    cookie: tuple[str, str] | None,
) -> Plan:
    """``result`` making the store call ``method(*args)``, then sending ``cookie``.

    If the call finds the record gone, this cookie does not go out: the browser's
    cookie may no longer be the one this request came with (a login that gave the
    session a new id, in another request that ran meanwhile, has set the new
    one), and re-sending or expiring it would sign that user out. Only a record
    that ended (revoked, expired: see :attr:`Plan.expire_if_ended`) has its cookie
    expired."""
    result.method, result.args = method, args
    result.headers_if_gone = list(result.headers)
    if cookie:
        result.headers.append(cookie)
    return result


def _meta(config: SessionConfig, session: Session, data: Mapping[str, bytes], now: float) -> Meta:
    user, email = _identity(config, session, session._data)
    size = session._size
    meta = Meta(
        created_at=now,
        updated_at=now,
        last_activity_at=now,
        expires_at=None,
        deadline=None if config.absolute_seconds is None else now + config.absolute_seconds,
        app=config.app_id,
        user=user,
        email=email,
        size_bytes=size,
        max_size_bytes=size,
        attribute_count=attribute_count(data),
    )
    meta.expires_at = slid_expiry(meta, now, _idle(config, session))
    if session._type is not None:  # the type's lifetime, counted from now, fixed
        meta.expires_at = meta.deadline = session._type.expires_at(now)
        meta.sliding, meta.app = False, session._type.tag
    if session._device is not None:
        meta.device = devices.created(session._device)
    return meta


def _device_change(session: Session) -> str | None:
    """The session's new device record if this request came from another device."""
    if session._device is None or session._meta is None:
        return None
    return devices.used(session._meta.device, session._device)


def _remembered_seconds(value: Duration | None) -> float:
    """``permanent_lifetime`` in seconds: a duration, never None (which would leave a
    "remember me" cookie no lifetime at all)."""
    if value is None:
        raise ConfigurationError(
            "permanent_lifetime must be a duration (a timedelta or seconds), not None: it is "
            "how long a remembered session's cookie lasts (31 days unless given)"
        )
    result = seconds(value, "permanent_lifetime")
    assert result is not None
    return result


def _optional_flag(value: object, name: str) -> bool | None:
    return None if value is None else _flag(value, name)


def _flag(value: object, name: str, *, or_none: bool = False) -> bool:
    if not isinstance(value, bool):
        which = "True, False or None" if or_none else "True or False"
        raise ConfigurationError(f"{name} must be {which}, not {value!r}")
    return value


def _identity(
    config: SessionConfig, session: Session, values: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The user and email the indexes keep for ``values`` (a copy of the session's)."""
    user = _named_user(config, session, values)
    user_key = config.user_key.keys[0] if session._type is None and config.user_key else None
    email = config.email_key.find(values) if config.email_key else None
    check_indexable("user id", user, user_key)
    check_indexable("email", email, config.email_key.keys[0] if config.email_key else None)
    user = indexed_user(config.encryption, user)  # (a keyed hash, under hash_user_ids)
    return user, email


def _named_user(config: SessionConfig, session: Session, values: dict[str, Any]) -> str | None:
    """The user ``values`` name, as the app wrote it: by the session type's selector,
    else at ``user_key`` (``None``: neither, or not there)."""
    if session._type is not None:
        return session._type.user_of(values)
    return config.user_key.find(values) if config.user_key else None


def _check_binding(session_type: object, app_id: str, user_key: str | None) -> None:
    """A bound middleware takes its user and its sessions' app label from the type."""
    if session_type is None:
        return
    if not isinstance(session_type, str) or not session_type:
        raise ConfigurationError(f"session_type must be a type's tag (a str), not {session_type!r}")
    if user_key is not None:
        raise ConfigurationError(
            f"session_type={session_type!r} names the user through its selector: drop user_key"
        )
    if app_id != "default":
        raise ConfigurationError(
            f"sessions of type {session_type!r} are labelled with its tag: drop app_id"
        )


def _check_type_lifetime(session_type: str | None, **given: bool) -> None:
    """A bound middleware's sessions last their type's lifetime (its ``expiry`` and
    ``period``, in the store): a timeout given beside it would be ignored, so it is
    refused, naming where the lifetime is set."""
    ignored = [name for name, passed in given.items() if passed]
    if session_type is not None and ignored:
        raise ConfigurationError(
            f"session_type={session_type!r} sets its sessions' lifetime (the type's expiry "
            f"and period): drop {', '.join(ignored)} (in code, the config file or SESSIONWARE_* "
            "variables), and change the lifetime with SessionManager(store).types.update("
            f"{session_type!r}, expiry=..., period=...) (`sessionware types list` shows "
            "the tags there are, if that one is misspelt)"
        )


def _stored_cap(config: SessionConfig, values: Mapping[str, object]) -> int:
    """The cap a save gives the store, which counts the bytes it holds: with encryption,
    ``max_payload_bytes`` and each value's seal (so that a session the cap lets through
    in plaintext is not refused for its seals; keys added concurrently get none)."""
    if config.encryption is None:
        return config.max_payload_bytes
    return config.max_payload_bytes + SEAL_OVERHEAD * len(values)
