"""The device a session was created on and last used from, kept as session metadata.

Pure functions, no I/O. The shells give the core the request's peer address,
``User-Agent`` and ``X-Forwarded-For``; :func:`client_ip` believes a forwarded
address only when the peer is one of the configured trusted proxies (anyone
can send the header). The record lives in ``Meta.device`` as compact JSON
text, never in the payload. A session used from one device only (most of them)
keeps it once:

    {"ua": "...", "ip": "..."}

and one used from another device keeps both, the last one's user agent left out
when it is the first one's (a new address, the same browser):

    {"first": {"ua": "...", "ip": "..."}, "last": {"ua": "...", "ip": "..."}}
    {"first": {"ua": "...", "ip": "..."}, "last": {"ip": "..."}}

A user agent that packs shorter (``user_agents.pack``: a browser's always does)
is kept packed, as ``"uz"`` in place of ``"ua"``. (Records written before the
compact forms always had both user agents in full, and before packing every one
as text; they read the same.) First and last seen are the session's
``created_at`` and ``last_activity_at``.
A store only keeps the string; :func:`parse` reads it back and tolerates
anything (a malformed record reads as no record).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import user_agents
from .bounded import Bounded
from .transport import Network

MAX_AGENT = 300  # characters of User-Agent kept: enough to read, bounded in size


@dataclass(frozen=True, slots=True)
class Device:
    """One device: its user agent (truncated) and IP address (``None`` if unknown)."""

    user_agent: str
    ip: str | None

    @property
    def label(self) -> str:
        """A short readable form: ``"Firefox on Linux"``, ``"Safari on iOS"``."""
        browser, system = browser_and_os(self.user_agent)
        return f"{browser} on {system}"


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """Where a session was created (``first``) and last used (``last``)."""

    first: Device
    last: Device


def client_ip(
    peer: str | None,
    forwarded_for: str | None,
    trusted: tuple[Network, ...],
) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    if peer is None or not forwarded_for or not _within(peer, trusted):
        return peer
    for candidate in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _is_ip(candidate):
            return peer  # a garbled chain: trust none of it
        if not _within(candidate, trusted):
            return candidate
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def current(user_agent: str | None, ip: str | None) -> Device:
    """The request's device, its user agent bounded and stripped of control characters."""
    agent = (user_agent or "")[:MAX_AGENT]
    if not agent.isprintable():  # rare: only then pay for the character-by-character pass
        agent = "".join(ch for ch in agent if ch.isprintable())
    return Device(agent, ip)


KNOWN_DEVICES = 1024  # devices a middleware remembers, by peer and headers


def remembered(
    known: Bounded[tuple[Any, ...], Device | None],
    key: tuple[Any, ...],
    make: Callable[[], Device | None],
) -> Device | None:
    """``known[key]``, made by ``make()`` (and remembered) the first time: a Device is
    immutable, so requests from the same peer with the same headers share one. Bounded
    (:data:`KNOWN_DEVICES`, oldest out first)."""
    device = known.get(key)
    if device is None:
        device = make()
        known.remember(key, device)
    return device


def encode(record: DeviceRecord) -> str:
    """``record`` as the JSON text stores keep: each user agent once, packed where
    that is shorter (see above)."""
    first = _fields(record.first, agent=True)
    if record.last == record.first:
        raw: object = first
    else:
        last = _fields(record.last, agent=record.last.user_agent != record.first.user_agent)
        raw = {"first": first, "last": last}
    return json.dumps(raw, separators=(",", ":"))


def _fields(device: Device, *, agent: bool) -> dict[str, str | None]:
    """One device's JSON fields; its user agent only if ``agent``."""
    if not agent:
        return {"ip": device.ip}
    packed = user_agents.pack(device.user_agent)
    if packed is None:
        return {"ua": device.user_agent, "ip": device.ip}
    return {"uz": packed, "ip": device.ip}


def parse(text: str | None) -> DeviceRecord | None:
    """A stored record, ``None`` when absent or malformed."""
    if not text:
        return None
    return _parse(text)


@functools.lru_cache(maxsize=4096)  # every request of a session compares the same record
def _parse(text: str) -> DeviceRecord | None:
    try:
        raw = json.loads(text)
        if "first" not in raw:  # one device, kept once
            device = _device(raw, None)
            return DeviceRecord(device, device)
        first = _device(raw["first"], None)
        return DeviceRecord(first, _device(raw["last"], first.user_agent))
    except (ValueError, TypeError, KeyError, RecursionError):  # (nesting planted deep)
        return None


def _device(raw: dict[str, object], user_agent: str | None) -> Device:
    """One device of a record; ``user_agent``: the one to assume when it has none.
    KeyError, TypeError or ValueError when malformed."""
    if not isinstance(raw, dict):
        raise TypeError("a device is a JSON object")
    agent: object
    if "uz" in raw:
        if "ua" in raw:
            raise ValueError("a device with two user agents")
        agent = user_agents.unpack(raw["uz"], MAX_AGENT)
    else:
        agent = raw["ua"] if user_agent is None or "ua" in raw else user_agent
    ip = raw["ip"]
    return Device(str(agent), None if ip is None else str(ip))


@functools.lru_cache(maxsize=KNOWN_DEVICES)  # a device is immutable: its record is too
def created(device: Device) -> str:
    """The record of a session created on ``device``."""
    return encode(DeviceRecord(device, device))


def used(stored: str | None, device: Device) -> str | None:
    """The record after a request from ``device``; ``None`` when nothing changed
    (so a request from the same device writes nothing)."""
    record = parse(stored)
    if record is None:
        return created(device)
    if record.last == device:
        return None
    return encode(DeviceRecord(record.first, device))


_BROWSERS = (  # order matters: Edge and Opera also say Chrome, Chrome also says Safari
    ("Edge", r"Edg(?:e|A|iOS)?/"),
    ("Opera", r"OPR/|Opera"),
    ("Samsung Internet", r"SamsungBrowser/"),
    ("Firefox", r"Firefox/|FxiOS/"),
    ("Chrome", r"Chrome/|CriOS/|Chromium/"),
    ("Safari", r"Safari/"),
    ("curl", r"^curl/"),
    ("Python", r"python-requests|python-httpx|aiohttp|Python-urllib"),
)
_SYSTEMS = (
    ("iOS", r"iPhone|iPad|iPod"),
    ("Android", r"Android"),
    ("ChromeOS", r"CrOS"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("Linux", r"Linux|X11"),
)


def browser_and_os(user_agent: str) -> tuple[str, str]:
    """A user agent's browser and operating system, ``"Unknown"`` where not recognised."""
    browser = next((n for n, p in _BROWSERS if re.search(p, user_agent)), "Unknown browser")
    system = next((n for n, p in _SYSTEMS if re.search(p, user_agent)), "unknown OS")
    return browser, system
