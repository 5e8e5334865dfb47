"""A lean asyncio connection to one Redis server, for RedisStore's hot path.

A session's load, save or blind write is one round trip: one EVALSHA (a load
sends an HGETALL of the data behind it). redis-py's asyncio
client spends most of a request's client time around that command (its pool,
retries, observability hooks and argument encoding); this module sends it over
one multiplexed connection per event loop: every command in flight shares the
connection, replies come back in order and are matched to their senders, and
``hiredis`` (which redis-py's ``[hiredis]`` extra installs) packs the command
and parses the reply. ``benchmarks/redis_clients.py`` measures the difference.

Scope. It speaks to a single server, over TCP, TLS (``rediss://``) or a Unix
socket, with AUTH (user and password) and SELECT; a round trip of several
commands is one write, as a pipeline. Redis Cluster, Sentinel and a client
handed in by the caller stay on redis-py, and so does a store given any
connection option this module does not understand (see :func:`wire_options`):
nothing is silently ignored. ``redis_wire_sync`` is the same for sync callers.

Failures are redis-py's exceptions, so that the store's driver treats both
paths alike: ``redis.ConnectionError`` when the connection cannot be made or
drops (the call is retried once on a new connection, as the store's redis-py
clients do), ``redis.TimeoutError`` when no reply came within ``socket_timeout``
(not retried: the command may have run), ``redis.ResponseError`` (and
``NoScriptError``) for an error reply. A timed-out call's reply, if it comes,
is read and dropped, so later replies still reach their own senders.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Any

import hiredis
import redis
import redis.exceptions
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

# from_url options this module honours; any other keeps the store on redis-py alone
_UNDERSTOOD = frozenset(
    {
        "socket_timeout",
        "socket_connect_timeout",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def wire_options(url: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """The connection settings for ``url`` and ``from_url``'s options, or ``None`` when
    any of them is one this module does not implement (then redis-py does it all)."""
    settings = {**parse_url(url), **options}
    kind = settings.pop("connection_class", None)
    if kind not in (None, SSLConnection, UnixDomainSocketConnection):
        return None
    if set(settings) - _UNDERSTOOD - {"host", "port", "db", "username", "password", "path"}:
        return None  # an option of from_url's or the URL's (health_check_interval=, say)
    settings["tls"] = kind is SSLConnection
    return settings


class _Protocol(asyncio.Protocol):
    """One connection: commands go out in order, each reply settles the oldest waiter.

    What the event loop's callbacks send in one pass goes out in one write, at the
    start of the next pass (:meth:`send`): under concurrent requests, one system call
    (and one read for Redis) carries many round trips' commands, in the order sent.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._loop = loop
        self._outgoing: list[bytes] = []  # packed commands for the next write

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, packed: bytes) -> None:
        """Queue ``packed`` for this pass's write (see the class doc)."""
        outgoing = self._outgoing
        if not outgoing:
            self._loop.call_soon(self._flush)
        outgoing.append(packed)

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.lost or self.transport is None:
            return  # (its waiters have failed with the connection: fail())
        self.transport.write(outgoing[0] if len(outgoing) == 1 else b"".join(outgoing))

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError) and unauthenticated(str(reply)):
                    # not this command's failure: no command can run on this connection
                    raise redis.AuthenticationError(NO_PASSWORD)
                future = waiting.popleft()
                if not future.done():  # a timed-out caller has gone: drop its reply
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as error:  # not Redis, or out of step
            self._drop(redis.ConnectionError(f"Redis protocol error: {error}"))
        except redis.AuthenticationError as error:
            self._drop(error)

    def _drop(self, error: Exception) -> None:
        """Fail every waiter with ``error`` and hang up."""
        self.fail(error)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(redis.ConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, error: Exception) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class WireClient:
    """One event loop's connection to the server ``settings`` name (see module doc)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._timeout: float | None = settings.get("socket_timeout")
        connect = settings.get("socket_connect_timeout", self._timeout)
        self._connect_timeout: float | None = connect
        self._protocol: _Protocol | None = None
        self._lock = asyncio.Lock()  # one connect for every caller that finds none
        # The connect attempts that failed, and the last one's error: a caller queued
        # behind an attempt that failed fails with it (see _connected).
        self._failures = 0
        self._failure: Exception | None = None
        # Timeouts: each round trip's deadline and its replies' futures, in the order
        # sent, and one timer at the oldest deadline still waiting (see _watch). A timer
        # per round trip (call_later, then cancel) cost 4.2 us of CPU per call, measured:
        # a fifth of a GET.
        self._deadlines: deque[tuple[float, list[asyncio.Future[Any]]]] = deque()
        self._watchdog: asyncio.TimerHandle | None = None

    async def execute(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write (one round trip) and return their replies in
        order, an error reply as a redis-py exception object (not raised: the caller
        decides, as with a pipeline); raise when the connection fails or times out."""
        try:
            return await self._send(await self._connected(), commands)
        except redis.ConnectionError:  # dropped: once more, on a new connection
            return await self._send(await self._connected(), commands)

    async def aclose(self) -> None:
        """Close the connection: calls in flight fail with ConnectionError at once (not
        when the transport gets round to closing: a TLS shutdown may wait 30 s)."""
        protocol, self._protocol = self._protocol, None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._deadlines.clear()
        if protocol is not None:
            protocol.fail(redis.ConnectionError("connection to Redis closed by this client"))
            if protocol.transport is not None:
                protocol.transport.close()

    async def _send(self, protocol: _Protocol, commands: list[tuple[Any, ...]]) -> list[Any]:
        if not commands:
            return []
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in commands]
        protocol.waiting.extend(futures)
        self.transmit(protocol, b"".join(hiredis.pack_command(c) for c in commands))
        if self._timeout is not None:
            self._expire_at(loop, loop.time() + self._timeout, futures)
        try:
            replies = [await future for future in futures]
        except BaseException:  # failed, timed out or cancelled: the rest is dropped too
            for future in futures:
                if not future.cancel() and not future.cancelled():
                    future.exception()  # retrieved, so asyncio does not report it
            raise
        finally:
            self._forget_answered()
        # our scripts answer an error at the top level only, never inside an array
        return [error_of(r) if isinstance(r, hiredis.ReplyError) else r for r in replies]

    def _expire_at(
        self, loop: asyncio.AbstractEventLoop, deadline: float, futures: list[asyncio.Future[Any]]
    ) -> None:
        """Time ``futures`` out at ``deadline`` (loop time) unless answered by then."""
        self._deadlines.append((deadline, futures))
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._deadlines[0][0], self._watch, loop)

    def _forget_answered(self) -> None:
        """Drop the answered round trips at the front (as each call ends), so that no
        reply is kept alive here until the watchdog's next round."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][1][-1].done():  # answered, failed or cancelled
            deadlines.popleft()  # (a round trip's last future is the last to settle)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out every round trip past its deadline, and wake again at the oldest
        deadline still waiting. Deadlines come in the order calls were sent, and a
        round trip's replies in order, so the front is always the oldest unanswered."""
        self._watchdog = None
        deadlines = self._deadlines
        due = loop.time() + _CLOCK_RESOLUTION  # (asyncio runs a timer up to that early)
        while True:
            self._forget_answered()
            if not deadlines:
                return
            deadline, futures = deadlines[0]
            if deadline > due:
                self._watchdog = loop.call_at(deadline, self._watch, loop)
                return
            deadlines.popleft()
            _expire(futures)

    def transmit(self, protocol: _Protocol, packed: bytes) -> None:
        """Write one packed command: every byte this client sends goes through here
        (``benchmarks/redis_count.py`` counts round trips by wrapping it)."""
        protocol.send(packed)

    async def _connected(self) -> _Protocol:
        """The live connection, made if there is none.

        One caller connects at a time; the others wait for it. When that attempt fails,
        the callers that waited for it fail at once with its error instead of each
        trying again in turn: against a stalled server each attempt costs a whole
        timeout, and the k-th caller would fail only after k timeouts. A caller that
        comes after the failure tries afresh.
        """
        protocol = self._protocol
        if protocol is not None and not protocol.lost:
            return protocol
        failures = self._failures
        async with self._lock:
            protocol = self._protocol
            if protocol is not None and not protocol.lost:
                return protocol
            if self._failures != failures and self._failure is not None:
                raise _again(self._failure) from self._failure
            try:
                return await self._connect()
            except Exception as error:  # (not a cancellation: that is no verdict on Redis)
                self._failures += 1
                self._failure = error
                raise

    async def _connect(self) -> _Protocol:
        settings, loop = self._settings, asyncio.get_running_loop()
        protocol = _Protocol(loop)
        try:
            if "path" in settings:
                opening = loop.create_unix_connection(lambda: protocol, settings["path"])
            else:
                opening = loop.create_connection(
                    lambda: protocol,
                    settings.get("host", "localhost"),
                    settings.get("port", 6379),
                    ssl=tls_context(settings) if settings["tls"] else None,
                )
            await asyncio.wait_for(opening, self._connect_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise connect_failure(error, settings["tls"], self._connect_timeout) from error
        hello = greeting(settings)
        try:
            check_greeting(hello, await self._send(protocol, hello) if hello else [])
        except BaseException:  # refused, timed out, cancelled: this socket is no use now
            protocol.fail(redis.ConnectionError("connection to Redis abandoned while greeting"))
            if protocol.transport is not None:
                protocol.transport.abort()  # (close() would wait to flush to a stalled server)
            raise
        self._protocol = protocol
        self._failure = None  # (kept no longer than needed: it holds its traceback)
        return protocol


def greeting(settings: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The commands a new connection sends first: AUTH and SELECT, as configured."""
    hello: list[tuple[Any, ...]] = []
    password, user = settings.get("password"), settings.get("username")
    if password is not None:
        hello.append(("AUTH", password) if user is None else ("AUTH", user, password))
    if settings.get("db"):
        hello.append(("SELECT", settings["db"]))
    return hello


def check_greeting(hello: list[tuple[Any, ...]], replies: list[Any]) -> None:
    """Raise (AuthenticationError, or ConnectionError) when the server refused one."""
    for command, reply in zip(hello, replies, strict=True):
        if isinstance(reply, Exception):
            if command[0] == "AUTH":
                raise redis.AuthenticationError(str(reply))
            raise redis.ConnectionError(f"Redis refused {command[0]}: {reply}")


def _again(error: Exception) -> Exception:
    """A new exception like ``error``, for another caller to raise: raising one object
    from several tasks would splice their tracebacks together."""
    try:
        return type(error)(*error.args)
    except Exception:  # pragma: no cover - an exception class with another signature
        return redis.ConnectionError(str(error))


_CLOCK_RESOLUTION = time.get_clock_info("monotonic").resolution


def _expire(futures: list[asyncio.Future[Any]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(redis.TimeoutError("Timeout reading from Redis"))


def error_of(reply: hiredis.ReplyError) -> redis.ResponseError:
    """An error reply as redis-py makes it (NoScriptError, NoPermissionError, ...,
    with the code word dropped), by redis-py's own parser when it has one.

    Raises AuthenticationError instead for a reply saying this connection has not
    authenticated: no command can run on it, so it is no reply to hand a caller.
    """
    message = str(reply)
    if unauthenticated(message):
        raise redis.AuthenticationError(NO_PASSWORD)
    if _parse_error is not None:
        error: redis.ResponseError = _parse_error(message)
        return error
    if message.startswith("NOSCRIPT "):
        return redis.exceptions.NoScriptError(message[len("NOSCRIPT ") :])
    return redis.ResponseError(message)


NO_PASSWORD = "the server requires authentication, and this client sent no password"


def unauthenticated(message: str) -> bool:
    """Whether an error reply (or redis-py's message for one) says the connection has
    not authenticated: NOAUTH, or, when the command was long (a FUNCTION LOAD, say),
    "Protocol error: unauthenticated multibulk length" (the server then hangs up)."""
    return message.startswith("NOAUTH") or "Protocol error: unauthenticated" in message


try:  # redis-py's error mapping (a private module: kept optional)
    from redis._parsers.base import BaseParser

    _parse_error: Any = BaseParser.parse_error
except (ImportError, AttributeError):  # pragma: no cover - another redis-py layout
    _parse_error = None


def connect_failure(error: BaseException, tls: bool, waited: float | None) -> redis.ConnectionError:
    """The error for a connection that could not be opened: ``error``'s own words (a
    timeout has none: how long it waited), and for a TLS one that timed out the likely
    cause, a plain server waiting for more of a handshake it does not speak."""
    said = str(error) or (
        type(error).__name__ if waited is None else f"no answer within {waited:g} s"
    )
    if tls and isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        said += " (rediss://: is the server's port TLS?)"
    return redis.ConnectionError(f"cannot connect to Redis: {said}")


def tls_context(settings: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context for ``rediss://``, with redis-py's option names and defaults."""
    context = ssl.create_default_context(cafile=settings.get("ssl_ca_certs"))
    required = settings.get("ssl_cert_reqs", "required")
    if isinstance(required, str):
        required = _CERT_REQS[required.lower()]
    checked = bool(settings.get("ssl_check_hostname", True))
    context.check_hostname = checked and required != ssl.CERT_NONE
    context.verify_mode = required
    if settings.get("ssl_certfile"):
        context.load_cert_chain(settings["ssl_certfile"], settings.get("ssl_keyfile"))
    return context
