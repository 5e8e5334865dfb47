"""Durations as operators type them: ``90s``, ``15m``, ``2h``, ``7d``, ``2w``, ``6mo``, ``1y``."""

from __future__ import annotations

import datetime as dt
import re

from ..errors import ConfigurationError
from ..stores.base import MAX_DURATION_SECONDS

UNLIMITED = "unlimited"
_UNITS = {  # seconds per unit; a month is 30 days and a year 365, as calendars vary
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_PATTERN = re.compile(r"(\d+)(mo|[smhdwy])")


def parse_duration(text: str) -> dt.timedelta | None:
    """``text`` as a timedelta of up to 100 years; ``None`` for ``unlimited``.
    ConfigurationError otherwise."""
    text = text.strip().lower()
    if text == UNLIMITED:
        return None
    match = _PATTERN.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ConfigurationError(
            f"invalid duration {text!r}: a positive whole number and a unit, one of "
            f"{', '.join(_UNITS)} (90s, 15m, 2h, 7d, 2w, 6mo, 1y), or {UNLIMITED!r}"
        )
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds > MAX_DURATION_SECONDS:  # checked here so the message speaks in durations
        raise ConfigurationError(
            f"{text} is more than 100 years: give at most 100y, or 36525d, "
            f"or {UNLIMITED!r} for a session that never expires"
        )
    return dt.timedelta(seconds=seconds)
