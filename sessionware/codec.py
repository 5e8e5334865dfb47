"""Session values to bytes and back, keeping their exact Python type (msgpack).

Storable: None, bool, int (any size), float, str, bytes, list, tuple, dict with
str keys, set, frozenset, datetime (naive or aware; the UTC offset is kept, a
zoneinfo zone becomes a fixed offset), date, time, timedelta, Decimal and UUID,
nested freely. Exactly these types: a subclass (an Enum, a NamedTuple, a
defaultdict) is refused rather than coming back as something else. Nothing is
ever pickled.

``encode`` raises :class:`UnstorableValue` (a TypeError); ``decode`` raises
:class:`CorruptRecord` (a ValueError) for bytes it did not produce.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgpack

from .errors import CorruptRecord, UnstorableValue

STORABLE = (
    "None, bool, int, float, str, bytes, list, tuple, dict (str keys), set, frozenset, "
    "datetime, date, time, timedelta, Decimal, UUID"
)

_TUPLE, _SET, _FROZENSET, _DATETIME, _DATE, _TIME, _TIMEDELTA, _DECIMAL, _UUID, _BIGINT = range(
    1, 11
)
_MARKUP = 11  # markupsafe.Markup: Flask's flash(Markup(...)), as Flask's own serializer keeps it

MARKUP: type[str] | None
try:
    from markupsafe import Markup as MARKUP
except ImportError:  # pragma: no cover - markupsafe comes with Flask and Jinja
    MARKUP = None
_CONTAINERS = (list, tuple, set, frozenset)
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
MAX_DEPTH = 500  # containers nested deeper are refused (msgpack's own limit is 511)


def _pack_default(value: Any) -> msgpack.ExtType:
    kind = type(value)
    if kind is tuple:
        return msgpack.ExtType(_TUPLE, _pack(list(value)))
    if kind is set or kind is frozenset:  # canonical order: iteration order varies by hash seed
        code = _SET if kind is set else _FROZENSET
        return msgpack.ExtType(code, _pack(sorted(value, key=_pack)))
    if kind is dt.datetime:
        return msgpack.ExtType(_DATETIME, value.isoformat().encode())
    if kind is dt.date:
        return msgpack.ExtType(_DATE, value.isoformat().encode())
    if kind is dt.time:
        return msgpack.ExtType(_TIME, value.isoformat().encode())
    if kind is dt.timedelta:
        return msgpack.ExtType(_TIMEDELTA, _pack([value.days, value.seconds, value.microseconds]))
    if kind is Decimal:
        return msgpack.ExtType(_DECIMAL, str(value).encode())
    if kind is uuid.UUID:
        return msgpack.ExtType(_UUID, value.bytes)
    if MARKUP is not None and kind is MARKUP:
        return msgpack.ExtType(_MARKUP, str(value).encode())
    if kind is int:  # only ints outside msgpack's 64-bit range reach here; any size (no str())
        return msgpack.ExtType(
            _BIGINT, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
        )
    raise _Unstorable(kind)


class _Unstorable(TypeError):
    def __init__(self, kind: type) -> None:
        super().__init__(kind.__qualname__)
        self.kind = kind


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(
        value, default=_pack_default, strict_types=True, use_bin_type=True
    )
    return packed


_EXT_DECODERS: dict[int, Callable[[bytes], Any]] = {
    _TUPLE: lambda data: tuple(_unpack(data)),
    _SET: lambda data: set(_unpack(data)),
    _FROZENSET: lambda data: frozenset(_unpack(data)),
    _DATETIME: lambda data: dt.datetime.fromisoformat(data.decode()),
    _DATE: lambda data: dt.date.fromisoformat(data.decode()),
    _TIME: lambda data: dt.time.fromisoformat(data.decode()),
    _TIMEDELTA: lambda data: dt.timedelta(*_unpack(data)),
    _DECIMAL: lambda data: Decimal(data.decode()),
    _UUID: lambda data: uuid.UUID(bytes=data),
    _BIGINT: lambda data: int.from_bytes(data, "big", signed=True),
}
if MARKUP is not None:
    _EXT_DECODERS[_MARKUP] = lambda data: MARKUP(data.decode())  # type: ignore[misc]


def _ext_hook(code: int, data: bytes) -> Any:
    decoder = _EXT_DECODERS.get(code)
    if decoder is None:
        raise CorruptRecord(f"unknown msgpack extension type {code}")
    return decoder(data)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=True)


def _check_keys(value: Any, key: str, depth: int = 0) -> None:
    """Refuse non-str dict keys anywhere inside ``value`` (msgpack would take them),
    and nesting deeper than msgpack packs (before Python's own recursion limit)."""
    if depth > MAX_DEPTH:
        raise UnstorableValue(
            f"session value for {key!r} is nested more than {MAX_DEPTH} levels deep; "
            f"store a flatter form of it",
            key=key,
            type_name=type(value).__qualname__,
        )
    kind = type(value)
    if kind is dict:
        for inner_key, inner in value.items():
            if type(inner_key) is not str:
                raise UnstorableValue(
                    f"session value for {key!r} holds a dict key of type "
                    f"{type(inner_key).__qualname__} ({inner_key!r}); session dicts need str "
                    f"keys: convert it, e.g. str({inner_key!r})",
                    key=key,
                    type_name=type(inner_key).__qualname__,
                )
            if type(inner) is dict or type(inner) in _CONTAINERS:
                _check_keys(inner, key, depth + 1)
    elif kind in _CONTAINERS:
        for inner in value:
            if type(inner) is dict or type(inner) in _CONTAINERS:
                _check_keys(inner, key, depth + 1)


def encode(key: str, value: Any) -> bytes:
    """Encode the value of session key ``key``.

    Raises :class:`UnstorableValue` naming the key and the offending type when
    the value (or anything nested in it) is not storable.
    """
    _check_keys(value, key)
    try:
        return _pack(value)
    except _Unstorable as exc:
        raise UnstorableValue(
            f"session value for {key!r} is (or contains) a value of type "
            f"{exc.kind.__qualname__}, which sessions cannot store; store a plain form "
            f"of it (its id, str() or a dict), "
            f"using one of: {STORABLE}",
            key=key,
            type_name=exc.kind.__qualname__,
        ) from None
    except (ValueError, OverflowError) as exc:  # e.g. nesting deeper than msgpack allows
        raise UnstorableValue(
            f"session value for {key!r} cannot be stored: {exc}",
            key=key,
            type_name=type(value).__qualname__,
        ) from exc


def decode(data: bytes) -> Any:
    """Decode bytes made by :func:`encode`; :class:`CorruptRecord` for anything else."""
    try:
        return _unpack(data)
    except CorruptRecord:
        raise
    except Exception as exc:  # msgpack raises many types for garbage input
        raise CorruptRecord(f"undecodable session value ({type(exc).__name__})") from exc


def check_key(key: object) -> str:
    """Return ``key`` if it can be a session key, else raise :class:`UnstorableValue`."""
    if type(key) is not str:
        raise UnstorableValue(
            f"session keys must be str, got {type(key).__qualname__} ({key!r}); "
            f"use str({key!r}) as the key",
            key=None,
            type_name=type(key).__qualname__,
        )
    try:
        key.encode()
    except UnicodeEncodeError:
        raise UnstorableValue(
            f"session key {key!r} is not valid UTF-8 (it holds a lone surrogate); "
            f"use a key made of real characters",
            key=None,
            type_name="str",
        ) from None
    return key
