"""Fixtures for the console tests: a real uvicorn server and Debian's Chromium.

The server runs in a thread on a free loopback port and is stopped after the
test, even when it fails. The browser is the system ``/usr/bin/chromium``
driven by Playwright (``playwright install`` cannot download browsers here);
without it the browser tests skip, except under ``CI=true`` where that fails.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's screenshots: rewritten only when asked (SESSIONWARE_SCREENSHOTS=1), so that a
# test run leaves the work tree clean; otherwise they go to a temporary folder.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SESSIONWARE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "sessionware-screenshots"
)
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Server:
    """``app`` served by uvicorn at ``url`` until :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(app)`` → a running Server; every one is stopped after the test."""
    servers: list[Server] = []

    def start(app: Any) -> Server:
        servers.append(Server(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright, shared by one module's tests.

    Module scope, not session: Playwright's sync API keeps an event loop running
    in this thread while it lives, and the anyio tests that follow need it gone.
    """
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page(base_url, operator=None, viewport=LAPTOP, scripts=True)`` → a page in a
    fresh context (``scripts=False``: JavaScript off)."""
    contexts: list[Any] = []

    def make(
        base_url: str,
        operator: str | None = None,
        viewport: dict[str, int] = LAPTOP,
        scripts: bool = True,
    ) -> Any:
        context = browser.new_context(
            base_url=base_url,
            viewport=viewport,
            accept_downloads=True,
            java_script_enabled=scripts,
        )
        if operator is not None:
            context.add_cookies([{"name": "operator", "value": operator, "url": base_url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot of ``page`` as <SCREENSHOTS>/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
