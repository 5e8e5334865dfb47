"""Bearer sessions: a middleware with ``bearer=True`` reads ``Authorization: Bearer``.

The token is made as a session cookie's value is, under a salt of its own
(``cookies.TokenSigner``; see ``sessionware.tokens``), so neither opens a session as
the other: verified with the middleware's keys, looked up by its
public id, loaded, slid and saved exactly as a cookie's session is. What differs:

* no cookie is read, and none is ever set: the plan's ``Set-Cookie`` headers are
  dropped, and responses vary on ``Authorization`` instead of ``Cookie``;
* a request without a valid token gets an empty session that cannot become a
  stored one: the first write raises :class:`~sessionware.errors.TokenRequired`
  (the shells answer 401 with ``WWW-Authenticate: Bearer`` when the handler
  lets it escape). Token sessions are started by ``SessionManager.generate``;
* the token is fixed for the session's life: ``regenerate()`` raises
  TokenRequired and "remember me" does not rotate it (``SessionManager.refresh``
  is how a token client gets a new one); ``clear()`` ends the session, and with
  it the token.

Pure: no I/O, no framework.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from .cookies import public_id
from .core import Plan, SessionConfig, plan
from .errors import SessionNotLoaded, TokenRequired
from .session import Session
from .stores.base import Changes

SCHEME = "bearer"  # RFC 6750; the scheme name is case-insensitive (RFC 9110 11.1)
CHALLENGE = ("www-authenticate", "Bearer")
_VARY = ("vary", "Authorization")
_NO_TOKEN = (
    "this request carries no valid bearer token, so its session cannot be written "
    "(writing would start a session no client holds a token for): start token sessions "
    "with SessionManager.generate(tag, payload), and answer 401 to requests without one"
)


class BearerMixin(Session):
    """What a bearer session adds to a session class; combine it with one
    (``class FlaskBearerSession(BearerMixin, FlaskSession)``)."""

    __slots__ = ()

    def _writable(self, key: str) -> None:
        self._ensure_loaded()
        if self._id is None or self._cleared:
            raise TokenRequired(f"cannot set {key!r}: {_NO_TOKEN}", key=key)

    def regenerate(self) -> None:
        """Refused: a new id would need a new token, which only the client's refresh
        gives (``SessionManager.refresh``). Raises TokenRequired."""
        with contextlib.suppress(SessionNotLoaded):  # (autoload=False, not loaded: unknown)
            self._ensure_loaded()  # whether the token opens a live session, for the 401
        loaded = not (self._pending or self._unloaded)
        raise TokenRequired(
            "a bearer session keeps its token for its whole life: the client gets a new "
            "one from SessionManager.refresh(refresh_token)",
            key=None,
            token_valid=loaded and self._id is not None and not self._cleared,
        )

    def _remember_as(self, choice: bool | int) -> None:
        """Refused ("remember me", ``permanent = True``), as :meth:`regenerate` is:
        a token session's lifetime is its type's."""
        self.regenerate()

    def _renew_id(self) -> None:
        """Refused (``permanent = False``), as :meth:`regenerate` is."""
        self.regenerate()


class BearerSession(BearerMixin, Session):
    """The session of a bearer request on the ASGI and WSGI shells."""

    __slots__ = ()


def bearer_token(header_values: Iterable[str]) -> str | None:
    """The token of the request's ``Authorization`` headers, or ``None``.

    Exactly one header, of the Bearer scheme, with one token and nothing after
    it; anything else (two headers, another scheme, ``Bearer a b``) is no token.
    """
    values = list(header_values)
    if len(values) != 1:
        return None
    scheme, _, token = values[0].strip(" \t").partition(" ")
    token = token.strip(" \t")
    if scheme.lower() != SCHEME or not token or " " in token or "\t" in token:
        return None
    return token


def bearer_session(
    config: SessionConfig, header_values: Iterable[str], cls: type[Session] = BearerSession
) -> Session:
    """A new, unloaded session for a request with these ``Authorization`` values.

    ``cls`` must include :class:`BearerMixin`. A token that does not verify with
    the middleware's keys (forged, malformed, another key) gives the empty,
    unwritable session; no error reaches the client.
    """
    session = cls(max_payload_bytes=config.max_payload_bytes)
    session._keyring = config.encryption
    # a bound middleware opens only its type's tokens (a checkout token opens no user
    # session: Session._take checks the record's app), one given an app_id only that
    # app's (a type's tag); an untyped one with the default app, every type's
    session._app = config.session_type or (None if config.app_id == "default" else config.app_id)
    token = bearer_token(header_values)
    verified = None if token is None else config.signer.verify(token)
    if verified is not None:
        session._token, session._signed_at = verified.token, verified.signed_at
        session._id = public_id(verified.token)
        session._pending = True
    return session


def bearer_plan(config: SessionConfig, session: Session, now: float | None = None) -> Plan:
    """:func:`~sessionware.core.plan` for a bearer session: the same store call, but no
    cookie header, and ``Vary: Authorization`` where a cookie session varies on Cookie.

    Only ``save`` and ``delete`` can come out: a bearer session never creates or
    rotates a record (its writes and ``regenerate`` are refused before that).
    """
    decision = plan(config, session, now)
    if decision.method in ("create", "rotate"):  # unreachable through BearerMixin
        decision = Plan()
    if decision.method == "save" and session._meta is not None:
        # the user and email were set by generate() from the session's type: a
        # middleware that does not know where they live keeps them, not erases them
        changes: Changes = decision.args[1]
        if config.user_key is None and session._type is None:
            changes.user = session._meta.user
        if config.email_key is None:
            changes.email = session._meta.email
    decision.headers = _bearer_headers(decision.headers)
    decision.headers_if_gone = _bearer_headers(decision.headers_if_gone)
    decision.expire_if_ended = None  # no cookie to expire
    return decision


def _bearer_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [_VARY if h == ("vary", "Cookie") else h for h in headers if h[0] != "set-cookie"]


def planner(config: SessionConfig) -> Callable[[SessionConfig, Session], Plan]:
    """The plan function for ``config``'s sessions: :func:`bearer_plan` or ``plan``."""
    return bearer_plan if config.bearer else plan
