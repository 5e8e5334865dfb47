"""codec: exact-type round trips, clear refusals, garbage never crashes."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import OrderedDict, defaultdict
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgpack
import pytest

from sessionware import CorruptRecord, Session, SessionwareError, UnstorableValue, codec
from sessionware.codec import (
    MAX_CONTAINERS,
    MAX_DEPTH,
    MAX_RECORD_BYTES,
    check_key,
    decode,
    encode,
)

from .scenarios.spec import TYPED, _same


@pytest.mark.parametrize("name", sorted(TYPED))
def test_every_storable_type_round_trips_exactly(name: str) -> None:
    assert _same(decode(encode(name, TYPED[name])), TYPED[name])


@pytest.mark.parametrize(
    "value", [2**64 - 1, -(2**63), 2**64, -(2**63) - 1, 10**40, -(10**40), -(2**64)]
)
def test_ints_of_any_size(value: int) -> None:
    assert decode(encode("n", value)) == value


def test_aware_datetimes_keep_their_offset() -> None:
    value = dt.datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    back = decode(encode("t", value))
    assert back == value and back.utcoffset() == dt.timedelta(hours=2)


def test_nested_containers_keep_types() -> None:
    value = {"a": [(1, {2, 3}), frozenset({(4, 5)})], "b": {"c": (Decimal("1.5"),)}}
    assert _same(decode(encode("v", value)), value)


class Colour(enum.Enum):
    RED = 1


class Point(NamedTuple):
    x: int


class Role(str, enum.Enum):  # what Starlette's and Flask's JSON sessions store as "admin"
    ADMIN = "admin"


def test_an_enum_member_is_refused_with_the_way_to_store_it() -> None:
    for member in (Role.ADMIN, Colour.RED, [enum.IntFlag("Perm", "R W").R]):
        with pytest.raises(UnstorableValue, match=r"its \.value"):
            encode("role", member)
    assert decode(encode("role", Role.ADMIN.value)) == "admin"


def test_a_namedtuple_is_refused_with_its_plain_forms() -> None:
    with pytest.raises(UnstorableValue, match=r"value\._asdict\(\), or tuple\(value\)"):
        encode("point", Point(1))
    assert decode(encode("point", Point(1)._asdict())) == {"x": 1}


class Name(str):
    pass


def test_a_subclass_of_a_plain_type_is_refused_with_the_base_type_to_store() -> None:
    for value, plain in (
        (OrderedDict(a=1), "dict"),
        (defaultdict(list), "dict"),
        ([Name("ada")], "str"),
        ({"n": type("Count", (int,), {})(3)}, "int"),
    ):
        with pytest.raises(UnstorableValue, match=rf"a plain form of it \({plain}\(value\)\)"):
            encode("value", value)
    assert decode(encode("value", dict(OrderedDict(a=1)))) == {"a": 1}


@pytest.mark.parametrize(
    "value",
    [object(), Colour.RED, Point(1), defaultdict(list), OrderedDict(), [object()], {"x": {1: 2}}],
    ids=["object", "enum", "namedtuple", "defaultdict", "ordereddict", "nested", "int-key"],
)
def test_unstorable_values_raise_a_type_error_naming_key_and_type(value: Any) -> None:
    with pytest.raises(UnstorableValue) as caught:
        encode("cart", value)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, SessionwareError)
    assert "'cart'" in str(caught.value)
    assert caught.value.key == "cart"


def test_non_str_keys_are_refused() -> None:
    with pytest.raises(TypeError, match="session keys must be str"):
        check_key(1)


def test_a_key_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(UnstorableValue, match="lone surrogate"):
        check_key("\ud800")


def test_nesting_too_deep_is_a_type_error_not_a_recursion_error() -> None:
    deep: Any = []
    for _ in range(1100):
        deep = [deep]
    with pytest.raises(UnstorableValue, match="nested more than"):
        encode("doc", deep)
    shallow: Any = []
    for _ in range(400):
        shallow = {"a": [shallow]}
    with pytest.raises(UnstorableValue, match="nested more than"):
        encode("doc", shallow)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # never used byte
        b"\x92\x01",  # truncated array
        msgpack.packb(msgpack.ExtType(99, b"x")),  # unknown extension
        msgpack.packb(msgpack.ExtType(4, b"not a date")),  # bad datetime payload
        msgpack.packb({1: 2}),  # non-str map key
    ],
)
def test_garbage_raises_corrupt_record_never_anything_else(data: bytes) -> None:
    with pytest.raises(CorruptRecord):
        decode(data)


def test_no_pickle_anywhere() -> None:
    import pickle

    with pytest.raises(CorruptRecord):
        decode(pickle.dumps({"a": 1}))


def test_uuid_and_time_round_trip() -> None:
    u = uuid.uuid4()
    assert decode(encode("u", u)) == u
    t = dt.time(1, 2, 3, 4)
    assert decode(encode("t", t)) == t


# -- bounds: decoding is bounded and iterative, encoding refuses what decoding would -----


def _nested(kind: Any, depth: int) -> Any:
    value: Any = kind(())
    for _ in range(depth - 1):
        value = kind((value,))
    return value


@pytest.mark.parametrize("kind", [list, tuple, frozenset], ids=["list", "tuple", "frozenset"])
def test_encoding_refuses_at_the_assignment_exactly_the_depth_decoding_refuses(kind: Any) -> None:
    fits = _nested(kind, MAX_DEPTH)
    assert _same(decode(encode("doc", fits)), fits)
    for depth in (MAX_DEPTH + 1, 250, 450, 5000):  # 250 was stored; 450 raised RecursionError
        with pytest.raises(UnstorableValue, match="nested more than"):
            encode("doc", _nested(kind, depth))


def test_a_stored_list_nested_too_deep_is_corrupt_on_load() -> None:
    for depth in (MAX_DEPTH + 1, 600, 1000):
        with pytest.raises(CorruptRecord):
            decode(b"\x91" * (depth - 1) + b"\x90")
    assert decode(b"\x91" * (MAX_DEPTH - 1) + b"\x90") == _nested(list, MAX_DEPTH)


def test_a_stored_value_with_too_many_containers_is_corrupt() -> None:
    many = [[] for _ in range(MAX_CONTAINERS)]  # the outer list makes one too many
    with pytest.raises(UnstorableValue, match="containers"):
        encode("doc", many)
    with pytest.raises(CorruptRecord):
        decode(msgpack.packb(many))


def test_a_stored_value_over_the_record_limit_is_corrupt() -> None:
    with pytest.raises(CorruptRecord, match="bytes"):
        decode(msgpack.packb(b"x" * MAX_RECORD_BYTES))


def test_nested_frozensets_pack_each_element_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = codec._pack
    monkeypatch.setattr(codec, "_pack", lambda value: calls.append(1) or real(value))
    value = _nested(frozenset, 20)  # packed 2**20 times over before (15 s)
    assert decode(encode("f", value)) == value
    assert len(calls) < 3 * 20


def test_set_encoding_is_unchanged_for_records_already_stored() -> None:
    # the format before the linear encoding: the sorted packed items, as one array
    old = msgpack.packb(msgpack.ExtType(3, msgpack.packb([1, "a", "b"])), use_bin_type=True)
    assert decode(old) == frozenset({"a", "b", 1})
    assert encode("f", frozenset({"b", 1, "a"})) == old


@pytest.mark.parametrize(
    "value", [bytearray(b"ab"), memoryview(b"ab"), [bytearray(b"ab")], {"a": bytearray()}]
)
def test_bytearray_and_other_buffers_are_refused_not_turned_into_bytes(value: Any) -> None:
    with pytest.raises(UnstorableValue, match="cannot store"):
        encode("b", value)


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb(msgpack.Timestamp(5, 0)),
        msgpack.packb({"when": [msgpack.Timestamp(5, 0)]}),
        msgpack.packb(msgpack.ExtType(1, msgpack.packb([msgpack.Timestamp(5, 0)]))),
        msgpack.packb({b"bytes key": 1}, use_bin_type=True),
        msgpack.packb(msgpack.ExtType(1, msgpack.packb(5))),  # a tuple that is no array
        msgpack.packb(msgpack.ExtType(2, msgpack.packb([[1]]))),  # a set of a list
        msgpack.packb(msgpack.ExtType(5, msgpack.packb([1, 2]))),  # a timedelta of two
    ],
    ids=["timestamp", "nested-timestamp", "timestamp-in-tuple", "bytes-key", "tuple", "set", "td"],
)
def test_what_encode_never_makes_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptRecord):
        decode(data)


class _FailingZone(dt.tzinfo):
    """A tzinfo whose offset lookup fails (a zone database gone, a bug of its own)."""

    def utcoffset(self, when: Any) -> dt.timedelta:
        raise RuntimeError("zone database unavailable")

    def dst(self, when: Any) -> None:
        return None


class _TextZone(dt.tzinfo):
    def utcoffset(self, when: Any) -> Any:
        return "+01:00"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 1, tzinfo=_FailingZone()),
        [dt.datetime(2024, 1, 1, tzinfo=_FailingZone())],
        dt.datetime(2024, 1, 1, tzinfo=_TextZone()),
        dt.time(1, tzinfo=_FailingZone()),
    ],
    ids=["datetime", "nested", "text-offset", "time"],
)
def test_a_value_whose_own_code_fails_is_unstorable_at_the_assignment(value: Any) -> None:
    session = Session()
    session["kept"] = 1
    with pytest.raises(UnstorableValue, match="'when' cannot be stored") as caught:
        session["when"] = value
    assert caught.value.key == "when" and isinstance(caught.value, SessionwareError)
    assert dict(session) == {"kept": 1}
