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

from sessionware import CorruptRecord, SessionwareError, UnstorableValue
from sessionware.codec import check_key, decode, encode

from .scenarios.spec import TYPED, _same


@pytest.mark.parametrize("name", sorted(TYPED))
def test_every_storable_type_round_trips_exactly(name: str) -> None:
    assert _same(decode(encode(name, TYPED[name])), TYPED[name])


@pytest.mark.parametrize(
    "value", [2**64 - 1, -(2**63), 2**64, -(2**63) - 1, 10**40, -(10**40), -(2**64)]
)
def test_ints_of_any_size(value: int) -> None:
    assert decode(encode("n", value)) == value


def test_ints_beyond_the_str_conversion_limit() -> None:
    for value in (10**5000, -(10**5000)):  # str() refuses over 4300 digits (Python 3.11+)
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
