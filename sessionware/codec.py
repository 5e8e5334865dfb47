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
import enum
import math
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgpack

from .bounded import Bounded
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
# Bounds that decoding enforces and encoding therefore refuses at the assignment:
MAX_DEPTH = 100  # containers (list, tuple, set, frozenset, dict) nested in each other
MAX_CONTAINERS = 100_000  # containers in one session value, nested ones included
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a stored record (so any value) over this is corrupt
# A session key, user id or email is indexed by the stores; PostgreSQL's btree
# refuses an index row over 2,704 bytes, so every store refuses these past this cap:
MAX_KEY_BYTES = 1024  # UTF-8 bytes

_ARRAY_HEADER = msgpack.Packer().pack_array_header


def _pack_default(value: Any) -> msgpack.ExtType:
    kind = type(value)
    if kind is tuple:
        return msgpack.ExtType(_TUPLE, _pack(list(value)))
    if kind is set or kind is frozenset:  # canonical order: iteration order varies by hash seed
        # each element is packed once, and its bytes are both the sort key and the
        # payload: packing again per level made nested frozensets exponential
        items = sorted(map(_pack, value))
        payload = _ARRAY_HEADER(len(items)) + b"".join(items)
        return msgpack.ExtType(_SET if kind is set else _FROZENSET, payload)
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
        if not decimal_fits(value):
            raise _NoDecimalText(value.bit_length())
        return msgpack.ExtType(
            _BIGINT, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
        )
    raise _Unstorable(kind)


class _Unstorable(TypeError):
    def __init__(self, kind: type) -> None:
        super().__init__(kind.__qualname__)
        self.kind = kind


class _NoDecimalText(ValueError):
    def __init__(self, bits: int) -> None:
        super().__init__(bits)
        self.bits = bits


_LOG10_2 = math.log10(2)


def _max_str_digits() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)  # Python 3.10.7 and later
    return int(get()) if get is not None else 0


def decimal_fits(value: int) -> bool:
    """Whether Python can write ``value`` as decimal text (``str``, ``json.dumps``):
    not when it has more digits than ``sys.get_int_max_str_digits()``. Cheap: bounds
    from the bit length, ``str`` only within a digit or two of the limit."""
    limit = _max_str_digits()
    bits = value.bit_length()
    if not limit or bits <= 64:
        return True
    if int((bits - 1) * _LOG10_2) > limit:  # it has at least this many digits and one more
        return False
    if int(bits * _LOG10_2) + 2 <= limit:  # it has at most this many digits
        return True
    try:
        str(value)
    except ValueError:
        return False
    return True


def _pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(
        value, default=_pack_default, strict_types=True, use_bin_type=True
    )
    return packed


# Extensions holding other session values: the hook only defers them, and
# ``_build`` decodes their payloads iteratively, so no stored nesting can recurse
# through msgpack's C unpacker and the hook (which blew the C stack at ~200 levels).
_NESTING: dict[int, Callable[[list[Any]], Any]] = {
    _TUPLE: tuple,
    _SET: set,
    _FROZENSET: frozenset,
}
_EXT_DECODERS: dict[int, Callable[[bytes], Any]] = {
    _DATETIME: lambda data: dt.datetime.fromisoformat(data.decode()),
    _DATE: lambda data: dt.date.fromisoformat(data.decode()),
    _TIME: lambda data: dt.time.fromisoformat(data.decode()),
    _TIMEDELTA: lambda data: dt.timedelta(*_checked_ints(msgpack.unpackb(data))),
    _DECIMAL: lambda data: Decimal(data.decode()),
    _UUID: lambda data: uuid.UUID(bytes=data),
    _BIGINT: lambda data: int.from_bytes(data, "big", signed=True),
}
if MARKUP is not None:
    _EXT_DECODERS[_MARKUP] = lambda data: MARKUP(data.decode())  # type: ignore[misc]

# What msgpack itself hands back; anything else (a msgpack.Timestamp, an ExtType) is corrupt.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes})
_STORABLE_SCALARS = _PLAIN | {dt.datetime, dt.date, dt.time, dt.timedelta, Decimal, uuid.UUID}
if MARKUP is not None:
    _STORABLE_SCALARS |= {MARKUP}


def _checked_ints(values: Any) -> list[int]:
    if type(values) is not list or len(values) != 3 or any(type(v) is not int for v in values):
        raise CorruptRecord("a timedelta extension that is not three ints")
    return values


class _Deferred:
    """A container extension met by the unpacker, decoded later by :func:`_build`."""

    __slots__ = ("code", "data")

    def __init__(self, code: int, data: bytes) -> None:
        self.code, self.data = code, data


def _ext_hook(code: int, data: bytes) -> Any:
    if code in _NESTING:
        return _Deferred(code, data)
    decoder = _EXT_DECODERS.get(code)
    if decoder is None:
        raise CorruptRecord(f"unknown msgpack extension type {code}")
    return decoder(data)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=True)


def _build(data: bytes) -> Any:
    """Decode ``data`` with an explicit stack: bounded depth and count, exact types.

    Containers are filled in place, children first; a deferred tuple or set is
    made once its items are done (it may hold only finished, hashable values).
    """
    root = [_unpack(data)]
    kind = type(root[0])
    if kind in _STORABLE_SCALARS:
        return root[0]
    if _flat(root[0]):  # (the usual): one container, nothing to walk
        return root[0]
    count = 0
    # (holder, index, depth): check holder[index], schedule its containers; and
    # (holder, index, kind, items): holder[index] = kind(items), its items done
    todo: list[tuple[Any, ...]] = [(root, 0, 0)]
    while todo:
        step = todo.pop()
        if len(step) == 4:
            holder, index, kind, items = step
            holder[index] = kind(items)
            continue
        holder, index, depth = step
        value = holder[index]
        kind = type(value)
        count += 1
        if depth >= MAX_DEPTH or count > MAX_CONTAINERS:
            raise CorruptRecord(
                f"a stored value nested over {MAX_DEPTH} deep or with over "
                f"{MAX_CONTAINERS} containers"
            )
        if kind is _Deferred:
            items = _unpack(value.data)
            if type(items) is not list:
                raise CorruptRecord(f"extension {value.code} does not hold an array")
            todo.append((holder, index, _NESTING[value.code], items))
            value = items
        elif kind is dict:
            if any(type(key) is not str for key in value):
                raise CorruptRecord("a stored dict with a key that is not a str")
            todo.extend(
                (value, key, depth + 1)
                for key, inner in value.items()
                if type(inner) not in _STORABLE_SCALARS
            )
            continue
        elif kind is not list:
            raise CorruptRecord(f"a stored value of type {kind.__qualname__}")
        todo.extend(
            (value, i, depth + 1)
            for i, inner in enumerate(value)
            if type(inner) not in _STORABLE_SCALARS
        )
    return root[0]


def _check(value: Any, key: str) -> None:
    """Refuse, iteratively, anything :func:`decode` would refuse: types that are
    not storable exactly (a subclass, a bytearray), non-str dict keys, nesting
    over :data:`MAX_DEPTH` and more than :data:`MAX_CONTAINERS` containers."""
    count = 0
    todo = [(value, 0)]
    while todo:
        value, depth = todo.pop()
        kind = type(value)
        if kind in _STORABLE_SCALARS:
            continue
        count += 1
        if depth >= MAX_DEPTH:
            raise UnstorableValue(
                f"session value for {key!r} is nested more than {MAX_DEPTH} levels deep; "
                f"store a flatter form of it",
                key=key,
                type_name=kind.__qualname__,
            )
        if count > MAX_CONTAINERS:
            raise UnstorableValue(
                f"session value for {key!r} holds more than {MAX_CONTAINERS} containers; "
                f"keep large data elsewhere and store its id",
                key=key,
                type_name=kind.__qualname__,
            )
        if kind is dict:
            for inner_key in value:
                if type(inner_key) is not str:
                    raise UnstorableValue(
                        f"session value for {key!r} holds a dict key of type "
                        f"{type(inner_key).__qualname__} ({inner_key!r}); session dicts need "
                        f"str keys: convert it, e.g. str({inner_key!r})",
                        key=key,
                        type_name=type(inner_key).__qualname__,
                    )
            todo.extend((inner, depth + 1) for inner in value.values())
        elif kind in _CONTAINERS:
            todo.extend((inner, depth + 1) for inner in value)
        else:
            raise _unstorable(key, kind)


# a subclass of one of these is stored as the base type made from it
_PLAIN_BASES: tuple[type, ...] = (dict, list, tuple, set, frozenset, str, bytes, int, float)


def _unstorable(key: str, kind: type) -> UnstorableValue:
    if kind is bytearray:
        hint = "bytes(value)"
    elif issubclass(kind, enum.Enum):  # Starlette's and Flask's JSON keep a str/int one's value
        hint = "its .value, and the member back with its Enum class on reading"
    elif issubclass(kind, tuple) and hasattr(kind, "_asdict"):  # a namedtuple
        hint = "value._asdict(), or tuple(value)"
    elif base := next((b for b in _PLAIN_BASES if issubclass(kind, b)), None):
        hint = f"{base.__name__}(value)"  # an OrderedDict, a defaultdict, a str subclass
    else:
        hint = "its id, str() or a dict"
    return UnstorableValue(
        f"session value for {key!r} is (or contains) a value of type "
        f"{kind.__qualname__}, which sessions cannot store; store a plain form "
        f"of it ({hint}), using one of: {STORABLE}",
        key=key,
        type_name=kind.__qualname__,
    )


def encode(key: str, value: Any) -> bytes:
    """Encode the value of session key ``key``.

    Raises :class:`UnstorableValue` naming the key and the offending type when
    the value (or anything nested in it) is not storable.
    """
    _check(value, key)
    try:
        packed = _pack(value)
    except _Unstorable as exc:
        raise _unstorable(key, exc.kind) from None
    except _NoDecimalText as exc:
        raise UnstorableValue(
            f"session value for {key!r} holds an int of {exc.bits} bits, over the "
            f"{_max_str_digits()} decimal digits Python writes as text "
            f"(sys.get_int_max_str_digits()), so no export, console or user index could "
            f"show it; store it as a str (hex(value)) or bytes",
            key=key,
            type_name="int",
        ) from None
    except (ValueError, OverflowError) as exc:
        raise UnstorableValue(
            f"session value for {key!r} cannot be stored: {exc}",
            key=key,
            type_name=type(value).__qualname__,
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # code of the value's own: a tzinfo whose utcoffset() fails
        raise UnstorableValue(
            f"session value for {key!r} cannot be stored: writing it raised "
            f"{type(exc).__name__}: {exc} (a datetime or time whose tzinfo fails, say: "
            "use datetime.timezone or zoneinfo.ZoneInfo)",
            key=key,
            type_name=type(value).__qualname__,
        ) from exc
    if len(packed) > MAX_RECORD_BYTES:
        raise UnstorableValue(
            f"session value for {key!r} encodes to {len(packed)} bytes, over the "
            f"{MAX_RECORD_BYTES} a value may have; keep large data elsewhere and store its id",
            key=key,
            type_name=type(value).__qualname__,
        )
    return packed


def decode(data: bytes) -> Any:
    """Decode bytes made by :func:`encode`; :class:`CorruptRecord` for anything else.

    Bounded: over :data:`MAX_RECORD_BYTES`, :data:`MAX_DEPTH` or
    :data:`MAX_CONTAINERS` is corrupt, and no nesting recurses in C or Python.
    Every call returns containers of its own (a caller may change them in place).
    """
    seen = type(data) is bytes and len(data) <= _SEEN_BYTES
    if seen:
        known = _SEEN.get(data, _MISSING)
        if known is not _MISSING:
            return known.copy() if type(known) in _FLAT else known
    if len(data) > MAX_RECORD_BYTES:
        raise CorruptRecord(f"a stored value of {len(data)} bytes, over {MAX_RECORD_BYTES}")
    try:
        value = _build(data)
    except CorruptRecord:
        raise
    except Exception as exc:  # msgpack raises many types for garbage input
        raise CorruptRecord(f"undecodable session value ({type(exc).__name__})") from exc
    if seen and (type(value) in _STORABLE_SCALARS or _flat(value)):
        # a scalar is immutable: one object may go to every session that loads these
        # bytes; a flat list or dict is kept aside and each caller gets a shallow copy
        _SEEN.remember(data, value.copy() if type(value) in _FLAT else value)
    return value


def _flat(value: Any) -> bool:
    """A list, or a dict with str keys, holding only immutable scalars: a shallow copy
    of it is a whole new value."""
    kind = type(value)
    if kind is list:
        return all(type(item) in _STORABLE_SCALARS for item in value)
    return kind is dict and all(
        type(key) is str and type(item) in _STORABLE_SCALARS for key, item in value.items()
    )


_MISSING = object()
_FLAT = (list, dict)
# Values decoded lately, by their bytes (each up to _SEEN_BYTES, the newest _SEEN_SIZE
# of them): a scalar (a user id, a flag) or a flat list or dict (a dict of preferences),
# so that a repeat load costs a lookup (and a shallow copy), not a decode.
_SEEN_SIZE = 4096
_SEEN: Bounded[bytes, Any] = Bounded(_SEEN_SIZE)
_SEEN_BYTES = 256


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
        size = len(key.encode())
    except UnicodeEncodeError:
        raise UnstorableValue(
            f"session key {key!r} is not valid UTF-8 (it holds a lone surrogate); "
            f"use a key made of real characters",
            key=None,
            type_name="str",
        ) from None
    if "\x00" in key:  # PostgreSQL text cannot hold it: refused in every store alike
        raise UnstorableValue(
            f"session key {key!r} holds a NUL character ('\\x00'), which session stores "
            f"cannot keep in a key; use a key without it",
            key=None,
            type_name="str",
        )
    if size > MAX_KEY_BYTES:  # PostgreSQL cannot index it: refused in every store alike
        raise UnstorableValue(
            f"session key {key[:40]!r}... is {size} bytes of UTF-8, over the "
            f"{MAX_KEY_BYTES} a session key may have; use a shorter key (keep long "
            f"text in the value)",
            key=None,
            type_name="str",
        )
    return key


def check_indexable(name: str, text: str | None, key: str | None) -> None:
    """Refuse a user id or email the stores cannot index: one holding NUL, which
    PostgreSQL's text cannot, or over :data:`MAX_KEY_BYTES` of UTF-8, which its
    index cannot (the same on every store, so that an app tried on SQLite does not
    fail only in production). UnstorableValue names ``key``."""
    if text is None:
        return
    if "\x00" in text:
        raise UnstorableValue(
            f"the session's {name} {text!r} holds a NUL character ('\\x00'), which "
            f"session stores cannot index; remove it from the value before storing it",
            key=key,
            type_name="str",
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY_BYTES:
        raise UnstorableValue(
            f"the session's {name} {text[:40]!r}... is {size} bytes of UTF-8, over the "
            f"{MAX_KEY_BYTES} session stores index; store a shorter id (e.g. a database "
            f"id or a hash of it)",
            key=key,
            type_name="str",
        )
