"""A child process that plants a stored record and requests it over ASGI and WSGI.

Hostile records are read in a child (``python -m tests.planted``), so that a
worker crash (SIGSEGV, a blown C stack) fails the test instead of killing pytest.
:func:`request_planted` runs it: the record's values go in as bytes, exactly as a
store would hold them, under the id of a token whose signed cookie the child sends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET = "planted-secret"


def request_planted(
    data: dict[str, bytes], paths: list[str], **options: Any
) -> dict[str, list[list[Any]]]:
    """``{"asgi": [[status, body], ...], "wsgi": [...]}`` for GETs of ``paths`` (in
    order, one cookie jar per shell) against a store holding only ``data``.

    Paths: ``/read`` reads every key, ``/untouched`` ignores the session,
    ``/set/<key>/<n>`` stores ``n`` bytes under ``key``, ``/del/<key>`` deletes it,
    ``/nest/<n>`` stores a tuple nested ``n`` deep under ``deep``; an assignment
    the session refuses answers 400 with the error's class name.
    Fails the test with the child's output if the child dies.
    """
    given = {"data": {k: v.hex() for k, v in data.items()}, "paths": paths, "options": options}
    child = subprocess.run(
        [sys.executable, "-m", "tests.planted"],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    if child.returncode != 0:
        raise AssertionError(
            f"the child process died (exit {child.returncode}): {child.stderr[-2000:]}"
        )
    result: dict[str, list[list[Any]]] = json.loads(child.stdout.splitlines()[-1])
    return result


def _main() -> None:  # pragma: no cover - runs in the child
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from sessionware import MemoryStore, Session, SessionMiddleware, WSGISessionMiddleware
    from sessionware.cookies import CookieSigner, new_token, public_id
    from sessionware.stores.base import Meta

    given = json.load(sys.stdin)
    data = {k: bytes.fromhex(v) for k, v in given["data"].items()}
    options = given["options"]

    def plant(store: MemoryStore) -> str:
        token, now = new_token(), time.time()
        meta = Meta(created_at=now, updated_at=now, last_activity_at=now, expires_at=now + 600)
        store.create(public_id(token), data, meta)
        return CookieSigner(SECRET).sign(token)

    def answer(session: Session, path: str) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] == "read":
            return 200, {key: type(session[key]).__name__ for key in session}
        if parts[0] == "set":
            session[parts[1]] = "x" * int(parts[2])
            return 200, sorted(session)
        if parts[0] == "nest":  # a tuple nested n deep, through the public API
            value: Any = ()
            for _ in range(int(parts[1]) - 1):
                value = (value,)
            session["deep"] = value
            return 200, sorted(session)
        if parts[0] == "del":
            session.pop(parts[1], None)
            return 200, sorted(session)
        return 200, "untouched"

    async def endpoint(request: Request) -> JSONResponse:
        try:
            status, body = answer(request.session, request.url.path)
        except Exception as error:  # an assignment refused: the app's own 4xx
            status, body = 400, type(error).__name__
        return JSONResponse(body, status_code=status)

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            status, body = answer(environ["sessionware.session"], environ["PATH_INFO"])
        except Exception as error:
            status, body = 400, type(error).__name__
        start_response(f"{status} X", [("content-type", "application/json")])
        return [json.dumps(body).encode()]

    results: dict[str, list[list[Any]]] = {"asgi": [], "wsgi": []}
    asgi_store = MemoryStore()
    starlette = Starlette(routes=[Route("/{path:path}", endpoint)])
    starlette.add_middleware(SessionMiddleware, secret_key=SECRET, store=asgi_store, **options)
    with TestClient(
        starlette, base_url="https://testserver", raise_server_exceptions=False
    ) as asgi:
        _browse(asgi, plant(asgi_store), given["paths"], results["asgi"])
    wsgi_store = MemoryStore()
    wsgi = WSGISessionMiddleware(wsgi_app, secret_key=SECRET, store=wsgi_store, **options)
    transport = httpx.WSGITransport(app=wsgi)
    with httpx.Client(transport=transport, base_url="https://testserver") as client:
        _browse(client, plant(wsgi_store), given["paths"], results["wsgi"])
    print(json.dumps(results))


def _browse(client: Any, cookie: str, paths: list[str], results: list[list[Any]]) -> None:
    """GET each path, keeping one session cookie as a browser would."""
    for path in paths:
        client.cookies.clear()
        client.cookies.set("session", cookie)
        response = client.get(path)
        cookie = response.cookies.get("session", cookie)
        results.append([response.status_code, _body(response)])


def _body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


if __name__ == "__main__":
    _main()
