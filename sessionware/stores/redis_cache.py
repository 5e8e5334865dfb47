"""RedisStore's client-side cache: loaded sessions kept in this process, read with no
round trip, and dropped the moment Redis says they changed.

Correctness rests on Redis's server-assisted client-side caching in broadcast mode:
a listener thread holds two connections of its own, one subscribed to
``__redis__:invalidate`` and one with ``CLIENT TRACKING ON BCAST PREFIX <prefix>{
REDIRECT <listener>``, so that Redis reports every write to any of the store's
session keys, whoever made it (another worker, the console, the CLI, an expiry).

The rules that keep a hit from ever being stale:

* An entry is served only while the listener is connected and tracking; when
  either connection fails, every entry is dropped and no hit is served until
  both are back. A hit checks both itself, without blocking: the server may close
  the tracking connection alone (``CLIENT KILL``, a proxy), and from then on
  sends no invalidation while the subscriber stays open.
* A hit first applies, under the listener's lock, every invalidation already
  received on the listener's socket. Redis writes an invalidation in the same
  pass as the reply to the write that caused it, so a change acknowledged to
  anyone before a request starts is seen by that request, as long as the socket
  takes what Redis sends: the listener reads news as it arrives, and a request
  that finds a long queue serves no hit until the listener has caught up (a PING
  answered after it), since Redis may be holding back news it could not send
  (``ClientCache._drain``). Part of a message is no message: a request that finds
  one waiting serves no hit (its bytes are counted, ``_resp_size``).
* A load result is kept only if no invalidation of that session (or a full
  flush) arrived since the load was sent: a slower load never overwrites news.
* An entry lives at most ``window`` seconds (the store's activity granularity
  of the idle timeout), so the record's sliding expiry and last activity, which
  a hit does not send to Redis, lag by no more than that; and never past the
  record's own expiry or deadline.
* This process's own writes drop the entry at once (read-your-writes), before
  their invalidation arrives; with ``own_saves``, all but a save, which keeps what
  it wrote (below).

A miss loads as usual, in the same round trip as without the cache.

**A save keeps its result** (``own_saves``, the store's ``cache_own_saves=True``).
Without it, every save drops the entry it would serve next (Redis reports a
process's own writes too, and on Redis 7.0 a script's writes are outside
``NOLOOP``), so that a handler that reads and writes makes two round trips per
request like an uncached store. With it, a save of a session served from a
current entry carries a token (``begin_save``), and every change of a live
record that sessionware's scripts make is announced by a key written and deleted
beside the record, ``<prefix>{<id>}:a<token>`` (``:a`` alone for a change that
is not a cached save). Redis names that key in the same invalidation message as
the record's own keys: one message per event-loop pass, which lists every key
the pass changed. So:

* the entry after the save (``end_save``) is the entry before it with the save's
  changes, kept unless news of the session is applied before the next hit;
* a message naming the session is the save's own, and keeps that entry, only if
  every announcement of the session in it is one of this process's saves.

What this rests on, and why it is opt-in: a message covers every write of a
pass, so a change that is *not announced* and that Redis runs in the same pass
as this process's save of that very session (just before it or just after) is
taken for the save's own and is seen only when the entry's window ends (an
expiry is checked by time: an entry never outlives the record's expiry).
Changes that are not announced: those of a process on an earlier release (a
rolling deploy), of a Redis user whose ACL refuses the announcement key (its
write is skipped so that it still saves), and of anything but sessionware (a
hand-run command, an eviction under ``maxmemory``). Without ``own_saves``, none
of this applies: every message naming a session drops it.

An announcement travels in the invalidation message, not on a channel of its
own: Redis queues the listener for that message after every reply of the pass
and writes the clients it queued last first, so a change acknowledged to its
writer is already on its way to the listener. A ``PUBLISH`` from a script
queued the listener during the script, before the writer's reply, and was
written after it: a trial read 9 to 55 of 3,000 loads stale that way.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import secrets
import select
import socket
import ssl
import struct
import sys
import threading
import time
import weakref
from typing import Any

import hiredis

from .base import Changes, StoredSession, resized

logger = logging.getLogger("sessionware")

DEFAULT_MAX_ENTRIES = 10_000
_RECENT = 4096  # invalidated ids remembered for loads in flight (older: refused)
_RETRY_SECONDS = 0.5  # between reconnection attempts of the listener
_PING_SECONDS = 1.0  # how often the listener checks its tracking connection
_GATHER_SECONDS = 0.01  # the listener, woken by news, lets a burst gather: one wake per burst
_REQUEST_BYTES = 65536  # what a request reads of the listener's socket at most (then: a miss)
_SLICE_BYTES = 262144  # what the listener reads per hold of the lock
# A queue of news this long (bytes waiting, or the kernel's memory for them half its
# buffer, or a segment dropped) means the listener fell behind: Redis may be holding
# news it could not send yet, which no read here can see (see ClientCache._drain)
_BEHIND_BYTES = 16384
# what the listener's own connections take from the store's pool (the rest is the pool's)
_CONNECTION_KEYS = frozenset(
    {
        "host", "port", "path", "db", "username", "password", "credential_provider",
        "socket_timeout", "socket_connect_timeout", "socket_keepalive", "client_name",
    }
)  # fmt: skip


@dataclasses.dataclass(slots=True)
class _Entry:
    stored: StoredSession
    until: float  # time.time() after which the entry is not served


class ClientCache:
    """A bounded LRU of loaded sessions, invalidated by Redis (see the module docstring).

    ``connection_kwargs`` are a redis-py connection pool's (host, port, password,
    TLS, ...); ``prefix`` the store's key prefix. Thread-safe; used by sync and
    asyncio stores alike (no call blocks on I/O, except ``close``).
    """

    def __init__(
        self,
        connection_class: type[Any],
        connection_kwargs: dict[str, Any],
        prefix: str,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        own_saves: bool = False,
    ) -> None:
        self._connection_class = connection_class
        self._kwargs = {
            key: value
            for key, value in connection_kwargs.items()
            if key in _CONNECTION_KEYS or key.startswith("ssl_")
        }
        self._kwargs["protocol"] = 2  # pub/sub replies as plain replies, not RESP3 pushes
        self._prefix = prefix.encode() + b"{"
        self._max_entries = max_entries
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._seq = 0  # bumped on every invalidation of a session, and on flushes
        self._recent: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._floor = 0  # invalidations before this seq are forgotten: refuse older loads
        self._inbox: _Inbox | None = None  # the listener's pub/sub socket, when live
        self._closed = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._down: str | None = None  # why the listener is disconnected, said once
        self._lost = "the invalidation connection failed"  # why a request found it dead
        # PINGs sent on the subscriber and PONGs read back: a stalled connection that
        # stays open (a proxy, a lost flow) answers none, and sends no invalidation
        self._pings = self._pongs = 0
        self._ticked = 0  # the PING of the listener's last tick (answered by the next)
        self._heard = 0  # bytes the subscriber had sent by then
        # fallen behind (see _drain): no hit until the PONG of this PING has come back
        self._catch_up: int | None = None
        self._token = secrets.token_hex(6) + "."  # + a count: this cache's saves
        self._saves = 0
        self._saving: dict[str, int] = {}  # sessions with a save in flight, and how many
        # the tokens of this process's saves whose announcement has not arrived: their ids
        self._own: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._own_saves = own_saves  # a save keeps its result (below); else it drops it
        self.listener_id: int | None = None  # the subscriber's CLIENT ID, for operators
        self.hits = 0
        self.misses = 0
        _CACHES.add(self)  # reset in a forked child (see _after_fork)

    # -- what the store calls --------------------------------------------------------

    def start(self) -> None:
        """Start the listener (once per process: a forked worker starts its own); the
        cache serves nothing until it is connected."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="sessionware-cache", daemon=True
                )
                self._thread.start()

    def _after_fork(self) -> None:
        """In a forked child, before any other thread runs: the listener thread and
        its sockets stayed with the parent, and so may any lock that was held."""
        closed = self._closed.is_set()
        self._lock = threading.Lock()
        self._closed, self._ready = threading.Event(), threading.Event()
        self._down = None  # the child's listener starts afresh: its own news
        self.listener_id, self.hits, self.misses = None, 0, 0  # (the parent's counts)
        if closed:
            self._closed.set()
        if self._inbox is not None:
            self._inbox.close()  # (the child's copy of the tracker's duplicate only)
        self._inbox, self._thread = None, None
        self._token = secrets.token_hex(6) + "."  # (the parent's tokens are its own)
        self._saving.clear()  # (the parent's saves in flight are not this process's)
        self._flush()

    def wait_ready(self, timeout: float) -> bool:
        """Whether the listener is connected and tracking, waiting up to ``timeout`` s."""
        self.start()
        return self._ready.wait(timeout)

    def get(self, session_id: str, now: float) -> StoredSession | None:
        """A copy of the cached session, or ``None`` (a miss: load it from Redis)."""
        self.start()
        with self._lock:
            entry = self._entries.get(session_id) if self._drain() else None
            if entry is None:
                self.misses += 1
                return None
            meta = entry.stored.meta
            if (
                now >= entry.until
                or (meta.expires_at is not None and now >= meta.expires_at)
                or (meta.deadline is not None and now >= meta.deadline)
            ):
                del self._entries[session_id]
                self.misses += 1
                return None
            self._entries.move_to_end(session_id)
            self.hits += 1
            return _copy(entry.stored)

    def mark(self) -> int:
        """Call before sending a load; pass the result to :meth:`put`."""
        self.start()
        return self._seq

    def put(self, session_id: str, stored: StoredSession, mark: int, until: float) -> None:
        """Keep ``stored`` until ``until`` unless the session changed since ``mark``."""
        with self._lock:
            if not self._drain() or mark < self._floor or session_id in self._saving:
                return
            if self._recent.get(session_id, -1) > mark:
                return  # news arrived while the load was in flight
            self._keep(session_id, _Entry(_copy(stored), until))

    def begin_save(self, session_id: str, now: float) -> Save:
        """Call before sending a save of ``session_id``; pass the result's ``token`` to
        the save's script and the result to :meth:`end_save`, whatever happens.

        The entry stops being served until then. The token is ``''`` (the save's
        announcement counts as anyone's) unless a current entry is there to build
        the entry after the save from. Neither call reads the listener's socket:
        what has arrived is applied by the next :meth:`get`, before it serves
        anything, and drops what it must, the entry after the save included."""
        self.start()
        with self._lock:
            # (no entry while the listener is down: every loss of it flushes them all)
            entry = self._entries.pop(session_id, None)
            self._seq += 1
            self._remember(session_id)  # a load sent before now is not kept
            self._saving[session_id] = self._saving.get(session_id, 0) + 1  # (puts refused)
            # (a second save in flight finds no entry: the first took it, and no put
            # brings one back meanwhile)
            if not self._own_saves or entry is None or now >= entry.until:
                return Save(session_id, "", self._seq, None)
            self._saves += 1
            token = f"{self._token}{self._saves}"
            self._own[token] = session_id.encode()
            while len(self._own) > _RECENT:  # (its announcement will drop the entry)
                self._own.popitem(last=False)
            return Save(session_id, token, self._seq, entry)

    def end_save(self, save: Save, changes: Changes | None) -> None:
        """The save ``save`` is over: ``changes`` were written (``None``: they were
        not, or it is not known). Keeps the entry after the save unless news of the
        session was applied since ``begin_save`` (then nothing is kept); what has
        arrived meanwhile and is not the save's own drops it at the next :meth:`get`."""
        session_id = save.session_id
        with self._lock:
            left = self._saving.get(session_id, 1) - 1
            if left:
                self._saving[session_id] = left
            else:
                self._saving.pop(session_id, None)
            if changes is None and save.token:
                self._own.pop(save.token, None)  # an announcement with it now is news
            if (  # (a lost listener flushed, raising the floor past the save's mark)
                changes is not None
                and save.entry is not None
                and save.mark >= self._floor
                and self._recent.get(session_id, -1) <= save.mark
            ):
                _save_into(save.entry.stored, changes)  # (the entry is this save's alone)
                self._keep(session_id, save.entry)
            self._seq += 1
            self._remember(session_id)  # a load sent before now is not kept

    def _keep(self, session_id: str, entry: _Entry) -> None:
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def drop(self, *session_ids: str) -> None:
        """Forget these sessions now: this process is about to change them."""
        with self._lock:  # (no drain: what arrived meanwhile can only drop more)
            self._seq += 1
            for session_id in session_ids:
                self._entries.pop(session_id, None)
                self._remember(session_id)

    def close(self) -> None:
        """Stop the listener and drop every entry."""
        self._closed.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=2 * _PING_SECONDS + 1)
        with self._lock:
            self._flush()

    # -- the listener ------------------------------------------------------------------

    def _listen(self) -> None:
        while not self._closed.is_set():
            subscriber = tracker = None
            try:
                subscriber = self._connect()
                subscriber.send_command("CLIENT", "ID")
                client_id = self.listener_id = subscriber.read_response()
                subscriber.send_command("SUBSCRIBE", "__redis__:invalidate")
                subscriber.read_response()
                while subscriber.can_read(timeout=0):  # anyone may PUBLISH on the channel:
                    subscriber.read_response()  # leave redis-py's parser nothing unread
                tracker = self._connect()
                tracker.send_command(
                    "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX",
                    self._prefix,
                )  # fmt: skip
                if tracker.read_response() != b"OK":
                    raise ConnectionError("CLIENT TRACKING was refused")
                with self._lock:
                    self._flush()  # anything cached before is of unknown freshness
                    self._inbox = _Inbox(subscriber, tracker)
                    self._pings = self._pongs = self._ticked = self._heard = 0
                    self._catch_up = None
                self._ready.set()
                if self._down is not None:
                    self._down = None
                    logger.warning("sessionware: the client-side cache is connected again")
                self._serve(subscriber, tracker)
            except Exception as error:  # any failure: stop serving, reconnect
                if not self._closed.is_set():
                    # said once per cause: the attempts to reconnect (every
                    # _RETRY_SECONDS) fail the same way until the outage is over, and a
                    # new cause (the server back, refusing the password) is news
                    cause = f"{type(error).__name__}: {error}"
                    logger.log(
                        logging.DEBUG if cause == self._down else logging.WARNING,
                        "sessionware: the client-side cache lost its Redis invalidation "
                        "connection (%s); serving every read from Redis until it is back",
                        cause,
                    )
                    self._down = cause
            finally:
                self._ready.clear()
                with self._lock:
                    if self._inbox is not None:
                        self._inbox.close()
                    self._inbox = None
                    self._flush()
                for connection in (subscriber, tracker):
                    if connection is not None:
                        connection.disconnect()
            self._closed.wait(_RETRY_SECONDS)

    def _serve(self, subscriber: Any, tracker: Any) -> None:
        """Apply news as it arrives, and check both connections once a second.

        The socket is read as soon as news is there (after :data:`_GATHER_SECONDS`, so
        that a burst costs one wake), so that its queue stays short: Redis writes an
        invalidation before the reply to the write that caused it only while the
        socket takes what it sends. A queue left to grow (a thread woken once a second)
        fills the kernel's buffer; Redis then holds the news back, and a change is
        acknowledged before it can be read here (measured: 6 to 7 stale hits in a
        few hundred under a write load, with nothing failing). Requests still drain
        the socket themselves before each hit (``get``), and one that finds a long
        queue serves nothing (:meth:`_drain`).

        The subscriber is checked by a PING whose PONG must have come back by the next
        tick unless news is still arriving ahead of it: Redis answers it after every
        invalidation sent before it, so a connection that stalls without closing (a
        proxy holding it, a lost flow) is found within two ticks, and the entries go
        with it; until then a hit may serve a change made during the stall (the bound
        the README gives)."""
        sock = _socket_of(subscriber)
        waiting = select.poll()
        waiting.register(sock.fileno(), select.POLLIN)
        pending = getattr(sock, "pending", None)  # (TLS: read, decrypted, not yet taken)
        tick = time.monotonic() + _PING_SECONDS
        while not self._closed.is_set():
            if not (pending is not None and pending()):
                waiting.poll(max(0.0, tick - time.monotonic()) * 1000)
            if self._closed.wait(_GATHER_SECONDS):
                return
            more = True
            while more:  # a backlog in slices: requests take the lock between them
                with self._lock:
                    self._drain(_SLICE_BYTES)
                    inbox = self._inbox
                    if inbox is None:
                        raise ConnectionError(self._lost)
                    more = inbox.more
                if more:
                    time.sleep(0.001)  # requests get the GIL and the lock between slices
            with self._lock:
                catch_up = self._catch_up is not None and self._pings < self._catch_up
                if catch_up:
                    self._pings += 1
            if catch_up:
                subscriber.send_command("PING")  # (its PONG is read by _drain, in order)
            if time.monotonic() < tick:
                continue
            tick = time.monotonic() + _PING_SECONDS
            assert inbox is not None  # (the loop above ran: it raises on None)
            with self._lock:
                if self._pongs < self._ticked and inbox.heard == self._heard:
                    raise ConnectionError("the invalidation connection stopped answering")
                self._pings += 1
                self._ticked, self._heard = self._pings, inbox.heard
            subscriber.send_command("PING")
            tracker.send_command("PING")  # a dead tracker stops the messages silently
            if tracker.read_response() != b"PONG":
                raise ConnectionError("the tracking connection stopped answering")

    def _connect(self) -> Any:
        connection = self._connection_class(**self._kwargs)
        connection.connect()
        return connection

    def _apply(self, message: Any) -> None:
        """Apply one invalidation message (under the lock): the keys one event-loop
        pass of the server changed, announcements (``<id>}:a<token>``) included."""
        if isinstance(message, list) and message and message[0] == b"pong":
            self._pongs += 1  # the listener's PING on the subscriber, answered
            return
        if not isinstance(message, list) or len(message) < 3 or message[0] != b"message":
            return
        keys = message[2]
        self._seq += 1
        if keys is None:  # FLUSHDB/FLUSHALL, or too many keys: forget everything
            self._flush()
            return
        prefix = self._prefix
        announced: dict[bytes, list[bytes]] = {}  # session id -> its announcements' tokens
        for key in keys if isinstance(keys, list) else [keys]:
            if isinstance(key, bytes) and key.startswith(prefix):
                name, _, rest = key[len(prefix) :].partition(b"}")
                tokens = announced.setdefault(name, [])
                if rest[:2] == b":a":
                    tokens.append(rest[2:])
        for name, tokens in announced.items():
            ours = [
                t for t in tokens if t and self._own.pop(t.decode(errors="replace"), b"") == name
            ]
            if ours and len(ours) == len(tokens):
                continue  # this process's saves alone changed it: the entry after them stands
            session_id = name.decode("ascii", "replace")
            self._entries.pop(session_id, None)
            self._remember(session_id)

    def _drain(self, budget: int = _REQUEST_BYTES) -> bool:
        """Apply the invalidations already received (under the lock), reading at most
        ``budget`` bytes; ``False`` when no hit may be served now: the listener is not
        live, or failed here (it will notice and reconnect), part of a message has
        arrived or more is waiting (this request must not be served from the cache,
        nor kept in it: the rest may name its session), or the listener fell behind.

        Behind: the socket's queue was long (see :data:`_BEHIND_BYTES`), so Redis may
        hold news back that it could not send, news that no read here can see yet. No
        hit is served until the PONG of a PING sent after that has come back (Redis
        sends it after all it held); a request finding such a queue reads none of it
        (the listener does, in slices), so that no request waits on a backlog."""
        inbox = self._inbox
        if inbox is None:
            return False
        try:
            for message in inbox.received(budget, reading=budget > _REQUEST_BYTES):
                self._apply(message)
            if inbox.behind:
                inbox.behind = False
                self._catch_up = self._pings + 1  # a PING sent from now on
            if self._catch_up is not None:
                if self._pongs < self._catch_up:
                    return False
                self._catch_up = None
            return not inbox.partial()
        except Exception as error:
            self._lost = str(error) or type(error).__name__  # (for the listener's warning)
            inbox.close()
            self._inbox = None  # the listener reconnects at its next tick
            self._ready.clear()
            self._flush()
            return False

    def _remember(self, session_id: str) -> None:
        self._recent[session_id] = self._seq
        self._recent.move_to_end(session_id)
        while len(self._recent) > _RECENT:
            _, seq = self._recent.popitem(last=False)
            self._floor = max(self._floor, seq)

    def _flush(self) -> None:
        self._entries.clear()
        self._own.clear()
        self._seq += 1
        self._recent.clear()
        self._floor = self._seq


class _Inbox:
    """The listener's two connections as a request sees them: the subscribed one's
    socket read without blocking and parsed by hiredis, and the tracking one watched
    for its end. What a request drains costs one ``poll`` that finds nothing, or a
    look at the queue's length (``_long``: two system calls), a ``recv`` per chunk and
    one more that finds nothing: not redis-py's poll, read and parse per message
    (applying one invalidation: 10 us against 15, measured).

    The tracker must be watched here, not only by the listener's PING once a second:
    when the server closes it alone (``CLIENT KILL``, a proxy's idle timeout), Redis
    stops tracking and no invalidation ever comes again, while the subscriber stays
    open and quiet. The server closes the connection before it runs any later
    command, so a change acknowledged after that finds the close already on this
    side (``POLLRDHUP``: the peer's FIN, even behind an unread ``PONG``).

    ``subscriber`` and ``tracker`` are redis-py connections, the first subscribed
    with nothing left unread in its parser. The tracker's socket stays redis-py's
    (the listener PINGs it); this watches a duplicate of its descriptor, so that
    redis-py closing its own on an error cannot leave a reused descriptor watched.
    """

    def __init__(self, subscriber: Any, tracker: Any) -> None:
        sock = _socket_of(subscriber)
        sock.setblocking(False)
        self._sock = sock
        # TLS: decrypted bytes already read from the socket, which poll cannot see
        self._pending = getattr(sock, "pending", None)
        self._reader = hiredis.Reader()
        self._unparsed = 0  # bytes fed to the reader that no whole message took yet
        self._drops = _dropped(sock)  # what the kernel dropped of this socket's segments
        self.heard = 0  # bytes read in all
        self.more = False  # a read stopped at its budget: more may be waiting
        self.behind = False  # the queue was long (ClientCache._drain): news may be held
        self._unsure = False  # the tracker has bytes to read, and may have ended after them
        self._tracker = os.dup(_socket_of(tracker).fileno())  # closed by close() alone
        self._poll = select.poll()
        self._poll.register(sock.fileno(), select.POLLIN)
        # POLLHUP, POLLERR and POLLNVAL are reported whatever is asked for
        self._poll.register(self._tracker, _TRACKER_EVENTS)

    def received(self, budget: int = _REQUEST_BYTES, *, reading: bool = False) -> list[Any]:
        """The messages received, in order, reading at most about ``budget`` bytes
        (``more`` says the read stopped there); ConnectionError if the server closed
        either connection (any other socket error is raised as it is). A long queue
        sets ``behind``, and is then read only when ``reading`` (the listener)."""
        self._unsure = self.more = False
        ready = self._poll.poll(0)
        if not ready and not (self._pending is not None and self._pending()):
            return []  # the common case: one system call
        for fd, events in ready:
            if fd != self._tracker:
                continue
            if events & _TRACKER_GONE:
                raise ConnectionError("the tracking connection was closed by the server")
            self._unsure = True  # (no POLLRDHUP: a PONG, or the end behind it)
        if self._long():
            self.behind = True
            if not reading:
                self.more = True
                return []
        return self._read(budget)

    def _long(self) -> bool:
        """Whether the socket's queue is long enough that Redis may be holding news
        back: :data:`_BEHIND_BYTES` waiting, or (Linux) the kernel's memory for them at
        half the socket's buffer, or a segment it dropped since the last look."""
        import fcntl  # (POSIX, as select.poll: the module still imports elsewhere)
        import termios

        try:
            waiting = int.from_bytes(fcntl.ioctl(self._sock, termios.FIONREAD, b"\0" * 4), "little")
        except (OSError, ValueError):  # (a TLS socket's fd still answers; else: unknown)
            return False
        if waiting >= _BEHIND_BYTES:
            return True
        memory = _meminfo(self._sock)
        if memory is None:
            return False
        held, room, drops = memory
        dropped, self._drops = drops != self._drops, drops
        return dropped or 2 * held >= room

    def _read(self, budget: int) -> list[Any]:
        sock, reader, taken = self._sock, self._reader, 0
        while taken < budget:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break  # nothing more yet (a TLS socket may also hold half a record)
            if not data:
                raise ConnectionError("the invalidation connection was closed by the server")
            taken += len(data)
            reader.feed(data)
        else:
            self.more = True
        self.heard += taken
        self._unparsed += taken
        messages = []
        while (message := reader.gets()) is not False:
            self._unparsed -= _resp_size(message)
            messages.append(message)
        if self._unparsed < 0:  # (a reply in a form this count does not know)
            raise ConnectionError("the invalidation connection sent an unexpected reply")
        return messages

    def partial(self) -> bool:
        """Whether part of a message has arrived and waits for the rest (counted in
        bytes: hiredis holds a reply cut between two of its items without saying so),
        more may be waiting, or the tracker may have ended (where poll cannot tell:
        see ``_TRACKER_EVENTS``)."""
        return self._unsure or self.more or self._unparsed != 0

    def close(self) -> None:
        """Stop watching the tracker (the connections stay the listener's to close)."""
        if self._tracker >= 0:
            fd, self._tracker = self._tracker, -1
            os.close(fd)


# The tracker's end as poll reports it. Linux reports the peer's FIN as POLLRDHUP,
# even behind unread bytes (a PONG on its way to the listener). Elsewhere the FIN
# shows only as something to read, like a PONG: such a request is not served from
# the cache (a PONG is read within microseconds; the end, until the listener's PING).
_TRACKER_EVENTS = getattr(select, "POLLRDHUP", select.POLLIN)
_TRACKER_GONE = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR | select.POLLNVAL


def _resp_size(reply: Any) -> int:
    """The bytes of ``reply`` (as hiredis parsed it) in RESP2, as Redis writes it: arrays
    and bulk strings (a status reply, never sent here, would count as a bulk string:
    more than its bytes, which the caller takes for an unknown reply)."""
    if isinstance(reply, bytes):
        return len(reply) + len(str(len(reply))) + 5  # $<n>\r\n<bytes>\r\n
    if isinstance(reply, list):
        return len(str(len(reply))) + 3 + sum(map(_resp_size, reply))
    if reply is None:
        return 5  # *-1\r\n or $-1\r\n
    if isinstance(reply, int):
        return len(str(reply)) + 3
    return len(str(reply).encode()) + 3  # an error reply: -<message>\r\n


_SO_MEMINFO = 55  # Linux: the socket's memory (rmem, rcvbuf, ... drops), 9 u32s


def _meminfo(sock: Any) -> tuple[int, int, int] | None:
    """``(memory held by the receive queue, the receive buffer, segments dropped)`` of
    ``sock``, or ``None`` where the system does not say (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        values = struct.unpack("9I", sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 36))
    except (OSError, struct.error):
        return None
    return values[0], values[1], values[8]


def _dropped(sock: Any) -> int:
    memory = _meminfo(sock)
    return 0 if memory is None else memory[2]


def _socket_of(connection: Any) -> Any:
    sock = getattr(connection, "_sock", None)  # redis-py has no public accessor
    if sock is None:
        raise ConnectionError("this redis-py connection does not expose its socket")
    return sock


@dataclasses.dataclass(frozen=True, slots=True)
class Save:
    """A save in flight (``ClientCache.begin_save``): its ``token`` for the script,
    the invalidation count it started at, and the entry it started from (``None``:
    none, and no entry is kept after it)."""

    session_id: str
    token: str
    mark: int
    entry: _Entry | None


# Every cache alive in this process (weakly: a closed store's goes), reset in a forked
# child by one at-fork hook, before any of the child's threads runs.
_CACHES: weakref.WeakSet[ClientCache] = weakref.WeakSet()


def _forked() -> None:
    for cache in list(_CACHES):
        cache._after_fork()


if hasattr(os, "register_at_fork"):  # (POSIX)
    os.register_at_fork(after_in_child=_forked)


def _copy(stored: StoredSession) -> StoredSession:
    return StoredSession(dict(stored.data), stored.meta.copy())


def _save_into(stored: StoredSession, changes: Changes) -> None:
    """Make ``stored`` what a save of ``changes`` leaves (the script's rule: the changed
    keys, the size and count by ``resized``, ``updated_at``, user, email, device)."""
    data, meta = stored.data, stored.meta
    old = {key: len(data[key]) for key in (*changes.set, *changes.removed) if key in data}
    meta.size_bytes, meta.attribute_count = resized(
        meta.size_bytes, meta.attribute_count, old, changes
    )
    meta.max_size_bytes = max(meta.max_size_bytes, meta.size_bytes)
    data.update(changes.set)
    for key in changes.removed:
        data.pop(key, None)
    meta.updated_at = changes.updated_at
    meta.user, meta.email = changes.user, changes.email
    if changes.device is not None:
        meta.device = changes.device
