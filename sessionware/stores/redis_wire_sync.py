"""The lean connection of ``redis_wire``, for sync callers (WSGI, Flask).

redis-py's sync client spends 33-36 us of client CPU on one PING here; a
blocking socket with hiredis' packer and reader, 8-9 us. This module keeps a
few such sockets per process: a call takes one (or opens one), sends its
commands in one write, reads their replies in order and puts it back, so each
thread of a threaded server uses its own socket while it holds it.

The same scope and failures as ``redis_wire``: AUTH, SELECT, TLS, Unix sockets,
``socket_timeout`` on every read and write; redis-py's exceptions; a dropped
connection retried once, a timeout never. A socket that failed or timed out is
closed, never reused (a late reply would answer the next caller). Sockets made
before a ``fork`` are left to the parent: the child opens its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import deque
from typing import Any

import hiredis
import redis

from .redis_wire import check_greeting, connect_failure, error_of, greeting, tls_context

IDLE_SOCKETS = 16  # sockets kept open for reuse; more in use at once are closed after


class _Socket:
    """One connection and its reply parser."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = hiredis.Reader()

    def replies(self, count: int) -> list[Any]:
        """Read ``count`` replies, in order."""
        replies: list[Any] = []
        reader, sock = self.reader, self.sock
        while len(replies) < count:
            reply = reader.gets()
            if reply is False:
                data = sock.recv(65536)
                if not data:
                    raise redis.ConnectionError("connection to Redis closed by the server")
                reader.feed(data)
                continue
            replies.append(error_of(reply) if isinstance(reply, hiredis.ReplyError) else reply)
        return replies

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class SyncWireClient:
    """Sync calls to the server ``settings`` name (see ``redis_wire.wire_options``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._timeout: float | None = settings.get("socket_timeout")
        self._connect_timeout: float | None = settings.get("socket_connect_timeout", self._timeout)
        self._idle: deque[_Socket] = deque()
        self._pid = os.getpid()

    def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their replies in order, error replies as
        redis-py exception objects (not raised); raise when the connection fails."""
        try:
            return self._call(commands)
        except redis.ConnectionError:  # dropped (a timeout is not one): once more, anew
            return self._call(commands)

    def close(self) -> None:
        """Close the idle sockets (one in use is closed when it comes back)."""
        while self._idle:
            self._idle.pop().close()

    def transmit(self, conn: _Socket, packed: bytes) -> None:
        """Write one round trip's commands: every byte this client sends goes through
        here (``benchmarks/redis_count.py`` counts round trips by wrapping it)."""
        conn.sock.sendall(packed)

    def _call(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        conn = self._take()
        try:
            self.transmit(conn, b"".join(hiredis.pack_command(c) for c in commands))
            replies = conn.replies(len(commands))
        except TimeoutError as error:
            conn.close()
            raise redis.TimeoutError("Timeout reading from Redis") from error
        except (OSError, redis.ConnectionError, hiredis.ProtocolError) as error:
            conn.close()
            if isinstance(error, redis.ConnectionError):
                raise
            raise redis.ConnectionError(f"connection to Redis failed: {error}") from error
        except BaseException:  # interrupted mid-reply: the socket is out of step
            conn.close()
            raise
        self._give_back(conn)
        return replies

    def _take(self) -> _Socket:
        if os.getpid() != self._pid:  # forked: the parent's sockets are not ours
            self._idle = deque()
            self._pid = os.getpid()
        try:
            return self._idle.pop()
        except IndexError:  # none idle: connect after the handler, so that a failure
            pass  # to connect does not show it as the error it occurred "during"
        return self._connect()

    def _give_back(self, conn: _Socket) -> None:
        if len(self._idle) < IDLE_SOCKETS:
            self._idle.append(conn)
        else:
            conn.close()

    def _connect(self) -> _Socket:
        settings = self._settings
        sock: socket.socket | None = None
        try:
            if "path" in settings:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self._connect_timeout)
                sock.connect(settings["path"])
            else:
                host = settings.get("host", "localhost")
                address = (host, settings.get("port", 6379))
                sock = socket.create_connection(address, timeout=self._connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if settings["tls"]:
                    sock = tls_context(settings).wrap_socket(sock, server_hostname=host)
            sock.settimeout(self._timeout)
        except OSError as error:
            if sock is not None:  # connected but not usable (a refused path, a TLS failure)
                sock.close()
            raise connect_failure(error, settings["tls"], None) from error
        conn = _Socket(sock)
        hello = greeting(settings)
        if hello:
            try:
                self.transmit(conn, b"".join(hiredis.pack_command(c) for c in hello))
                check_greeting(hello, conn.replies(len(hello)))
            except BaseException as error:  # any failure: this socket is no use now
                conn.close()
                if isinstance(error, redis.ConnectionError) or not isinstance(
                    error, (OSError, hiredis.ProtocolError)
                ):
                    raise
                raise redis.ConnectionError(f"cannot connect to Redis: {error}") from error
        return conn
