"""Lifetime units and calendar arithmetic (months at month ends, leap years)."""

from __future__ import annotations

import datetime as dt

import pytest

from sessionware import InvalidSessionType, SessionType
from sessionware.session_types.period import add_period, parse_expiry, parse_period


def at(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("spelling", "unit"),
    [
        ("secs", "seconds"),
        ("S", "seconds"),
        ("Second", "seconds"),
        ("mins", "minutes"),
        ("MINUTE", "minutes"),
        ("hrs", "hours"),
        ("Hours", "hours"),
        ("d", "days"),
        ("Days", "days"),
        ("wk", "weeks"),
        ("weeks", "weeks"),
        ("Months", "months"),
        ("mo", "months"),
        ("year", "years"),
        ("YRS", "years"),
        (" days ", "days"),
    ],
)
def test_every_spelling_in_any_case(spelling: str, unit: str) -> None:
    assert parse_period(spelling) == unit


@pytest.mark.parametrize("bad", ["fortnights", "", "m", 7, None])
def test_unknown_units_are_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidSessionType) as caught:
        parse_period(bad)
    assert caught.value.field == "period"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "7", None])
def test_expiry_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(InvalidSessionType) as caught:
        parse_expiry(bad)
    assert caught.value.field == "expiry"
    assert parse_expiry(7) == 7 and parse_expiry(7.0) == 7


@pytest.mark.parametrize(
    ("start", "expiry", "period", "end"),
    [
        (at(2025, 1, 31, 10, 30), 1, "months", at(2025, 2, 28, 10, 30)),
        (at(2024, 1, 31, 10, 30), 1, "months", at(2024, 2, 29, 10, 30)),  # leap year
        (at(2025, 3, 31), 1, "months", at(2025, 4, 30)),
        (at(2025, 1, 31), 2, "months", at(2025, 3, 31)),
        (at(2025, 11, 30), 3, "months", at(2026, 2, 28)),  # across a year end
        (at(2025, 12, 15), 1, "months", at(2026, 1, 15)),
        (at(2024, 2, 29), 1, "years", at(2025, 2, 28)),
        (at(2024, 2, 29), 4, "years", at(2028, 2, 29)),
        (at(2023, 3, 1), 1, "years", at(2024, 3, 1)),
        (at(2025, 1, 1), 90, "seconds", at(2025, 1, 1, 0, 1, 30)),
        (at(2025, 1, 1), 2, "weeks", at(2025, 1, 15)),
        (at(2024, 2, 28), 1, "days", at(2024, 2, 29)),
    ],
)
def test_calendar_arithmetic(start: float, expiry: int, period: str, end: float) -> None:
    assert add_period(start, expiry, period) == pytest.approx(end, abs=1e-3)


def test_a_session_type_counts_its_lifetime_from_the_start() -> None:
    monthly = SessionType(name="Billing", expiry=1, period="Months")
    assert monthly.expires_at(at(2025, 1, 31, 23, 59)) == pytest.approx(at(2025, 2, 28, 23, 59))
    hourly = SessionType(name="Checkout", expiry=1, period="hour")
    assert hourly.expires_at(1000.0) == 4600.0
    assert hourly.lifetime == "1 hour"


def test_a_lifetime_over_a_century_is_refused() -> None:
    with pytest.raises(InvalidSessionType) as caught:
        SessionType(name="Forever", expiry=500, period="years")
    assert caught.value.field == "expiry"
