"""The sessionware demo: a tiny Starlette shop on the memory store.

Cart, a three-step checkout wizard, flash messages, login (with regenerate())
and logout (with clear()). Beside the shop: the operators' session console at
/admin/sessions/ (signed in as a demo admin) and each user's own sessions at
/account/sessions/. Run it with ``make demo`` or
``python examples/demo.py`` and open the URL it prints.
"""

from __future__ import annotations

import html
import os
import secrets
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from sessionware import MemoryStore, SessionMiddleware
from sessionware.admin import AdminConsole, MySessions, Operator

PRODUCTS = {"tea": ("Green tea", Decimal("4.50")), "mug": ("Mug", Decimal("9.00"))}
STEPS = ("address", "shipping", "confirm")


def page(request: Request, body: str) -> HTMLResponse:
    session = request.session
    flashes = "".join(
        f'<p class="{html.escape(cat)}">{html.escape(str(msg))}</p>'
        for cat, msg in session.pop_flashes()
    )
    user = session.get("user")
    who = (
        f'{html.escape(user)} <form method="post" action="/logout"><button>Log out</button></form>'
        if user
        else '<form method="post" action="/login"><input name="user" placeholder="name">'
        "<button>Log in</button></form>"
    )
    return HTMLResponse(
        f"<!doctype html><title>sessionware shop</title><h1>sessionware shop</h1>"
        f"<nav><a href='/'>Products</a> · <a href='/cart'>Cart</a> · "
        "<a href='/account/sessions/'>Your sessions</a> · "
        f"<a href='/admin/sessions/'>Session console</a> · {who}</nav>"
        f"{flashes}{body}<footer><small>session id {session.id}</small></footer>"
    )


def back(to: str = "/") -> Response:
    return RedirectResponse(to, status_code=303)


async def products(request: Request) -> HTMLResponse:
    rows = "".join(
        f"<li>{name}: {price} <form method='post' action='/cart/add'>"
        f"<input type='hidden' name='sku' value='{sku}'><button>Add</button></form></li>"
        for sku, (name, price) in PRODUCTS.items()
    )
    return page(request, f"<ul>{rows}</ul>")


async def cart(request: Request) -> HTMLResponse:
    items: dict[str, int] = request.session.get("cart", {})
    total = sum((PRODUCTS[sku][1] * qty for sku, qty in items.items()), Decimal(0))
    rows = "".join(
        f"<li>{PRODUCTS[sku][0]} x {qty} <form method='post' action='/cart/remove'>"
        f"<input type='hidden' name='sku' value='{sku}'><button>Remove one</button></form></li>"
        for sku, qty in items.items()
    )
    checkout = "<a href='/checkout'>Check out</a>" if items else "Your cart is empty."
    return page(request, f"<ul>{rows}</ul><p>Total: {total}</p>{checkout}")


async def cart_add(request: Request) -> Response:
    sku = str((await request.form()).get("sku"))
    if sku in PRODUCTS:
        cart = request.session.setdefault("cart", {})  # nested mutation is saved
        cart[sku] = cart.get(sku, 0) + 1
        request.session.flash(f"Added {PRODUCTS[sku][0]}.")
    return back("/cart")


async def cart_remove(request: Request) -> Response:
    sku = str((await request.form()).get("sku"))
    cart = request.session.get("cart", {})
    if cart.get(sku, 0) > 1:
        cart[sku] -= 1
    else:
        cart.pop(sku, None)
    return back("/cart")


async def checkout(request: Request) -> Response:
    session = request.session
    wizard: dict[str, Any] = session.setdefault("checkout", {"step": 0, "answers": {}})
    if request.method == "POST":
        form = await request.form()
        if form.get("back"):
            wizard["step"] = max(0, wizard["step"] - 1)
        elif STEPS[wizard["step"]] == "confirm":
            session.pop("checkout")
            session.pop("cart", None)
            session.flash("Order placed. Thank you!", "success")
            return back("/")
        else:
            wizard["answers"][STEPS[wizard["step"]]] = str(form.get("value", ""))
            wizard["step"] += 1
        return back("/checkout")
    step = STEPS[wizard["step"]]
    known = html.escape(wizard["answers"].get(step, ""))
    field = (
        f"<pre>{html.escape(str(wizard['answers']))}</pre>"
        if step == "confirm"
        else f"<input name='value' value='{known}' placeholder='{step}'>"
    )
    return page(
        request,
        f"<h2>Step {wizard['step'] + 1} of 3: {step}</h2><form method='post'>{field}"
        "<button>Next</button> <button name='back' value='1'>Back</button></form>",
    )


async def login(request: Request) -> Response:
    user = str((await request.form()).get("user", "")).strip() or "guest"
    request.session.regenerate()  # a new id at login defeats session fixation
    request.session["user"] = user
    request.session.flash(f"Welcome, {user}!", "success")
    return back()


async def logout(request: Request) -> Response:
    request.session.clear()  # deletes the stored session and expires the cookie
    request.session.flash("You have been logged out.")  # ...in a brand-new session
    return back()


def demo_operator(request: Any) -> Operator:
    """Everyone is an admin in the demo. A real app asks its own auth, e.g. returns
    ``Operator(user.name, "admin")`` for staff and ``None`` for everyone else."""
    return Operator(name="demo-operator", role="admin")


def signed_in_user(request: Any) -> str | None:
    return request.session.get("user")


store = MemoryStore()  # one store: the middleware writes it, the console reads it
# signs the console's form tokens; several workers would all need the same one
CSRF_KEY = os.environ.get("CSRF_SECRET", secrets.token_urlsafe(32))
app = Starlette(
    routes=[
        Route("/", products),
        Route("/cart", cart),
        Route("/cart/add", cart_add, methods=["POST"]),
        Route("/cart/remove", cart_remove, methods=["POST"]),
        Route("/checkout", checkout, methods=["GET", "POST"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount(
            "/admin/sessions", app=AdminConsole(store, authorize=demo_operator, secret_key=CSRF_KEY)
        ),
        Mount("/account/sessions", app=MySessions(store, user=signed_in_user, secret_key=CSRF_KEY)),
    ]
)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ.get("SESSION_SECRET", secrets.token_urlsafe(32)),
    store=store,
    app_id="shop",
    user_key="user",
    secure=False,  # the demo is served over plain http; keep the default (True) in production
)

if __name__ == "__main__":
    import socket

    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    listener = socket.socket()  # bound before the URL is printed: it is ours, or we stop
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as error:
        raise SystemExit(
            f"sessionware demo: port {port} cannot be used ({error.strerror}): "
            f"choose another, PORT={port + 1} make demo"
        ) from None
    print(f"sessionware demo: http://127.0.0.1:{port}/", flush=True)  # (what it bound)
    print(f"session console: http://127.0.0.1:{port}/admin/sessions/", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
