"""platformOS-style sessions: a config file and Jinja templates that use the session tag.

    SESSIONWARE_SECRET_KEY=... python examples/templates_shop.py

The options come from ``templates_shop/sessionware.toml`` (its ``[sessions]``
block, with platformOS's names), then from ``SESSIONWARE_*`` environment
variables; the secret key only from ``SESSIONWARE_SECRET_KEY`` (without it,
this example makes a random one at each start, so sessions end at a restart).

The templates read and write the session as platformOS templates do:

* ``index.html`` counts visits: ``{% session visits = (session.visits or 0) + 1 %}``;
* ``cart.html`` gives the visitor a cart id once (an int, kept as an int) and
  adds products to a list;
* ``wizard.html`` remembers the checkout step: ``{% session wizard_step = step %}``;
* ``base.html`` shows ``{{ context.session.cart_id }}`` on every page.

"Forget me" ends the session (``session.clear()``), as logging out does.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sessionware import SessionMiddleware
from sessionware.jinja import SessionExtension

HERE = Path(__file__).resolve().parent / "templates_shop"
CONFIG = HERE / "sessionware.toml"
TITLE = "Tea shop"
PRODUCTS = {"tea": "Green tea, 100 g", "mug": "Stoneware mug", "pot": "Cast-iron teapot"}
STEPS = 3

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.add_extension(SessionExtension)


async def home(request: Request) -> Response:
    return templates.TemplateResponse(request, "index.html", {"title": TITLE, "products": PRODUCTS})


async def cart(request: Request) -> Response:
    add = request.query_params.get("add")
    context = {
        "title": TITLE,
        "add": add if add in PRODUCTS else None,
        "new_cart_id": secrets.randbelow(900_000) + 100_000,  # used only if there is none yet
    }
    return templates.TemplateResponse(request, "cart.html", context)


async def wizard(request: Request) -> Response:
    step = request.path_params["step"]
    if not 1 <= step <= STEPS:
        return PlainTextResponse("no such step", status_code=404)
    context = {"title": TITLE, "step": step, "steps": STEPS}
    return templates.TemplateResponse(request, "wizard.html", context)


async def logout(request: Request) -> Response:
    request.session.clear()  # the stored session is deleted and the cookie expired
    return RedirectResponse("/", status_code=303)


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")  # never touches the session: no cookie, no store I/O


routes = [
    Route("/", home),
    Route("/cart", cart),
    Route("/wizard/{step:int}", wizard),
    Route("/logout", logout, methods=["POST"]),
    Route("/health", health),
]
# Only for trying it out: without SESSIONWARE_SECRET_KEY, a key that lasts until a restart.
fallback = {} if os.environ.get("SESSIONWARE_SECRET_KEY") else {"secret_key": secrets.token_hex(32)}
app = SessionMiddleware.from_config(Starlette(routes=routes), CONFIG, **fallback)

if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    print(f"sessionware templates: http://localhost:{port}/", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
