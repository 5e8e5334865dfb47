"""The end user's "my sessions" page in a real headless Chromium over uvicorn."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sessionware import MemoryStore, SessionManager

from .conftest import PHONE, screenshot
from .site import MINE, build

pytestmark = pytest.mark.browser
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def device(url: str, user: str, agent: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, headers={"User-Agent": agent})
    assert client.post("/login", data={"user": user}).status_code == 200
    return client, client.get("/whoami").json()["id"]


@pytest.fixture
def world(serve: Any) -> Any:
    store = MemoryStore()
    app, _ = build(store)
    server = serve(app)
    laptop, laptop_id = device(server.url, "mia", FIREFOX)
    phone, phone_id = device(server.url, "mia", IPHONE)
    other, other_id = device(server.url, "max", FIREFOX)
    yield (
        server,
        SessionManager(store),
        {"laptop": laptop, "phone": phone, "max": other},
        {
            "laptop": laptop_id,
            "phone": phone_id,
            "max": other_id,
        },
    )
    for client in (laptop, phone, other):
        client.close()


def signed_in(new_page: Any, url: str, user: str, **kw: Any) -> Any:
    page = new_page(url, **kw)
    assert page.request.post("/login", form={"user": user}).status == 200
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before ending
    return page


def test_a_user_sees_and_ends_their_own_sessions(new_page: Any, world: Any) -> None:
    server, manager, clients, ids = world
    page = signed_in(new_page, server.url, "mia")
    page.goto(f"{MINE}/")
    devices = page.locator("li.device")
    assert devices.count() == 3
    assert "This device" in devices.first.inner_text()
    phone_card = page.locator(f"li[data-id='{ids['phone']}']").inner_text()
    assert "Safari on iOS" in phone_card and "127.0.0.1" in phone_card
    assert "Firefox on Linux" in page.locator(f"li[data-id='{ids['laptop']}']").inner_text()
    assert ids["max"] not in page.content()  # another user's session is not listed
    screenshot(page, "my-sessions")

    page.locator(f"li[data-id='{ids['phone']}']").get_by_role("button", name="End session").click()
    page.get_by_text("Ended 1 session.").wait_for()
    assert page.locator("li.device").count() == 2
    assert clients["phone"].get("/whoami").json() == {"id": None, "keys": []}
    assert clients["laptop"].get("/whoami").json()["keys"]  # untouched

    page.get_by_role("button", name="Sign out everywhere else").click()
    page.get_by_text("Ended 1 session.").wait_for()
    assert page.locator("li.device").count() == 1
    assert "This device" in page.locator("li.device").inner_text()
    assert clients["laptop"].get("/whoami").json() == {"id": None, "keys": []}
    assert clients["max"].get("/whoami").json()["keys"]  # max is never touched
    assert page.get_by_role("button", name="Sign out everywhere else").count() == 0
    revoked_by = {manager.get(ids[name]).revoked_by for name in ("laptop", "phone")}
    assert revoked_by == {"user:mia"}


def test_a_user_cannot_end_another_users_session_whatever_they_send(
    new_page: Any, world: Any
) -> None:
    server, manager, clients, ids = world
    page = signed_in(new_page, server.url, "mia")
    page.goto(f"{MINE}/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    mine_now = page.request.get("/whoami").json()["id"]
    for target in (ids["max"], "0" * 32, "", "../x"):
        response = page.request.post(f"{MINE}/end", form={"id": target, "csrf_token": token})
        assert response.status == 404, target
    this_device = page.request.post(f"{MINE}/end", form={"id": mine_now, "csrf_token": token})
    assert this_device.status == 409 and "sign out of the site" in this_device.text()
    assert manager.get(ids["max"]).status == "active"
    assert page.request.post(f"{MINE}/end", form={"id": ids["phone"]}).status == 403  # no token
    maxs = signed_in(new_page, server.url, "max")
    maxs.goto(f"{MINE}/")
    max_token = maxs.locator("input[name=csrf_token]").first.get_attribute("value")
    stolen = page.request.post(f"{MINE}/end", form={"id": ids["phone"], "csrf_token": max_token})
    assert stolen.status == 403  # a token is bound to its user and session
    assert manager.get(ids["phone"]).status == "active"
    assert manager.get(ids["max"]).status == "active"
    assert clients["max"].get("/whoami").json()["keys"]


def test_the_page_needs_a_signed_in_user_and_fits_a_phone(new_page: Any, world: Any) -> None:
    server, _, _, _ = world
    anonymous = new_page(server.url)
    assert anonymous.goto(f"{MINE}/").status == 403
    page = signed_in(new_page, server.url, "mia", viewport=PHONE)
    response = page.goto(f"{MINE}/")
    assert response.headers["cache-control"] == "no-store"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "my-sessions-phone", full_page=False)
