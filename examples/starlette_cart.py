"""A shopping cart kept in the session: a small JSON API on Starlette.

    python examples/starlette_cart.py          # memory store
    REDIS_URL=redis://localhost:6379/0 python examples/starlette_cart.py

Then, for example (``-b``/``-c`` keep the session cookie in a file)::

    curl -b jar -c jar -X POST localhost:8000/cart/items -d '{"sku": "tea", "quantity": 2}'
    curl -b jar -c jar -X PUT localhost:8000/cart/items/tea -d '{"quantity": 5}'
    curl -b jar -c jar -X DELETE localhost:8000/cart/items/tea
    curl -b jar -c jar -X POST localhost:8000/checkout

The cart is ``{sku: quantity}`` in the session, changed in place: sessionware
saves nested changes without any ``modified`` flag.
"""

from __future__ import annotations

import os
import secrets
import uuid
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import MemoryStore, Session, SessionMiddleware
from sessionware.stores.base import AsyncStore

CATALOG = {
    "tea": ("Green tea, 100 g", Decimal("4.50")),
    "mug": ("Stoneware mug", Decimal("9.00")),
    "pot": ("Cast-iron teapot", Decimal("32.00")),
}
MAX_QUANTITY = 99


def make_store() -> AsyncStore:
    """Redis when ``REDIS_URL`` is set (sessions survive restarts, shared by workers)."""
    url = os.environ.get("REDIS_URL")
    if url:
        # imported here: RedisStore needs the redis extra, pip install 'sessionware[redis]'
        from sessionware import RedisStore

        return RedisStore.from_url(url)
    return MemoryStore()


def cart_of(session: Session) -> dict[str, int]:
    return session.setdefault("cart", {})  # type: ignore[no-any-return]


def summary(cart: dict[str, int]) -> dict[str, Any]:
    lines = [
        {
            "sku": sku,
            "name": CATALOG[sku][0],
            "price": str(CATALOG[sku][1]),
            "quantity": quantity,
            "subtotal": str(CATALOG[sku][1] * quantity),
        }
        for sku, quantity in cart.items()
    ]
    total = sum((CATALOG[sku][1] * q for sku, q in cart.items()), Decimal(0))
    return {"items": lines, "total": str(total)}


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; ``{}`` when the body is empty or not an object."""
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def quantity_in(body: dict[str, Any], lowest: int) -> int | None:
    """The body's ``quantity`` (default 1); None unless an int from lowest to MAX_QUANTITY."""
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        return None
    return quantity if lowest <= quantity <= MAX_QUANTITY else None


async def catalog(request: Request) -> JSONResponse:
    return JSONResponse({sku: {"name": n, "price": str(p)} for sku, (n, p) in CATALOG.items()})


async def show_cart(request: Request) -> JSONResponse:
    return JSONResponse(summary(request.session.get("cart", {})))


async def add_item(request: Request) -> JSONResponse:
    body = await json_body(request)
    sku, quantity = body.get("sku"), quantity_in(body, lowest=1)
    if sku not in CATALOG:
        return problem(404, f"no product {sku!r}; GET / lists the catalog")
    if quantity is None:
        return problem(422, f"quantity must be an integer from 1 to {MAX_QUANTITY}")
    cart = cart_of(request.session)  # changed in place below: still saved
    cart[sku] = min(MAX_QUANTITY, cart.get(sku, 0) + quantity)
    return JSONResponse(summary(cart), status_code=201)


async def change_quantity(request: Request) -> JSONResponse:
    sku, cart = request.path_params["sku"], cart_of(request.session)
    quantity = quantity_in(await json_body(request), lowest=0)
    if sku not in cart:
        return problem(404, f"{sku!r} is not in the cart")
    if quantity is None:
        return problem(422, f"quantity must be an integer from 0 to {MAX_QUANTITY}")
    if quantity:
        cart[sku] = quantity
    else:
        del cart[sku]
    return JSONResponse(summary(cart))


async def remove_item(request: Request) -> JSONResponse:
    sku, cart = request.path_params["sku"], cart_of(request.session)
    if cart.pop(sku, None) is None:
        return problem(404, f"{sku!r} is not in the cart")
    return JSONResponse(summary(cart))


async def checkout(request: Request) -> JSONResponse:
    session = request.session
    if not session.get("cart"):
        return problem(409, "the cart is empty")
    order = {"order": uuid.uuid4().hex[:12], **summary(session.pop("cart"))}
    session.setdefault("orders", []).append(order["order"])
    return JSONResponse(order, status_code=201)


app = Starlette(
    routes=[
        Route("/", catalog),
        Route("/cart", show_cart),
        Route("/cart/items", add_item, methods=["POST"]),
        Route("/cart/items/{sku}", change_quantity, methods=["PUT"]),
        Route("/cart/items/{sku}", remove_item, methods=["DELETE"]),
        Route("/checkout", checkout, methods=["POST"]),
    ]
)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
    store=make_store(),
    # Cookies are Secure by default and browsers drop those on plain http (except on
    # localhost); this example serves plain http, so it turns that off. Keep it on in production.
    secure=False,
)

if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    print(f"sessionware cart: http://localhost:{port}/", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
