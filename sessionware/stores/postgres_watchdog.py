"""A client-side deadline for PostgresStore's operations on a pooled connection.

The server bounds a statement (``statement_timeout``) and a lock wait
(``lock_timeout``), but only while it runs: a server that has stopped answering
(a hung host, a paused VM, ``SIGSTOP``) while its kernel still takes the bytes
leaves the client waiting for a reply that never comes, and TCP keepalives and
``tcp_user_timeout`` do not help, as the kernel answers them. psycopg has no
deadline of its own for a statement on an open connection.

So each operation registers its connection here with a deadline, renewed as each
of its statements starts, and one daemon thread per process drops the connection
of an operation past it: it shuts the
socket down (``shutdown(2)`` on a duplicate of its descriptor), which wakes the
waiting call, sync or async, with psycopg's "server closed the connection"
error, which the store answers as a 503; the pool discards the connection. The
transaction it carried is not committed (the server rolls it back when it sees
the connection closed), so a 503 means "not applied", except for a commit whose
reply was in flight when the server stopped: the one window a client cannot see
into, as with Redis dying after applying a save.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger("sessionware")

TICK_SECONDS = 0.25  # how often the thread looks: a deadline is kept to within this


class Watchdog:
    """Deadlines of the operations in flight in this process, and the thread that
    enforces them (started on first use, again in a forked child)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # (a lock held across a fork)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[int, tuple[float, Any]] = {}  # id(watch) -> (deadline, connection)
        self._severed: set[int] = set()  # the watches whose connection was dropped
        self._pid = 0  # the process whose thread runs (0: none yet)

    @contextlib.contextmanager
    def watching(self, connection: Any, seconds: float) -> Iterator[Watch]:
        """Drop ``connection`` if the block is still waiting ``seconds`` after it began,
        or after its last :meth:`Watch.renew` (each statement's start); the yielded
        :class:`Watch` says afterwards whether that happened. A connection dropped
        just as its operation ended is closed, never handed on by the pool."""
        watch = Watch(self, seconds)
        key = id(watch)
        with self._lock:
            if self._pid != os.getpid():
                self._start()
            self._due[key] = (time.monotonic() + seconds, connection)
        try:
            yield watch
        finally:
            with self._lock:  # (never severed after this: the pool may hand it on)
                self._due.pop(key, None)
                watch.severed = key in self._severed
                self._severed.discard(key)
            if watch.severed:
                with contextlib.suppress(Exception):
                    connection.pgconn.finish()  # the pool sees it closed and drops it

    def _renew(self, watch: Watch) -> None:
        key = id(watch)
        with self._lock:
            held = self._due.get(key)
            if held is not None:
                self._due[key] = (time.monotonic() + watch.seconds, held[1])

    def _start(self) -> None:
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="sessionware-pg-watchdog", daemon=True).start()

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            with self._lock:
                for key, (deadline, connection) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[key]
                        self._severed.add(key)
                        _sever(connection)


class Watch:
    """One operation's watch: ``severed`` once its connection was dropped."""

    __slots__ = ("_watchdog", "seconds", "severed")

    def __init__(self, watchdog: Watchdog, seconds: float) -> None:
        self._watchdog, self.seconds, self.severed = watchdog, seconds, False

    def renew(self) -> None:
        """A statement starts: its deadline is ``seconds`` from now."""
        self._watchdog._renew(self)


def _sever(connection: Any) -> None:
    """Shut the connection's socket down, so that a call waiting on it wakes."""
    try:
        descriptor = connection.pgconn.socket
    except Exception:  # closed meanwhile: nothing waits on it
        return
    with contextlib.suppress(OSError):
        duplicate = socket.socket(fileno=os.dup(descriptor))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()


WATCHDOG = Watchdog()
