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
from typing import TypeVar

import pytest

T = TypeVar("T")


class TooSlow(Exception):
    """The machine ran the scenario too slowly for its timing to prove anything."""


def excuse(since: float, limit: float, what: str) -> None:
    """Raise TooSlow when ``limit`` seconds or more passed since ``since``
    (a ``time.time()`` taken before the request that started the clock): the
    check that follows would fail for the machine's pace, not for the code's."""
    elapsed = time.time() - since
    if elapsed >= limit:
        raise TooSlow(f"{what}: {elapsed:.2f} s passed, the scenario needs under {limit} s")


@contextmanager
def window(since: float, limit: float, what: str) -> Iterator[None]:
    """Checks that hold only until ``limit`` seconds after ``since``: an
    AssertionError inside becomes TooSlow when that time had passed (see
    :func:`excuse`), and stays a failure when it had not."""
    try:
        yield
    except AssertionError as error:
        excuse(since, limit, what)
        raise error


def paced(scenario: Callable[[], T], attempts: int = 3) -> T:
    """Run ``scenario``, again while it raises TooSlow; fail after ``attempts``."""
    slow: list[str] = []
    for _ in range(attempts):
        try:
            return scenario()
        except TooSlow as error:
            slow.append(str(error))
    pytest.fail("the machine was too slow on every attempt: " + "; ".join(slow))


async def apaced(scenario: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """:func:`paced` for a coroutine function."""
    slow: list[str] = []
    for _ in range(attempts):
        try:
            return await scenario()
        except TooSlow as error:
            slow.append(str(error))
    pytest.fail("the machine was too slow on every attempt: " + "; ".join(slow))
