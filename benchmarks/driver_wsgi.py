"""Calling a WSGI app in-process: a hand-made environ, start_response, a cookie jar.

No server and no werkzeug test client: the cost measured is the app's own.
Requests are ``GET`` over ``https`` with an empty body.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .jar import CookieJar, Response

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_BASE_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "QUERY_STRING": "",
    "SERVER_NAME": "bench.local",
    "SERVER_PORT": "443",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "bench.local",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "https",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def _no_write(data: bytes) -> object:
    raise RuntimeError("the benchmark apps do not use the legacy write() callable")


class WsgiClient:
    """One user agent: its own cookie jar, sending requests to ``app``."""

    def __init__(self, app: WSGIApp, jar: CookieJar | None = None) -> None:
        self.app = app
        self.jar = jar if jar is not None else CookieJar()

    def get(self, path: str) -> Response:
        """Send ``GET path``; store the response's cookies; return status and body."""
        environ = dict(_BASE_ENVIRON)
        environ["PATH_INFO"] = path
        environ["wsgi.input"] = io.BytesIO()
        cookie = self.jar.header()
        if cookie is not None:
            environ["HTTP_COOKIE"] = cookie
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            started.append((status, headers))
            return _no_write

        chunks = self.app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started[-1]
        self.jar.update(value for name, value in headers if name.lower() == "set-cookie")
        return Response(int(status[:3]), body)
