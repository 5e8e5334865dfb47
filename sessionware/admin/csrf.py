"""CSRF protection for the console's forms: signed tokens bound to who acts.

A token is ``<issued>.<signature>``, the signature an HMAC-SHA256 over the
purpose (``console`` or ``mine``), the acting identity (operator name, or user
id and session id) and the issue time, under a key the attacker never sees. A
cross-site page cannot read a token out of our pages, so it cannot send one;
tokens are checked in constant time and expire after ``TOKEN_SECONDS``. As a
second line, a request whose ``Origin`` (or ``Sec-Fetch-Site``) says it came
from another site is refused whatever its token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from urllib.parse import urlsplit

from ..digits import whole_number
from ..errors import ConfigurationError
from .http import Request

TOKEN_SECONDS = 12 * 3600
FIELD = "csrf_token"
logger = logging.getLogger("sessionware")
_warned_random: set[str] = set()  # the classes warned about a random key, once per process
MAX_ISSUED_DIGITS = 12  # a Unix time in seconds has 10 digits until the year 2286


class CsrfTokens:
    """Issues and checks tokens under ``secret_key`` (bytes or str, >= 16 bytes).

    ``None`` draws a random key: tokens then hold for this process only, so with
    several workers a form posted to another worker than the one that drew it
    fails the check. That is logged, once per process and ``owner`` (the class
    that takes the key), as a warning saying to pass the same key to every worker.
    """

    def __init__(self, secret_key: str | bytes | None, owner: str) -> None:
        if secret_key is None:
            _warn_random_key(owner)
            secret_key = secrets.token_bytes(32)
        key = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if not isinstance(key, bytes) or len(key) < 16:
            raise ConfigurationError(
                "secret_key must be at least 16 bytes (str or bytes); "
                "draw one with secrets.token_hex(32)"
            )
        self._key = key

    def __repr__(self) -> str:
        return "CsrfTokens(secret_key=<hidden>)"

    def issue(self, *identity: str, now: float | None = None) -> str:
        """A fresh token for ``identity`` (e.g. purpose, operator name)."""
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._sign(issued, identity)}"

    def valid(self, token: str | None, *identity: str, now: float | None = None) -> bool:
        """True when ``token`` was issued for ``identity`` less than TOKEN_SECONDS ago."""
        # A form field is any text: only ASCII digits are a time, and the signatures are
        # compared as bytes (compare_digest refuses a str that is not ASCII).
        if not token or not token.isascii() or token.count(".") != 1:
            return False
        issued, signature = token.split(".")
        at = whole_number(issued, MAX_ISSUED_DIGITS)
        if at is None:
            return False
        age = (time.time() if now is None else now) - at
        expected = self._sign(issued, identity)
        fresh = -60 <= age <= TOKEN_SECONDS
        return hmac.compare_digest(signature.encode(), expected.encode()) and fresh

    def _sign(self, issued: str, identity: tuple[str, ...]) -> str:
        message = "\x1f".join((issued, *identity)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _warn_random_key(owner: str) -> None:
    if owner in _warned_random:
        return
    _warned_random.add(owner)
    logger.warning(
        "sessionware: %s got no secret_key, so its CSRF tokens hold in this process only: "
        "with several workers (gunicorn -w, uvicorn --workers) a form posted to another "
        'worker fails with "CSRF check failed". Pass secret_key=... with the same value '
        "in every worker (an environment variable; at least 16 bytes): "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        owner,
    )


def trusted_origins(origins: object) -> frozenset[str]:
    """``trusted_origins=`` checked: origins (``scheme://host[:port]``) whose forms are
    accepted besides this server's own, as the browser names them in ``Origin``.
    Raises ConfigurationError for anything else (a bare host, a path, a pattern)."""
    if isinstance(origins, str) or not isinstance(origins, (list, tuple, set, frozenset)):
        raise ConfigurationError(
            f"trusted_origins must be a list of origins such as ['https://example.com'], "
            f"not {origins!r}"
        )
    checked = set()
    for origin in origins:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ConfigurationError(
                f"trusted_origins holds {origin!r}, which is no origin: write the scheme and "
                "host (and port) the browser shows, such as 'https://sessions.example.com'"
            )
        checked.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(checked)


def refusal(
    tokens: CsrfTokens, request: Request, trusted: frozenset[str], *identity: str
) -> str | None:
    """Why a state-changing request must be refused (the 403's sentence), or ``None``:
    the browser says it came from another site (``Sec-Fetch-Site``, or an ``Origin``
    that is neither this server's ``Host`` nor one of ``trusted``), or its form's token
    was not issued to ``identity`` (or has expired)."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return (
            "CSRF check failed: the browser says this form was sent from another origin "
            "(another site, or another host, port or scheme of this one)."
        )
    origin = request.headers.get("origin")
    if origin is not None and not _ours(origin, request.headers.get("host", ""), trusted):
        return (
            f"CSRF check failed: this form was sent from the page at {origin[:200]!r}, and "
            f"this server is {request.headers.get('host', '')[:200]!r}. Behind a proxy that "
            "rewrites the Host header, have it pass the browser's Host on (nginx: "
            "proxy_set_header Host $host), or name that origin in trusted_origins=[...]."
        )
    if not tokens.valid(request.form.get(FIELD), *identity):
        return (
            f"CSRF check failed: this form has expired (after {TOKEN_SECONDS // 3600} hours) "
            "or was not issued to you. Open the page again, then send the form."
        )
    return None


def _ours(origin: str, host: str, trusted: frozenset[str]) -> bool:
    if origin == "null":  # an opaque origin (a sandboxed frame, a file): nobody's
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[": not a URL, so not our origin
        return False
    return netloc == host or origin.lower().rstrip("/") in trusted
