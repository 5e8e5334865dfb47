"""The packed meta record, read in Python: what a Redis load replies with.

``redis_scripts`` describes the form: a 54-byte header (version, flags, the four
times a load changes and the update time as doubles, then the size, largest
size and key count) and a body packing the other fields. Loads, and saves that
keep the user, email and device, rewrite only the header, so a session's body
stays the very same bytes from one request to the next: its parse is cached
(bounded, keyed by those bytes), and a load pays for the header alone.

Every check the Lua code makes of a record it unpacks, and those it leaves to
Python (whole numbers, real times, UTF-8), is made here, and one more: that the
header's flags, which a load goes by, agree with the body's status and sliding.
A malformed record raises ValueError, and the store treats it as no session.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache

from .base import ACTIVE, Meta

VERSION = 3
# VERSION, flags, HOT's four times and updated_at, COUNTS: see redis_scripts
HEADER = struct.Struct(">BBdddddIII")
_ACTIVE, _SLIDING, _LAST, _EXPIRES, _DEADLINE = 1, 2, 4, 8, 16  # flags; then the times present
_UPDATED = 64
_FLAGS_END = 128  # every flag is below it
_TIME, _SAME, _ABSENT, _LONG = 251, 252, 253, 254
# The body's fields, by their position in redis_scripts' FIELDS (1-based).
_COLD = (1, 6, 7, 8, 9, 13, 14, 15, 17)
_DOUBLE = struct.Struct(">d")
_YEAR_10000 = 253402300800.0
_MAX_LENGTH_DIGITS = 9


# created, sliding, app, user, email, status, ended, by, device
_Body = tuple[float, bool, str, str | None, str | None, str, float | None, str | None, str | None]


def meta_of(raw: bytes, *, cached: bool = True) -> Meta:
    """The :class:`Meta` of a packed record; ValueError if it is malformed.

    ``cached=False`` parses the body without the cache of bodies: a listing of
    thousands of sessions, each read once, would only push out the bodies that
    loads read again and again."""
    if len(raw) < HEADER.size:
        raise ValueError("meta record shorter than its header")
    version, flags, last, expires, deadline, _indexed, updated, size, most, count = (
        HEADER.unpack_from(raw)
    )
    if version != VERSION or flags >= _FLAGS_END or not flags & _LAST or not flags & _UPDATED:
        raise ValueError("meta record header malformed")
    body = raw[HEADER.size :]
    meta = assembled(
        _body(body) if cached else converted(_fields(body)),
        real_time(updated),
        real_time(last),
        real_time(expires) if flags & _EXPIRES else None,
        real_time(deadline) if flags & _DEADLINE else None,
        (size, most, count),
    )
    # the header's flags are what a load went by: they must say what the body says
    if bool(flags & _ACTIVE) != (meta.status == ACTIVE) or bool(flags & _SLIDING) != meta.sliding:
        raise ValueError("meta record header disagrees with its body")
    return meta


def assembled(
    body: _Body,
    updated: float,
    last: float,
    expires: float | None,
    deadline: float | None,
    counts: tuple[int, int, int],
) -> Meta:
    """The :class:`Meta` of a body's fields (``converted``) and the header's times and
    counts (size, largest size, key count)."""
    created, sliding, app, user, email, status, ended, by, device = body
    size, most, count = counts
    return Meta(
        created,
        updated,
        last,
        expires,
        deadline,
        sliding,
        app,
        user,
        email,
        size,
        most,
        count,
        status,
        ended,
        by,
        device,
    )


def real_time(value: float) -> float:
    """``value`` if it is a real time; ValueError for NaN, infinities, times before
    the epoch and from year 10000 on (which datetime cannot show)."""
    if not 0 <= value < _YEAR_10000:  # also False for NaN
        raise ValueError(f"timestamp out of range: {value!r}")
    return value


@lru_cache(maxsize=2048)
def _body(raw: bytes) -> _Body:
    """The body's fields, converted; ValueError if malformed."""
    return converted(_fields(raw))


def converted(values: Mapping[int, bytes | None]) -> _Body:
    """The body's fields of ``values`` (raw values by FIELDS position, 1-based),
    converted; ValueError or TypeError if one is malformed."""
    created, sliding, app, user, email, status, ended, by, device = (values.get(i) for i in _COLD)
    if created is None or status is None:
        raise ValueError("meta record without its creation time or its status")
    return (
        time_of(created),
        sliding != b"0",
        "default" if app is None else app.decode(),
        None if user is None else user.decode(),
        None if email is None else email.decode(),
        status.decode(),
        None if ended is None else time_of(ended),
        None if by is None else by.decode(),
        None if device is None else device.decode(),
    )


def time_of(raw: bytes) -> float:
    """A time field's text; ValueError unless it is a real time (``real_time``)."""
    return real_time(float(raw))


def whole(raw: bytes | None) -> int:
    """A size or count field (0 when absent); ValueError unless it is decimal digits
    (``int`` would also take signs, spaces and underscores)."""
    if raw is None:
        return 0
    if not raw.isdigit():
        raise ValueError("meta record with a size or count that is no whole number")
    return int(raw)


def _fields(raw: bytes) -> dict[int, bytes | None]:
    """The body's raw values by FIELDS position (as ``body`` in redis_scripts reads
    them; a TIME as the text of its double)."""
    values: dict[int, bytes | None] = {}
    pos, size = 0, len(raw)
    for i in _COLD:
        if pos >= size:
            values[i] = None
            continue
        b = raw[pos]
        if b == _ABSENT:
            values[i], pos = None, pos + 1
        elif b == _TIME:
            if pos + 8 >= size:
                raise ValueError("meta record ends inside a time")
            (t,) = _DOUBLE.unpack_from(raw, pos + 1)
            values[i], pos = repr(t).encode(), pos + 9
        elif b == _SAME:
            j = raw[pos + 1] if pos + 1 < size else None
            earlier = values.get(j) if j is not None and j < i else None
            if earlier is None:
                raise ValueError("meta record refers to a field it does not hold")
            values[i], pos = earlier, pos + 2
        else:
            start, n = pos + 1, b
            if b == _LONG:
                colon = raw.find(b":", start)
                digits = raw[start:colon]
                if colon < 0 or len(digits) > _MAX_LENGTH_DIGITS or not digits.isdigit():
                    raise ValueError("meta record with a malformed length")
                start, n = colon + 1, int(digits)
            elif b > _LONG:
                raise ValueError("meta record with a reserved byte")
            if start + n > size:
                raise ValueError("meta record with a length past its end")
            values[i], pos = raw[start : start + n], start + n
    return values
