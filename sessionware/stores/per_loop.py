"""One connection object per asyncio event loop, closed when its loop ends.

An asyncio client belongs to the loop that opened it, so a store used from
several loops (a worker that calls ``asyncio.run`` per job, a test suite's loop
per test, ``async_to_sync``) keeps one per loop. Kept for ever, each would
hold its loop and its open sockets: a process that runs a loop per job would
run out of file descriptors. :class:`PerLoop` closes a loop's object while that
loop shuts down (``asyncio.run`` and uvicorn finalize async generators then:
see :meth:`asyncio.loop.shutdown_asyncgens`), and drops those of loops closed
without that step when the next loop asks for its own (their sockets close as
they are collected).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``make()``'s object for the running event loop, made on its first use there;
    ``close(obj)`` is awaited in that loop as it shuts down (or by :meth:`aclose`)."""

    def __init__(self, make: Callable[[], T], close: Callable[[T], Awaitable[None]]) -> None:
        self._make, self._close = make, close
        self._lock = threading.Lock()
        # loop -> (its object, the async generator that closes it at the loop's shutdown)
        self._entries: dict[asyncio.AbstractEventLoop, tuple[T, AsyncIterator[None]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self) -> T:
        """The running loop's object (RuntimeError outside a running loop)."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None:
            return entry[0]
        made = self._make()
        closer = self._closer(loop, made)
        _start(closer)  # registered with the loop: finalized (closing `made`) at its shutdown
        with self._lock:
            # loops closed without a shutdown: their objects go (sockets close as collected)
            ended = [self._entries.pop(other) for other in list(self._entries) if other.is_closed()]
            self._entries[loop] = (made, closer)
        for _, stale in ended:
            _finish(stale)  # its entry is gone: it closes nothing, and is not finalized later
        return made

    async def aclose(self) -> None:
        """Close the running loop's object now (a later :meth:`get` makes a new one)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.pop(loop, None)
        if entry is not None:
            await self._close(entry[0])

    async def _closer(self, loop: asyncio.AbstractEventLoop, made: T) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self._lock:  # still this loop's object (not one made after an aclose)
                entry = self._entries.get(loop)
                mine = entry is not None and entry[0] is made
                if mine:
                    del self._entries[loop]
            if mine:
                await self._close(made)


def _finish(generator: AsyncIterator[None]) -> None:
    """Close ``generator`` now, synchronously: its ``finally`` awaits nothing once its
    entry is gone (a finalizer left to the garbage collector would need its loop)."""
    step = generator.aclose()  # type: ignore[attr-defined]
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()  # pragma: no cover


def _start(generator: AsyncIterator[None]) -> None:
    """Run ``generator`` to its first ``yield`` now: its first step registers it with
    the running loop (the loop's async generator hooks), and its ``finally`` then runs
    when the loop shuts down. The step awaits nothing, so it completes synchronously."""
    step = generator.__anext__()
    try:
        step.send(None)  # type: ignore[attr-defined]
    except StopIteration:
        return
    raise RuntimeError("the closer's first step must not wait")  # pragma: no cover
