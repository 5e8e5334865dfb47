"""User-Agent packing: exact round trips, a fixed format, and no trust in stored text."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import zlib

import pytest

from sessionware.devices import MAX_AGENT, Device, created, parse
from sessionware.user_agents import VERSION, WORDS, pack, unpack

AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "python-httpx/0.28.1",
    "Mozilla/5.0 (Ünïcödé; 日本語) Käse/1.0 🙂",
)


def test_every_agent_comes_back_exactly_and_a_browsers_is_short() -> None:
    rng = random.Random(7)
    noise = ["".join(rng.choices(string.printable[:95], k=n)) for n in (20, 150, MAX_AGENT)]
    # text that packs though it is no browser's: every kind of character, repeated
    odd = ["Mozilla/5.0 (Ünïcödé; 日本語) 🙂 " * 6, "a\x00b\ud800c\U0001f600d " * 20]
    packed_some = 0
    for agent in (*AGENTS, *noise, *odd):
        packed = pack(agent)
        if packed is None:  # kept as text: packing would not have made it shorter
            assert agent not in (*odd, *AGENTS[:6])
            continue
        packed_some += agent in odd
        assert len(packed) < len(agent)
        assert unpack(packed, MAX_AGENT) == agent
        assert json.dumps(packed) == f'"{packed}"'  # no escapes in a JSON record
    assert packed_some == len(odd)
    for agent in AGENTS[:6]:  # browsers: 70-135 characters as text
        packed = pack(agent)
        assert packed is not None and len(packed) <= 30, agent
    assert pack("") is None and pack("curl/8") is None


def test_the_format_is_fixed() -> None:
    """Records packed today must read for as long as they live: the dictionary and the
    version never change (a new dictionary takes a new version letter)."""
    assert VERSION == "1"
    digest = "bb2f1824f4353e2120c25eaf3bfb1225ba5628e99e7baf7fcea96ab04b4c2219"
    assert hashlib.sha256(WORDS).hexdigest() == digest
    assert unpack("1L$Qk%zB4q}GeP$u00", MAX_AGENT) == AGENTS[1]


def _packed_raw(text: bytes) -> str:
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, WORDS)
    return VERSION + base64.b85encode(deflate.compress(text) + deflate.flush()).decode()


def test_stored_text_that_is_not_a_packed_agent_is_refused() -> None:
    good = pack(AGENTS[0])
    assert good is not None
    bomb = _packed_raw(b"A" * 5_000_000)  # inflates far past any agent kept
    assert len(bomb) < 10_000
    bad: tuple[object, ...] = (
        None,
        7,
        ["1abc"],
        "",
        "1",
        "2" + good[1:],  # another version
        good[:-3],  # cut short
        good + "00000",  # more after the end
        "1~~~~~",  # not Base85
        "1" + base64.b85encode(b"\xff\xfe\xfd\xfc").decode(),  # not deflate
        _packed_raw(b"x" * (MAX_AGENT + 1)),  # longer than any kept
        _packed_raw(b"\xff\xfe"),  # not UTF-8
        bomb,
    )
    for text in bad:
        with pytest.raises(ValueError):
            unpack(text, MAX_AGENT)


def test_a_device_record_keeps_a_browser_packed_and_refuses_a_bad_one() -> None:
    laptop = Device(AGENTS[0], "198.51.100.4")
    record = created(laptop)
    assert '"uz":' in record and len(record) < 50  # 139 characters as text
    assert parse(record) is not None and parse(record).first == laptop  # type: ignore[union-attr]
    packed = json.loads(record)["uz"]
    for broken in (
        {"uz": packed[:-2], "ip": None},
        {"uz": packed, "ua": AGENTS[0], "ip": None},  # two user agents: which one?
        {"uz": 1, "ip": None},
        {"first": {"uz": "1", "ip": None}, "last": {"ip": None}},
    ):
        assert parse(json.dumps(broken)) is None, broken
