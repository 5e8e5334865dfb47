"""Hostile and oversized stored records, over real requests on both shells.

Each record is planted in a store and requested in a child process
(``tests/planted.py``), so that a worker crash fails the test instead of
killing pytest. A record that cannot be decoded within the codec's bounds is a
corrupt record: the request answers 200 with a fresh, empty session.
"""

from __future__ import annotations

import msgpack
import pytest

from sessionware import Session, SessionTooLarge
from sessionware.codec import MAX_DEPTH, MAX_RECORD_BYTES, encode
from sessionware.stores.base import Meta, StoredSession

from .planted import request_planted

SHELLS = ("asgi", "wsgi")


def deep_tuple(depth: int) -> bytes:
    """A tuple extension nesting ``depth`` deep, as the codec's format spells it."""
    data = msgpack.packb(msgpack.ExtType(1, msgpack.packb([])))
    for _ in range(depth):
        data = msgpack.packb(msgpack.ExtType(1, b"\x91" + data))  # a 1-item array of the last
    return data


HOSTILE = {
    "tuple-200-deep": deep_tuple(200),  # under 1 KB; a SIGSEGV in the worker before
    "tuple-2000-deep": deep_tuple(2000),
    "list-800-deep": b"\x91" * 799 + b"\x90",  # loaded, then every request answered 500
    "timestamp": msgpack.packb(msgpack.Timestamp(5, 0)),  # reached the handler
    "timestamp-in-list": msgpack.packb(["a", msgpack.Timestamp(5, 0)]),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_record_is_a_fresh_session_never_a_crash_or_a_500(name: str) -> None:
    record = {"x": HOSTILE[name], "n": encode("n", 1)}
    results = request_planted(record, ["/read", "/set/k/3", "/read"])
    for shell in SHELLS:
        assert results[shell] == [[200, {}], [200, ["k"]], [200, {"k": "str"}]], shell


def test_a_value_nested_too_deep_is_refused_at_the_assignment_over_http() -> None:
    results = request_planted({}, ["/nest/250", f"/nest/{MAX_DEPTH}", "/read"])
    for shell in SHELLS:
        assert results[shell] == [
            [400, "UnstorableValue"],
            [200, ["deep"]],
            [200, {"deep": "tuple"}],
        ], shell


def test_a_record_over_a_lowered_cap_loads_may_shrink_and_may_not_grow() -> None:
    big = {"a": encode("a", "x" * 40_000), "b": encode("b", "y" * 40_000)}  # 80 KB > 64 KB
    paths = ["/untouched", "/read", "/set/c/10", "/set/a/39000", "/del/b", "/set/c/10", "/read"]
    results = request_planted(big, paths, max_payload_bytes=65536)
    for shell in SHELLS:
        assert results[shell] == [
            [200, "untouched"],  # answered 500 on every request before, even untouched
            [200, {"a": "str", "b": "str"}],
            [400, "SessionTooLarge"],  # growing it is refused
            [200, ["a", "b"]],  # shrinking it is not
            [200, ["a"]],
            [200, ["a", "c"]],  # back under the cap: writes as usual
            [200, {"a": "str", "c": "str"}],
        ], shell


def test_in_place_growth_of_a_record_over_the_cap_is_refused() -> None:
    session = Session(max_payload_bytes=100)
    raw = {"items": encode("items", ["x" * 200])}
    now = 1.0
    session._fill(StoredSession(raw, Meta(now, now, now, None)))
    session["items"].append("y")
    with pytest.raises(SessionTooLarge):
        session._changes()


def test_a_record_over_the_hard_limit_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = Session()
    raw = {"a": b"\xc0", "huge": b"\xc0" * MAX_RECORD_BYTES}
    session._id = "some-id"
    session._fill(StoredSession(raw, Meta(1.0, 1.0, 1.0, None)))
    assert dict(session) == {} and session.id is None
    assert "over the" in caplog.text and "some-id" in caplog.text
