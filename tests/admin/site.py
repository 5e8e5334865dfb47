"""The app the console tests drive: a shop with sessions, the console and "my sessions".

Sign-in is deliberately simple (a test app, not a pattern): ``POST /login``
puts the user into the session; the operator comes from an ``operator``
cookie, ``role:name``, which a real app would derive from its own auth.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sessionware import SessionMiddleware
from sessionware.admin import AdminConsole, MySessions, Operator

SECRET = "console-test-secret"
CONSOLE = "/admin/sessions"
MINE = "/account/sessions"


def operator_from_cookie(request: Any) -> Operator | None:
    """``operator=admin:ada`` → Operator("ada", "admin"); anything else: nobody."""
    role, _, name = request.cookies.get("operator", "").partition(":")
    if role in ("admin", "viewer") and name:
        return Operator(name=name, role=role)
    return None


def signed_in_user(request: Any) -> str | None:
    """The shop's signed-in user: what /login put in the session."""
    return request.session.get("user_id")


async def login(request: Request) -> Response:
    form = await request.form()
    session = request.session
    session.regenerate()
    session["user_id"] = str(form["user"])
    session["email"] = str(form.get("email") or f"{form['user']}@example.com")
    session["cart"] = {"sku": "tea", "price": Decimal("4.50"), "qty": 2}
    session["since"] = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    session["ref"] = uuid.UUID(int=7)
    session["blob"] = b"\x00\x01hi"
    return JSONResponse({"id": session.id})


async def anonymous(request: Request) -> Response:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JSONResponse({"id": request.session.id})


async def whoami(request: Request) -> Response:
    return JSONResponse({"id": request.session.id, "keys": sorted(request.session)})


def with_sessions(app: Starlette, store: Any, app_id: str, cookie_name: str) -> Starlette:
    app.add_middleware(
        SessionMiddleware,
        secret_key=SECRET,
        store=store,
        secure=False,
        app_id=app_id,
        cookie_name=cookie_name,
        user_key="user_id",
        email_key="email",
    )
    return app


def routes() -> list[Any]:
    return [
        Route("/login", login, methods=["POST"]),
        Route("/visit", anonymous, methods=["POST"]),
        Route("/whoami", whoami),
    ]


def build(store: Any, **console_options: Any) -> tuple[Starlette, AdminConsole]:
    """The shop (app "shop") over ``store``, a blog (app "blog", its own cookie) at
    /blog, the console at CONSOLE and the users' own page at MINE."""
    console = AdminConsole(store, authorize=operator_from_cookie, **console_options)
    blog = with_sessions(Starlette(routes=routes()), store, "blog", "blog_session")
    mine = MySessions(store, user=signed_in_user)
    app = Starlette(
        routes=[
            *routes(),
            Mount("/blog", app=blog),
            Mount(CONSOLE, app=console),
            Mount(MINE, app=mine),
        ]
    )
    return with_sessions(app, store, "shop", "session"), console
