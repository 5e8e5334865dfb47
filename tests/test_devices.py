"""Device details: what the middleware records per session, and the pure rules behind it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from flask import Flask, session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionware import ConfigurationError, MemoryStore, SessionManager, SessionMiddleware
from sessionware.devices import Device, browser_and_os, client_ip, created, parse, used
from sessionware.flask import Sessionware
from sessionware.transport import parse_proxies as trusted_networks

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
EDGE_MAC = CHROME_WIN.replace("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 14_5") + (
    " Edg/126.0.0.0"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (FIREFOX, ("Firefox", "Linux")),
        (CHROME_WIN, ("Chrome", "Windows")),
        (EDGE_MAC, ("Edge", "macOS")),
        (IPHONE, ("Safari", "iOS")),
        ("curl/8.5.0", ("curl", "unknown OS")),
        ("", ("Unknown browser", "unknown OS")),
    ],
)
def test_user_agents_read_as_browser_and_os(agent: str, expected: tuple[str, str]) -> None:
    assert browser_and_os(agent) == expected


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = trusted_networks(["10.0.0.0/8", "::1"])
    assert client_ip("203.0.113.9", "198.51.100.1", proxies) == "203.0.113.9"  # untrusted peer
    assert client_ip("10.0.0.2", "198.51.100.1", proxies) == "198.51.100.1"
    assert client_ip("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", proxies) == "198.51.100.1"
    assert client_ip("10.0.0.2", "not-an-ip", proxies) == "10.0.0.2"  # garbled: trust none
    assert client_ip("10.0.0.2", "10.0.0.3", proxies) == "10.0.0.2"  # all proxies
    assert client_ip("::1", "2001:db8::7", proxies) == "2001:db8::7"
    assert client_ip("10.0.0.2", None, proxies) == "10.0.0.2"
    assert client_ip("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"  # nothing trusted
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        trusted_networks(["proxy.local"])


async def login(request: Request) -> JSONResponse:
    request.session["user_id"] = "ann"
    return JSONResponse({})


async def touch(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.session.id})


def asgi_app(store: MemoryStore, **options: Any) -> Starlette:
    app = Starlette(routes=[Route("/login", login, methods=["POST"]), Route("/touch", touch)])
    app.add_middleware(SessionMiddleware, secret_key="devices-secret", store=store, **options)
    return app


def client(app: Any, peer: str, agent: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 5000))
    return httpx.AsyncClient(
        transport=transport, base_url="https://testserver", headers={"User-Agent": agent}
    )


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_middleware_records_where_a_session_began_and_was_last_used(
    anyio_backend: str,
) -> None:
    store = MemoryStore()
    app = asgi_app(store, trusted_proxies=["10.0.0.0/8"])
    manager = SessionManager(store)
    async with client(app, "10.0.0.7", FIREFOX) as laptop:
        laptop.headers["X-Forwarded-For"] = "198.51.100.4"  # behind the proxy, always sent
        await laptop.post("/login")
        session_id = (await laptop.get("/touch")).json()["id"]
        info = manager.get(session_id)
        assert info is not None and info.device is not None
        assert (info.device.first.label, info.device.first.ip) == (
            "Firefox on Linux",
            "198.51.100.4",
        )
        assert info.device.last == info.device.first
        assert session_id not in str(manager.reveal(session_id, actor="t"))  # not in the payload
        assert "device" not in manager.reveal(session_id, actor="t")
        cookies = laptop.cookies
    async with client(app, "203.0.113.8", IPHONE) as phone:  # same cookie, another device
        phone.cookies = cookies
        await phone.get("/touch", headers={"X-Forwarded-For": "1.2.3.4"})  # untrusted peer
    info = manager.get(session_id)
    assert info is not None and info.device is not None
    assert (info.device.last.label, info.device.last.ip) == ("Safari on iOS", "203.0.113.8")
    assert info.device.first.label == "Firefox on Linux"  # where it began stays
    before = store.get_meta(session_id, now=0)
    async with client(app, "203.0.113.8", IPHONE) as phone:
        phone.cookies = cookies
        await phone.get("/touch")
    after = store.get_meta(session_id, now=0)
    assert before is not None and after is not None
    assert after.updated_at == before.updated_at  # the same device again writes nothing


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_recording_devices_can_be_turned_off(anyio_backend: str) -> None:
    store = MemoryStore()
    async with client(asgi_app(store, record_device=False), "10.0.0.7", FIREFOX) as browser:
        await browser.post("/login")
        session_id = (await browser.get("/touch")).json()["id"]
    meta = store.get_meta(session_id, now=0)
    assert meta is not None and meta.device is None
    with pytest.raises(ConfigurationError, match="record_device"):
        SessionMiddleware(app=touch, secret_key="x" * 32, record_device="no")  # type: ignore[arg-type]


def test_flask_records_the_device_from_the_environ() -> None:
    store = MemoryStore()
    app = Flask(__name__)
    Sessionware(app, secret_key="flask-devices-secret", store=store, user_key="user")

    @app.post("/login")
    def flask_login() -> str:
        session["user"] = "bo"
        return "ok"

    test = app.test_client()
    test.post(
        "/login",
        headers={"User-Agent": CHROME_WIN},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
        base_url="https://localhost",
    )
    (info,) = SessionManager(store).user_sessions("bo")
    assert info.device is not None
    assert (info.device.first.label, info.device.first.ip) == ("Chrome on Windows", "192.0.2.10")


def test_a_malformed_device_record_reads_as_none() -> None:
    malformed = ('{"first": 1}', '{"first": {"ua": "x"}, "last": {}}', '{"ua": "x"}', '"ua"', "1")
    for text in (None, "", "{", "[]", *malformed, '{"first": {"ua": "x", "ip": null}}'):
        assert parse(text) is None


def _agents(record: str) -> int:
    """How many user agents a stored record holds, packed or not."""
    raw = json.loads(record)
    devices = [raw["first"], raw["last"]] if "first" in raw else [raw]
    return sum(("ua" in device) + ("uz" in device) for device in devices)


def test_a_record_keeps_each_user_agent_once() -> None:
    laptop = Device(FIREFOX, "198.51.100.4")
    record = created(laptop)
    assert _agents(record) == 1 and len(record) < len(FIREFOX)
    read = parse(record)
    assert read is not None and read.first == read.last == laptop
    assert used(record, laptop) is None  # the same device again: nothing to write
    moved = used(record, Device(FIREFOX, "203.0.113.9"))  # same browser, new address
    assert moved is not None and _agents(moved) == 1
    read = parse(moved)
    assert read is not None and read.first == laptop
    assert read.last == Device(FIREFOX, "203.0.113.9")
    phone = used(moved, Device(IPHONE, None))
    assert phone is not None and _agents(phone) == 2
    read = parse(phone)
    assert read is not None and (read.first, read.last) == (laptop, Device(IPHONE, None))
    back = used(phone, laptop)  # back where it began: one device again
    assert back == record


def test_records_in_the_old_form_still_read() -> None:
    def old(first: tuple[str, str | None], last: tuple[str, str | None]) -> str:
        parts = {"first": first, "last": last}
        raw = {k: {"ua": ua, "ip": ip} for k, (ua, ip) in parts.items()}
        return json.dumps(raw, separators=(",", ":"))

    same = old((FIREFOX, "10.0.0.1"), (FIREFOX, "10.0.0.1"))
    read = parse(same)
    assert read is not None and read.first == read.last == Device(FIREFOX, "10.0.0.1")
    assert used(same, Device(FIREFOX, "10.0.0.1")) is None  # unchanged: not rewritten
    two = old((FIREFOX, None), (IPHONE, "10.0.0.2"))
    read = parse(two)
    assert read is not None and read.first == Device(FIREFOX, None)
    assert read.last == Device(IPHONE, "10.0.0.2")
    assert read.last.label == "Safari on iOS"
    rewritten = used(two, Device(IPHONE, "10.0.0.3"))
    assert rewritten is not None and parse(rewritten) == parse(two.replace(".2", ".3"))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_repeated_forwarded_for_lines_read_as_one_list_as_under_wsgi(
    anyio_backend: str,
) -> None:
    """Proxies that each add a line of their own (HAProxy's option forwardfor): the
    ASGI shell kept the last line alone, and recorded the proxy as the client, where
    WSGI servers join the lines and got the client."""
    store = MemoryStore()
    app = asgi_app(store, trusted_proxies=["10.0.0.0/8"], require_https=True)
    lines = [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-For", "10.0.0.5")]
    lines += [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "http")]
    async with client(app, "10.0.0.9", FIREFOX) as browser:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 5000))
        plain = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        async with plain:  # the last proxy saw http: no session may be written
            assert (await plain.post("/login", headers=lines)).status_code == 403
        await browser.post("/login", headers=lines[:2])
        session_id = (await browser.get("/touch", headers=lines[:2])).json()["id"]
    info = SessionManager(store).get(session_id)
    assert info is not None and info.device is not None
    assert info.device.first.ip == "203.0.113.7"
