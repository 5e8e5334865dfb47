"""Where a session names its user: ``"user_id"``, ``"details.username"`` or
``"$Session{details}{username}"`` — three spellings of one path into the data."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .codec import decimal_fits
from .errors import ConfigurationError

_NOT_USERS = (bool, dict, list, set, tuple, bytes)  # values that name no user
_FLAGS_SAID: set[tuple[str, ...]] = set()  # user paths found holding a bool, warned once
logger = logging.getLogger("sessionware")
_SELECTOR = re.compile(r"\$Session((?:\{[^{}]+\})+)")


@dataclass(frozen=True, slots=True)
class UserPath:
    """A path of keys into session data, e.g. ``("details", "username")``."""

    keys: tuple[str, ...]

    @classmethod
    def parse(cls, spec: str, option: str = "user_key") -> UserPath:
        """Parse a plain key, a dotted path or a ``$Session{a}{b}`` selector."""
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigurationError(f"{option} must be a non-empty str, not {spec!r}")
        if spec.startswith("$"):
            match = _SELECTOR.fullmatch(spec)
            if match is None:
                raise ConfigurationError(
                    f"{option}={spec!r} is not a selector; write it as $Session{{key}}{{subkey}}"
                )
            return cls(tuple(match.group(1)[1:-1].split("}{")))
        keys = tuple(spec.split("."))
        if any(not key for key in keys):
            raise ConfigurationError(f"{option}={spec!r} has an empty part")
        return cls(keys)

    def find(self, data: Mapping[str, Any]) -> str | None:
        """The value at this path as a str, or ``None`` when absent, empty, not scalar or
        a bool (a flag such as ``logged_in``, which would file every signed-in session
        under one user, ``"True"``: one "log out everywhere" would end them all)."""
        value: Any = data
        for key in self.keys:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        if _not_finite(value):
            return None  # a NaN or an infinity names no user (it was filed as "nan")
        if value is None or value == "" or isinstance(value, _NOT_USERS):
            if isinstance(value, bool) and self.keys not in _FLAGS_SAID:
                _FLAGS_SAID.add(self.keys)
                logger.warning(
                    "sessionware: the user key %s holds %r, a flag, which names no user: "
                    "sessions are filed under no user, and a sign-in is not seen "
                    "(rotate_on_login gives no new id): point user_key at the user's id, "
                    "or call session.regenerate() at sign-in (said once per process)",
                    ".".join(self.keys),
                    value,
                )
            return None
        return user_text(value)


def _not_finite(value: Any) -> bool:
    """A float or a Decimal that is a NaN or an infinity."""
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, Decimal) and not value.is_finite()


def user_text(value: Any) -> str:
    """A user id as the indexes keep it: ``str(value)``, with each number in one form
    (``2``, ``2.0`` and ``Decimal("2.00")`` are the user ``"2"``; ``Decimal("1.10")``
    is ``"1.1"``), so that one user is never split in two by how a value was written."""
    kind = type(value)
    if kind is int:
        return str(value) if decimal_fits(value) else hex(value)  # (stored under a higher
        # limit) far over what an index keeps
    if kind is float or isinstance(value, Decimal):
        if _not_finite(value):
            return str(value)  # (a NaN or an infinity, as it was: no user is one)
        if value == int(value):
            return user_text(int(value))
        return str(value) if kind is float else format(value.normalize(), "f")
    return str(value)
