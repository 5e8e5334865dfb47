"""Timed scenarios on a shared, busy machine.

A test of a timeout sleeps, then expects a session to be alive (or gone). "Alive"
is only proved when the requests in between ran within the timeout: on a 2-core CI
machine running three test workers, a browser and throwaway servers, a request can
stall for most of a second, and then the session has really expired: the store was
right and the test was wrong.

So a scenario measures its own pace. When a "still alive" check fails, it asks
:func:`excuse` whether the time that really passed allowed the session to end; if
so the attempt proves nothing and :func:`paced` runs the scenario again. When the
pace was kept, the assertion stands, and a slow machine never hides a real failure:
after ``attempts`` slow tries the test fails, saying how slow each one was.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import pytest

T = TypeVar("T")
_UNSAID = object()  # excuse() was not told what the check found


class TooSlow(Exception):
    """The machine ran the scenario too slowly for its timing to prove anything."""


def excuse(
    since: float, limit: float, what: str, seen: object = _UNSAID, until: float | None = None
) -> None:
    """Raise TooSlow when ``limit`` seconds or more passed from ``since`` (a
    ``time.time()`` taken before the request that started the clock) to ``until``
    (now, by default): the check that follows would fail for the machine's pace,
    not for the code's. ``seen``, what the check found, goes into the message."""
    elapsed = (time.time() if until is None else until) - since
    if elapsed >= limit:
        found = "" if seen is _UNSAID else f" (found {seen!r})"
        raise TooSlow(f"{what}: {elapsed:.2f} s passed, the scenario needs under {limit} s{found}")


@contextmanager
def window(since: float, limit: float, what: str) -> Iterator[None]:
    """Checks that hold only until ``limit`` seconds after ``since``: an
    AssertionError inside becomes TooSlow when that time had passed (see
    :func:`excuse`), and stays a failure when it had not."""
    try:
        yield
    except AssertionError as error:
        excuse(since, limit, what, seen=error)
        raise error


def paced(scenario: Callable[[], T], attempts: int = 3) -> T:
    """Run ``scenario``, again while it raises TooSlow; fail after ``attempts``."""
    slow: list[str] = []
    for _ in range(attempts):
        try:
            return scenario()
        except TooSlow as error:
            slow.append(str(error))
    _give_up(slow)


async def apaced(scenario: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """:func:`paced` for a coroutine function."""
    slow: list[str] = []
    for _ in range(attempts):
        try:
            return await scenario()
        except TooSlow as error:
            slow.append(str(error))
    _give_up(slow)


def _give_up(slow: list[str]) -> NoReturn:
    pytest.fail("the machine was too slow on every attempt: " + "; ".join(slow))
