"""The README's demo: it starts, prints its URL, and the shop works over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import demo  # noqa: E402


def test_shopping_checkout_login_and_logout() -> None:
    with TestClient(demo.app) as client:
        client.post("/cart/add", data={"sku": "tea"})
        client.post("/cart/add", data={"sku": "tea"})
        client.post("/cart/add", data={"sku": "mug"})
        page = client.get("/cart").text
        assert "Green tea x 2" in page and "Total: 18.00" in page
        assert "Welcome, ada!" in client.post("/login", data={"user": "ada"}).text  # redirected
        assert "Welcome" not in client.get("/").text  # flashes show once
        for value in ("1 Main St", "express"):
            client.post("/checkout", data={"value": value})
        client.post("/checkout", data={"back": "1"})  # the wizard goes back a step
        assert "shipping" in client.get("/checkout").text
        client.post("/checkout", data={"value": "standard"})
        assert "standard" in client.get("/checkout").text
        assert "Order placed" in client.post("/checkout", data={}).text
        assert "Your cart is empty" in client.get("/cart").text
        console = client.get("/admin/sessions/?q=ada").text
        assert "demo-operator" in console and "View (" in console
        assert "This device" in client.get("/account/sessions/").text
        page = client.post("/logout").text
        assert "You have been logged out." in page and "Log in" in page


def test_the_demo_command_starts_and_prints_its_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env={"PORT": str(port), "PATH": ""},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"sessionware demo: http://127.0.0.1:{port}/"
        for _ in range(50):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                import time

                time.sleep(0.1)
        assert b"sessionware shop" in body
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_demo_on_a_port_in_use_says_so_and_prints_no_url() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "demo.py")],
            env={"PORT": str(port), "PATH": ""},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0 and "http://" not in done.stdout
    assert f"port {port} cannot be used" in done.stderr and f"PORT={port + 1}" in done.stderr
