"""What every shell answers when the session fails, and how it adds ``Vary``.

The ASGI, WSGI and Flask shells send these the way their protocol wants; the
words, statuses and log lines are written once, here. Headers are
``(lower-case name, value)`` string pairs.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from .errors import InsecureTransport, SessionTooLarge, StoreUnavailable, UnstorableValue

logger = logging.getLogger("sessionware")

ERROR_BODIES = {
    403: b"Forbidden: this site keeps sessions over https only; open it with https://",
    500: b"Internal Server Error",
    503: b"Service Unavailable: the session store cannot be reached, try again shortly",
}

# What saving the session at the end of a request may raise; see save_failure().
SAVE_ERRORS = (SessionTooLarge, UnstorableValue, StoreUnavailable, InsecureTransport)


def error_headers(status: int) -> list[tuple[str, str]]:
    """The headers of the plain-text answer for ``status`` (403, 500 or 503)."""
    headers = [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", str(len(ERROR_BODIES[status]))),
        ("cache-control", "no-store"),
    ]
    if status == 503:
        headers.append(("retry-after", "1"))
    return headers


def status_line(status: int) -> str:
    """``"503 Service Unavailable"``: the WSGI form of ``status``."""
    return f"{status} {HTTPStatus(status).phrase}"


def save_failure(error: Exception) -> int:
    """Log why the session could not be saved; the status to answer instead.

    503 when the store failed (retrying may work), 500 when the session itself
    cannot be stored (in-place changes made it too large or unstorable), 403
    when it would be written over plain http with ``require_https``.
    """
    if isinstance(error, InsecureTransport):
        logger.warning("sessionware: %s; answering 403", error)
        return 403
    if isinstance(error, StoreUnavailable):
        logger.error(
            "sessionware: the session store failed while saving; answering 503", exc_info=error
        )
        return 503
    logger.error("sessionware: the session could not be saved; answering 500", exc_info=error)
    return 500


def load_failure(error: StoreUnavailable) -> int:
    """Log that the store failed while loading the session; the status to answer (503)."""
    logger.error("sessionware: the session store failed; answering 503", exc_info=error)
    return 503


def vary_with_cookie(vary: str) -> str:
    """An existing ``Vary`` value with ``Cookie`` added, unless already covered."""
    names = {part.strip().lower() for part in vary.split(",")}
    if "cookie" in names or "*" in names:
        return vary
    return f"{vary}, Cookie" if vary.strip() else "Cookie"
