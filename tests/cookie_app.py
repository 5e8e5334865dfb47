"""A WSGI app for real-server cookie tests: ``gunicorn tests.cookie_app:app``.

``/incr`` counts per session and answers ``{"n": ...}``. The session cookie is
named by ``SESSIONWARE_TEST_COOKIE`` (default ``session``), not Secure, so
that a plain-HTTP loopback client gets it back (prefixed names keep Secure: the
raw test client sends it anyway).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from sessionware import Session, WSGISessionMiddleware


def counter(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session: Session = environ["sessionware.session"]
    session["n"] = session.get("n", 0) + 1
    body = json.dumps({"n": session["n"]}).encode()
    start_response(
        "200 OK", [("content-type", "application/json"), ("content-length", str(len(body)))]
    )
    return [body]


def make_app(cookie_name: str = "session") -> WSGISessionMiddleware:
    secure = cookie_name.startswith("__")  # prefixed names need Secure
    return WSGISessionMiddleware(
        counter, secret_key="cookie-app", cookie_name=cookie_name, secure=secure
    )


app = make_app(os.environ.get("SESSIONWARE_TEST_COOKIE", "session"))
