"""Calling an ASGI app in-process: hand-made scope, receive and send, a cookie jar.

No server, no sockets, no httpx: the cost measured is the app's own. Requests
are ``GET`` over ``https`` with an empty body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .jar import CookieJar, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HOST = b"bench.local"
_BODY_REQUEST: Message = {"type": "http.request", "body": b"", "more_body": False}
_DISCONNECT: Message = {"type": "http.disconnect"}


class AsgiClient:
    """One user agent: its own cookie jar, sending requests to ``app``."""

    def __init__(self, app: ASGIApp, jar: CookieJar | None = None) -> None:
        self.app = app
        self.jar = jar if jar is not None else CookieJar()

    async def get(self, path: str, extra: list[tuple[bytes, bytes]] | None = None) -> Response:
        """Send ``GET path`` (with ``extra`` headers); store the response's cookies;
        return status and body."""
        headers = [(b"host", _HOST), *(extra or [])]
        cookie = self.jar.header()
        if cookie is not None:
            headers.append((b"cookie", cookie.encode("latin-1")))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("bench.local", 443),
            "state": {},
        }
        received = False

        async def receive() -> Message:
            nonlocal received
            if received:
                return dict(_DISCONNECT)
            received = True
            return dict(_BODY_REQUEST)

        status = 0
        set_cookies: list[str] = []
        body: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"set-cookie":
                        set_cookies.append(value.decode("latin-1"))
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        self.jar.update(set_cookies)
        return Response(status, b"".join(body))
