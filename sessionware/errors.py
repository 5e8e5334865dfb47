"""Every error sessionware raises, under one root.

    SessionwareError
    ├── ConfigurationError   (also ValueError)      bad middleware or store options
    │   └── InvalidSessionType                      a session type's schema, selector or lifetime
    ├── UnstorableValue      (also TypeError)       a value or key sessions cannot store
    │   └── SchemaViolation                         a value or key its session type does not allow
    ├── UnknownSessionType   (also LookupError)     no session type has that tag
    ├── SessionTypeInUse     (also RuntimeError)    deleting or renaming a type with live sessions
    ├── SessionTooLarge      (also ValueError)      the payload would exceed max_payload_bytes
    ├── SessionNotLoaded     (also RuntimeError)    autoload=False and load() not awaited yet
    ├── StoreUnavailable     (also ConnectionError) the store could not be reached or failed
    ├── CorruptRecord        (also ValueError)      a stored record that cannot be decoded
    ├── MissingExtra         (also ImportError)     an optional dependency is not installed
    ├── SessionsDisabled     (also RuntimeError)    a write while sessions are turned off
    ├── InsecureTransport    (also PermissionError) a write over plain http with require_https
    ├── TokenRequired        (also PermissionError) a write to a bearer session no token backs
    ├── RefreshConflict      (also RuntimeError)    a refresh kept racing writes: send it again
    ├── RevocationIncomplete (also RuntimeError)    revoke_user kept finding sessions: call again
    └── TokenError           (also PermissionError) a session token that cannot be used
        ├── InvalidToken                            forged, malformed, or naming no session
        ├── TokenExpired                            its session's lifetime is over
        └── TokenRevoked                            its session was revoked or logged out
            └── RefreshTokenReused                  a used refresh token: the session is revoked

Each one also derives from the builtin that callers would catch without knowing
sessionware, so ``except TypeError`` around a session assignment keeps working.
"""

from __future__ import annotations


class SessionwareError(Exception):
    """The root of every error sessionware raises."""


class ConfigurationError(SessionwareError, ValueError):
    """An option given to a middleware, a store or a manager is invalid."""


class UnknownOption(ConfigurationError, TypeError):
    """A keyword a middleware does not take (a TypeError too, as Python raises for one);
    the message names the option to use instead where another library's name is known."""


class InvalidSessionType(ConfigurationError):
    """A session type definition is refused; ``field`` names the part at fault
    (a schema field's dotted path, or ``"selector"``, ``"period"``, ...)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnstorableValue(SessionwareError, TypeError):
    """A session key or value has a type the codec cannot round-trip.

    ``key`` is the session key being assigned; ``type_name`` the offending type.
    """

    def __init__(self, message: str, *, key: str | None, type_name: str) -> None:
        super().__init__(message)
        self.key = key
        self.type_name = type_name


NO_SUCH_FIELD = "no such field"  # SchemaViolation.expected for a key outside the schema


class SchemaViolation(UnstorableValue):
    """A value, or a key, that the session's type does not allow; nothing was changed.

    ``field`` is the dotted path at fault (``"details.email"``), ``expected`` the
    schema's type name (``"string?"``; ``"no such field"`` for a key outside the
    schema), ``given`` the type of the value given (``"int"``). Being an
    :class:`UnstorableValue`, it is also a TypeError.
    """

    def __init__(self, field: str, expected: str, given: str, *, detail: str = "") -> None:
        if expected == NO_SUCH_FIELD:
            message = f"session field {field!r} is not in the schema (got {given})" + detail
        else:
            message = f"session field {field!r} expects {expected}, got {given}" + detail
        super().__init__(message, key=field.split(".")[0], type_name=given)
        self.field = field
        self.expected = expected
        self.given = given


class UnknownSessionType(SessionwareError, LookupError):
    """No session type is registered under ``tag``."""

    def __init__(self, tag: str, known: tuple[str, ...] = ()) -> None:
        hint = f"; known tags: {', '.join(known)}" if known else "; none is registered yet"
        super().__init__(f"no session type has the tag {tag!r}{hint}")
        self.tag = tag

    def __str__(self) -> str:  # LookupError (KeyError-like) would repr the message
        return str(self.args[0])


class SessionTypeInUse(SessionwareError, RuntimeError):
    """The type still has live sessions (``live`` is how many). ``delete`` takes
    ``force=True``; a rename has no such override, as each session carries the tag."""

    def __init__(self, tag: str, live: int, action: str = "delete") -> None:
        if action == "rename":
            advice = (
                "they carry its tag, so revoke them or let them expire, then rename; "
                f"or create the type under the new tag and, once nothing uses {tag!r}, "
                "delete it with force=True"
            )
        else:
            advice = "revoke them first, or pass force=True"
        super().__init__(
            f"cannot {action} session type {tag!r}: {live} live session(s) of it remain; {advice}"
        )
        self.tag = tag
        self.live = live


class SessionTooLarge(SessionwareError, ValueError):
    """The stored payload would exceed ``max_payload_bytes``.

    ``size`` is what the payload would have been, ``limit`` the cap, both in bytes;
    ``size`` is ``None`` when the store found it out (a blind write, see ``core``).
    """

    def __init__(self, message: str, *, key: str | None, size: int | None, limit: int) -> None:
        super().__init__(message)
        self.key = key
        self.size = size
        self.limit = limit


class SessionNotLoaded(SessionwareError, RuntimeError):
    """The session was used before ``await session.load()`` (``autoload=False``)."""


class StoreUnavailable(SessionwareError, ConnectionError):
    """The session store could not be reached or answered with an error.

    The middleware answers such a request with 503 and sets no cookie. The
    underlying exception is chained as ``__cause__``. ``misconfigured`` is True when
    the store said the fault is in the configuration, not an outage (PostgreSQL: no
    such database or role, a refused login, a missing grant or table): the
    ``sessionware`` command then exits 2, not 3.
    """

    misconfigured: bool = False


class SessionConflict(SessionwareError, RuntimeError):
    """The handler set or removed keys of its session (or logged in on it), and
    another request ended it or gave it a new id before the changes were saved: a
    logout, a revocation, a login (the session was loaded under its old id).
    Nothing was written (an ended session is never brought back). The middleware
    answers 409 and sets no new cookie: sending the request again carries the
    browser's cookie as it is now. What loses nothing is not a conflict: a read, a
    flash read, values sealed anew, a key removed from a session that ended, a
    blind write whose session simply went (it starts a new session). A write whose
    cookie names a session a login or logout took moments ago is one (the store's
    mark says so: ``stores.base.MarkingStore``), and so is a login racing a logout. A
    login (``regenerate()``) whose session another request wrote meanwhile is one
    too (``written``): moving the data it loaded to the new id would drop that
    write. ``session_id`` is the id the request loaded; ``ended`` whether it was
    revoked or expired; ``headers`` what the 409 carries for the cookie (its expiry,
    when the session ended rather than moved).
    """

    def __init__(
        self,
        session_id: str,
        *,
        ended: bool,
        headers: list[tuple[str, str]],
        written: bool = False,
    ) -> None:
        why = (
            "was revoked or expired"
            if ended
            else "was written by another request (a login here would have carried an "
            "older view of it to the new id)"
            if written
            else "was logged out or given a new id (a login) by another request"
        )
        super().__init__(
            f"session {session_id} {why} before this request could save, so its changes "
            "were not saved; the client should send it again with the cookie that request "
            "set, or, with a session token, with the token it holds now (a page that sends "
            "writes beside a login or logout should send them after "
            "its response; a client that never got that response has its writes refused "
            "for a few seconds)"
        )
        self.session_id = session_id
        self.ended = ended
        self.headers = headers


class CorruptRecord(SessionwareError, ValueError):
    """A stored session record could not be decoded; it is treated as no session."""


class MissingExtra(SessionwareError, ImportError):
    """A feature needs an optional dependency: the message names the extra to install."""


class SessionsDisabled(SessionwareError, RuntimeError):
    """A session write while sessions are turned off (``enabled=False``); ``key`` is its key."""

    def __init__(self, message: str, *, key: str | None) -> None:
        super().__init__(message)
        self.key = key


class InsecureTransport(SessionwareError, PermissionError):
    """A session write over plain http with ``require_https``: answered 403, nothing saved."""


class TokenRequired(SessionwareError, PermissionError):
    """A write to a bearer session (``bearer=True``) that no valid token backs.

    Such a session is empty and stays unstored: token sessions are started by
    ``SessionManager.generate``. The middleware answers 401 with
    ``WWW-Authenticate: Bearer`` when the handler lets this escape.
    ``key`` is the key being written (``None`` for ``regenerate()``);
    ``token_valid``: the request's token opens a live session (a refused rotation).
    """

    def __init__(self, message: str, *, key: str | None, token_valid: bool = False) -> None:
        super().__init__(message)
        self.key = key
        self.token_valid = token_valid


class RefreshConflict(SessionwareError, RuntimeError):
    """A refresh found its session written by another request each time it tried
    (``tokens.REFRESH_ATTEMPTS`` times), so it gave up rather than carry an older
    view of the data to the new token over a write that was answered 200.

    Nothing changed: the refresh token still works, and the client should send the
    refresh again (not sign in again: this is no :class:`TokenError`).
    ``session_id`` is the id the refresh token names.
    """

    def __init__(self, message: str, *, session_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id


class RevocationIncomplete(SessionwareError, RuntimeError):
    """``revoke_user`` revoked every session it listed, round after round
    (``management.REVOKE_ROUNDS``), and each new listing still found live sessions
    of the user: sessions moving to new ids (refreshes, logins) or new sign-ins
    faster than it revokes. ``revoked`` is how many it revoked; ``remaining`` how
    many the last listing found. Call it again (and stop what signs the user in).
    """

    def __init__(self, message: str, *, revoked: int, remaining: int) -> None:
        super().__init__(message)
        self.revoked = revoked
        self.remaining = remaining


class TokenError(SessionwareError, PermissionError):
    """A session token or refresh token that cannot be used (see the subclasses).

    ``session_id`` is the public id the token names, when it names one.
    """

    def __init__(self, message: str, *, session_id: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id


class InvalidToken(TokenError):
    """Not a token signed with these keys, or one naming no session (or a replaced one)."""


class TokenExpired(TokenError):
    """The token's session reached the end of its lifetime."""


class TokenRevoked(TokenError):
    """The token's session was revoked (by an operator, or after refresh-token reuse)."""


class RefreshTokenReused(TokenRevoked):
    """A refresh token was presented after it had been used: reuse means theft, so the
    whole session was revoked and the audit log records it."""


def missing_extra(feature: str, extra: str) -> MissingExtra:
    """Build the error raised when ``feature`` needs ``pip install 'sessionware[extra]'``."""
    return MissingExtra(f"{feature} needs the '{extra}' extra: pip install 'sessionware[{extra}]'")
