"""Lifetimes: the units a session type counts in, and calendar arithmetic.

Seconds to weeks are fixed lengths. Months and years are calendar units, counted
in UTC from the moment the lifetime starts: 31 January + 1 month is the last day
of February (the 29th in a leap year), 29 February + 1 year is 28 February.
"""

from __future__ import annotations

import calendar
import datetime as dt

from ..errors import InvalidSessionType

PERIODS = ("seconds", "minutes", "hours", "days", "weeks", "months", "years")

_FIXED_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
_SPELLINGS = {
    "seconds": ("s", "sec", "secs", "second"),
    "minutes": ("min", "mins", "minute"),
    "hours": ("h", "hr", "hrs", "hour"),
    "days": ("d", "day"),
    "weeks": ("w", "wk", "wks", "week"),
    "months": ("mo", "mon", "mons", "mos", "month"),
    "years": ("y", "yr", "yrs", "year"),
}
_ALIASES = {alias: unit for unit, aliases in _SPELLINGS.items() for alias in (unit, *aliases)}
MAX_EXPIRY = 1_000_000  # a whole number of units; more is a typo


def parse_period(value: object) -> str:
    """The canonical unit name (``"months"``) for any spelling, in any case (``"Mons"``).

    Raises :class:`InvalidSessionType` (``field="period"``) for anything else.
    """
    unit = _ALIASES.get(value.strip().lower()) if isinstance(value, str) else None
    if unit is None:
        raise InvalidSessionType(
            f"period {value!r} is not a unit; use one of {', '.join(PERIODS)} "
            f"(or a short form such as secs, mins, hrs, mo, yr)",
            field="period",
        )
    return unit


def parse_expiry(value: object) -> int:
    """``value`` if it is a positive whole number (``3`` or ``3.0``); else InvalidSessionType."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_EXPIRY:
        raise InvalidSessionType(
            f"expiry must be a positive whole number of periods up to {MAX_EXPIRY}, got {value!r}",
            field="expiry",
        )
    return value


def add_period(start: float, expiry: int, period: str) -> float:
    """``start`` (epoch seconds) plus ``expiry`` ``period`` s, calendar-aware for months
    and years; epoch seconds. ``period`` must be canonical (see :func:`parse_period`)."""
    fixed = _FIXED_SECONDS.get(period)
    if fixed is not None:
        return start + expiry * fixed
    months = expiry * (12 if period == "years" else 1)
    moment = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day).timestamp()


def describe(expiry: int, period: str) -> str:
    """``"7 days"``, ``"1 hour"``: for messages and listings."""
    return f"{expiry} {period if expiry != 1 else period[:-1]}"
