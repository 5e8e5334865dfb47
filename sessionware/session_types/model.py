"""SessionType: a kind of session (a 7-day user session, a 1-hour checkout session).

A type is data, kept in the store's registry (see ``registry.py``): its schema,
selector and lifetime are parsed and checked once, when the type is built, and
the compiled forms are what validation uses.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InvalidSessionType
from ..identity import UserPath
from .period import add_period, describe, parse_expiry, parse_period
from .schema import Schema, parse_schema
from .selector import parse_selector, select

_TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_LIFETIME_SECONDS = 100 * 366 * 86400

# Keys that frameworks and their extensions keep in a session for themselves: never
# checked against a schema. Flash messages, Flask's "remember me", Flask-Login's
# keys, and the CSRF tokens of Flask-WTF / starlette-wtf, starlette-csrf and Django.
FRAMEWORK_KEYS = frozenset(
    {
        "_flashes",
        "_permanent",
        "_user_id",
        "_fresh",
        "_id",
        "_remember",
        "_remember_seconds",
        "csrf_token",
        "csrftoken",
        "_csrf_token",
        "csrf",
    }
)


def tag_for(name: str) -> str:
    """The tag generated from a name: ``"Checkout Session"`` → ``"checkout-session"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64]


@dataclass(frozen=True)
class SessionType:
    """A kind of session: what it may hold, whose it is, and how long it lasts.

    ``name``: for people. ``tag``: the unique key (lowercase letters, digits,
    ``-`` and ``_``), generated from ``name`` when omitted. ``schema``: either
    form (see ``schema.py``). ``selector``: ``$Session{field}{subfield}``, the
    field naming the user, or ``None``. A session lasts ``expiry`` ``period`` s
    from its start (``period``: seconds ... years, any spelling; months and
    years are calendar units).

    Raises :class:`~sessionware.errors.InvalidSessionType` (a ConfigurationError,
    ValueError) naming the part at fault.
    """

    name: str
    tag: str = ""
    description: str = ""
    schema: Mapping[str, Any] = field(default_factory=dict)
    selector: str | None = None
    expiry: int = 1
    period: str = "days"
    _schema: Schema = field(init=False, repr=False, compare=False)
    _user: UserPath | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidSessionType(
                f"name must be a non-empty str, got {self.name!r}", field="name"
            )
        tag = self.tag or tag_for(self.name)
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            raise InvalidSessionType(
                f"tag must be 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit, "
                f"got {tag!r}"
                + (
                    ""
                    if self.tag
                    else f" (made from the name {self.name!r}: pass tag= for a name with no "
                    "Latin letters or digits)"
                ),
                field="tag",
            )
        if not isinstance(self.description, str):
            raise InvalidSessionType("description must be a str", field="description")
        period, expiry = parse_period(self.period), parse_expiry(self.expiry)
        try:
            span = add_period(0.0, expiry, period)
        except (OverflowError, ValueError, OSError):  # past the calendar's year 9999
            span = float("inf")
        if span > MAX_LIFETIME_SECONDS:
            raise InvalidSessionType(
                f"a lifetime of {describe(expiry, period)} is over 100 years", field="expiry"
            )
        compiled = parse_schema(self.schema)
        user = None if self.selector is None else parse_selector(self.selector, compiled)
        for name, value in (("tag", tag), ("period", period), ("expiry", expiry)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "schema", dict(self.schema))
        object.__setattr__(self, "_schema", compiled)
        object.__setattr__(self, "_user", user)

    # -- what sessions and tokens call ------------------------------------------------

    def validate(self, payload: Mapping[str, Any], *, complete: bool = True) -> None:
        """Check a whole payload: every key a schema field (framework keys aside), every
        value of its type and, with ``complete``, every required field present.

        Raises :class:`~sessionware.errors.SchemaViolation` (a TypeError) for the first
        fault, naming the field, the expected and the given type.
        """
        self._schema.check(payload, complete=complete, exempt=FRAMEWORK_KEYS)

    def validate_item(self, key: str, value: Any) -> None:
        """Check one assignment, as a bound session does; SchemaViolation if refused."""
        if key not in FRAMEWORK_KEYS:
            self._schema.check_item(key, value)

    def problems(self, payload: Mapping[str, Any]) -> list[str]:
        """Every fault of a stored payload, as messages (nothing raised)."""
        return self._schema.problems(payload, FRAMEWORK_KEYS)

    def expires_at(self, start: float) -> float:
        """When a session started at ``start`` (epoch seconds) ends, epoch seconds."""
        return add_period(start, self.expiry, self.period)

    def user_of(self, payload: Mapping[str, Any]) -> str | None:
        """The selector's value in ``payload`` as a str; ``None`` without one."""
        return None if self._user is None else select(self._user, payload)

    @property
    def user_path(self) -> UserPath | None:
        """The selector as a path of keys (``("details", "username")``)."""
        return self._user

    @property
    def lifetime(self) -> str:
        """``"7 days"``: for people."""
        return describe(self.expiry, self.period)

    # -- as data ---------------------------------------------------------------------

    def with_changes(self, **changes: Any) -> SessionType:
        """A copy with ``changes`` (the same keywords as the constructor), validated."""
        unknown = set(changes) - set(PUBLIC_FIELDS)
        if unknown:
            first = sorted(unknown)[0]
            hint = (  # update() is not delete(): a rename cannot be forced past live sessions
                "; force= belongs to delete(): a type with live sessions is not renamed"
                if first == "force"
                else ""
            )
            raise InvalidSessionType(
                f"a session type has no field {first!r}; its fields: "
                f"{', '.join(PUBLIC_FIELDS)}{hint}",
                field=first,
            )
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The seven public fields, as given (``period`` in its canonical name)."""
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    def to_document(self) -> bytes:
        """The JSON the registry stores; a schema with non-JSON examples (datetimes,
        UUIDs) is stored in its type-name form, which checks the same."""
        data = self.to_dict()
        try:
            return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError):
            data["schema"] = self._schema.as_type_names()
            return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_document(cls, document: bytes) -> SessionType:
        """The type :meth:`to_document` stored."""
        return cls.from_dict(json.loads(document))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionType:
        """A type from a mapping of its public fields; unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise InvalidSessionType(f"a session type is a mapping, not {data!r}", field="type")
        unknown = set(data) - set(PUBLIC_FIELDS)
        if unknown or "name" not in data:
            wrong = sorted(unknown)[0] if unknown else "name"
            raise InvalidSessionType(
                f"a session type needs a name and takes only {', '.join(PUBLIC_FIELDS)}; "
                f"got {wrong!r}"
                if unknown
                else "a session type needs a name",
                field=wrong,
            )
        return cls(**data)


PUBLIC_FIELDS = tuple(f.name for f in fields(SessionType) if not f.name.startswith("_"))


def coerce(
    value: SessionType | Mapping[str, Any] | None, keywords: Mapping[str, Any]
) -> SessionType:
    """What ``types.create`` takes: a SessionType, a dict, or keywords."""
    if isinstance(value, SessionType):
        return value.with_changes(**keywords) if keywords else value
    if value is None:
        return SessionType.from_dict(keywords)
    return SessionType.from_dict({**value, **keywords})
