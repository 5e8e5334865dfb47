"""The examples: each one driven over HTTP, and each one's command starts and prints its URL."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.testclient import TestClient

from .helpers import set_cookies

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the examples are scripts, not a package)."""
    module_name = f"sessionware_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# -- starlette_cart ------------------------------------------------------------------


def test_cart_add_change_remove_and_check_out() -> None:
    with TestClient(example("starlette_cart").app, base_url="https://testserver") as c:
        assert set(c.get("/").json()) == {"tea", "mug", "pot"}
        assert c.post("/cart/items", json={"sku": "tea", "quantity": 2}).status_code == 201
        c.post("/cart/items", json={"sku": "mug"})
        c.post("/cart/items", json={"sku": "tea"})
        cart = c.get("/cart").json()
        assert [(i["sku"], i["quantity"]) for i in cart["items"]] == [("tea", 3), ("mug", 1)]
        assert cart["total"] == "22.50"
        assert c.put("/cart/items/tea", json={"quantity": 5}).json()["total"] == "31.50"
        assert c.delete("/cart/items/mug").json()["total"] == "22.50"
        assert c.put("/cart/items/tea", json={"quantity": 0}).json()["items"] == []
        c.post("/cart/items", json={"sku": "pot"})
        order = c.post("/checkout")
        assert order.status_code == 201
        assert order.json()["total"] == "32.00" and len(order.json()["order"]) == 12
        assert c.get("/cart").json() == {"items": [], "total": "0"}
        assert c.post("/checkout").status_code == 409


def test_cart_refuses_bad_input_without_touching_the_cart() -> None:
    with TestClient(example("starlette_cart").app, base_url="https://testserver") as c:
        c.post("/cart/items", json={"sku": "tea"})
        assert c.post("/cart/items", json={"sku": "car"}).status_code == 404
        assert c.post("/cart/items", json={"sku": "tea", "quantity": 0}).status_code == 422
        assert c.post("/cart/items", content=b"not json").status_code == 404
        assert c.put("/cart/items/tea", json={"quantity": "many"}).status_code == 422
        assert c.put("/cart/items/mug", json={"quantity": 1}).status_code == 404
        assert c.delete("/cart/items/mug").status_code == 404
        assert c.get("/cart").json()["items"][0]["quantity"] == 1


def test_cart_uses_redis_when_redis_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from sessionware import RedisStore
    except ImportError:
        pytest.skip("sessionware.RedisStore is not written yet")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert isinstance(example("starlette_cart").make_store(), RedisStore)
    monkeypatch.delenv("REDIS_URL")
    assert not isinstance(example("starlette_cart").make_store(), RedisStore)


# -- fastapi_wizard ------------------------------------------------------------------


@pytest.fixture
def wizard() -> Iterator[TestClient]:
    with TestClient(example("fastapi_wizard").app, base_url="https://testserver") as c:
        yield c


def test_the_wizard_walks_forward_and_back_and_clears_when_done(wizard: TestClient) -> None:
    c = wizard
    assert c.get("/wizard").json()["step"] == "shipping"
    c.post("/wizard/shipping", json={"name": "Ada", "address": "1 Main St"})
    assert c.post("/wizard/delivery", json={"method": "express"}).json()["step"] == "payment"
    back = c.post("/wizard/back").json()
    assert back["step"] == "delivery" and back["answers"]["delivery"] == {"method": "express"}
    c.post("/wizard/delivery", json={"method": "standard"})
    assert c.post("/wizard/payment", json={"card_last4": "4242"}).json()["step"] == "review"
    order = c.post("/wizard/confirm")
    assert order.status_code == 201
    assert order.json()["delivery"] == {"method": "standard"}
    assert order.json()["shipping"]["name"] == "Ada"
    assert c.get("/wizard").json() == {
        "step": "shipping",
        "steps": ["shipping", "delivery", "payment", "review"],
        "answers": {},
    }


def test_the_wizard_refuses_skipped_steps_and_bad_answers(wizard: TestClient) -> None:
    c = wizard
    assert c.post("/wizard/payment", json={"card_last4": "4242"}).status_code == 409
    assert c.post("/wizard/shipping", json={"name": ""}).status_code == 422
    assert c.post("/wizard/confirm").status_code == 409
    assert c.get("/wizard").json()["step"] == "shipping"


def test_the_wizard_health_check_never_touches_the_session(wizard: TestClient) -> None:
    wizard.post("/wizard/shipping", json={"name": "Ada", "address": "1 Main St"})
    response = wizard.get("/health")
    assert response.json() == {"status": "ok"}
    assert "vary" not in response.headers and set_cookies(response) == []


# -- flask_login_flash ---------------------------------------------------------------


def browser() -> httpx.Client:
    app = example("flask_login_flash").app
    transport = httpx.WSGITransport(app=app)
    return httpx.Client(transport=transport, base_url="https://testserver", follow_redirects=True)


def test_login_flash_and_logout() -> None:
    with browser() as c:
        assert "Unknown user" in c.post("/login", data={"username": "ada", "password": "x"}).text
        assert "Unknown user" not in c.get("/").text  # a flash shows once
        assert "session" not in c.cookies  # its only key, the flash, was shown: it ended
        page = c.post("/login", data={"username": "ada", "password": "lovelace"}).text
        assert "Welcome, ada!" in page and "Logged in as <b>ada</b>" in page
        assert c.cookies["session"]
        page = c.post("/logout").text
        assert "You have been logged out." in page and "Log in" in page


def test_log_out_everywhere_ends_the_users_other_sessions_only() -> None:
    try:
        from sessionware import SessionManager  # noqa: F401
    except ImportError:
        pytest.skip("sessionware.SessionManager is not written yet")
    with browser() as laptop, browser() as phone, browser() as other_user:
        laptop.post("/login", data={"username": "ada", "password": "lovelace"})
        phone.post("/login", data={"username": "ada", "password": "lovelace"})
        other_user.post("/login", data={"username": "grace", "password": "hopper"})
        page = laptop.post("/logout-everywhere").text
        assert "Logged out 1 other session." in page
        assert "Logged in as <b>ada</b>" in laptop.get("/").text
        assert "Log in" in phone.get("/").text
        assert "Logged in as <b>grace</b>" in other_user.get("/").text


# -- templates_shop ------------------------------------------------------------------


def test_templates_shop_takes_its_options_from_the_config_file() -> None:
    app = example("templates_shop").app
    assert app.config.cookie.name == "shop_session"
    assert app.config.idle_seconds == 30 * 24 * 3600  # timeout_minutes = 43200
    assert app.config.cookie.same_site == "Lax".lower() and not app.config.cookie.secure


def test_templates_shop_keeps_visits_cart_and_wizard_step_written_by_templates() -> None:
    from sessionware import SessionManager

    shop = example("templates_shop")
    with TestClient(shop.app, base_url="https://testserver") as c:
        home = c.get("/").text
        assert "Visit number 1 in" in home and "No cart yet" in home
        cart_id = c.get("/cart").text.split("Cart #")[1].split(":")[0]  # given once, by cart.html
        assert f"Cart #{cart_id}: tea</p>" in c.get("/cart?add=tea").text
        assert f"Cart #{cart_id}: tea, mug</p>" in c.get("/cart?add=mug&x=1").text
        assert c.get("/cart?add=car").text.count(f"Cart #{cart_id}") == 2  # unknown: not added
        assert "Checkout step 2 of 3" in c.get("/wizard/2").text
        assert c.get("/wizard/9").status_code == 404
        assert "Visit number 2 in" in c.get("/").text
        (info,) = SessionManager(shop.app.store).list().items
        payload = SessionManager(shop.app.store).reveal(info.id, actor="test", reason="types")
        assert payload["cart_id"] == int(cart_id) and type(payload["cart_id"]) is int
        assert payload["cart"] == ["tea", "mug"] and payload["wizard_step"] == 2
        response = c.post("/logout")
        assert "Visit number 1 in" in response.text and "No cart yet" in response.text
        health = c.get("/health")
        assert health.text == "ok" and set_cookies(health, "shop_session") == []


# -- the commands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "printed", "path", "expected"),
    [
        ("starlette_cart", "sessionware cart: http://localhost:{port}/", "/", b"tea"),
        ("fastapi_wizard", "sessionware wizard: http://localhost:{port}/docs", "/health", b"ok"),
        ("flask_login_flash", "sessionware login: http://localhost:{port}/", "/", b"Log in"),
        ("templates_shop", "sessionware templates: http://localhost:{port}/", "/", b"Visit number"),
    ],
)
def test_each_example_command_starts_and_prints_its_url(
    name: str, printed: str, path: str, expected: bytes
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        env={"PORT": str(port), "PATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == printed.format(port=port)
        body = b""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert expected in body
    finally:
        process.terminate()
        process.wait(timeout=10)
