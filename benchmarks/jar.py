"""A minimal client cookie jar and the response the in-process drivers return.

Requests are made as ``https`` to one host and one path tree, so a browser
would send every cookie back, ``Secure`` ones included: the jar keeps
name=value pairs and ignores Domain, Path, Secure, HttpOnly and SameSite. It
honours deletion (``Max-Age`` <= 0 or an ``Expires`` in the past).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class Response:
    """What a test request produced: the status and the whole body."""

    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class CookieJar:
    """Cookies by name, updated from ``Set-Cookie`` values, rendered as a ``Cookie`` header."""

    def __init__(self, cookies: dict[str, str] | None = None) -> None:
        self.cookies: dict[str, str] = dict(cookies or {})

    def copy(self) -> CookieJar:
        return CookieJar(self.cookies)

    def clear(self) -> None:
        self.cookies.clear()

    def header(self) -> str | None:
        """The ``Cookie`` request header value, or ``None`` when the jar is empty."""
        if not self.cookies:
            return None
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def update(self, set_cookie_values: Iterable[str]) -> None:
        """Apply each ``Set-Cookie`` header value in order."""
        for value in set_cookie_values:
            name, cookie_value, deleted = _parse(value)
            if deleted:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value


def _parse(set_cookie: str) -> tuple[str, str, bool]:
    """``(name, value, deleted)`` from one ``Set-Cookie`` value (Max-Age beats Expires)."""
    pair, *attributes = set_cookie.split(";")
    name, _, value = pair.strip().partition("=")
    max_age: int | None = None
    expires: float | None = None
    for attribute in attributes:
        key, _, argument = attribute.strip().partition("=")
        key = key.lower()
        if key == "max-age" and argument.strip().lstrip("-").isdigit():
            max_age = int(argument)
        elif key == "expires":
            with contextlib.suppress(TypeError, ValueError):
                expires = parsedate_to_datetime(argument.strip()).timestamp()
    if max_age is not None:
        return name, value, max_age <= 0
    return name, value, expires is not None and expires <= time.time()
