"""Every RedisStore operation, written once, with no I/O.

An operation is a generator (a *flow*) that yields the commands of each round
trip, a list sent as one pipeline (a lone command: as itself), and is sent back
their replies; its return value is the operation's result. ``RedisStore``
drives a flow on a sync client or on an asyncio one: the decisions live here
alone, as httpx's auth flows do.

Key layout (``P`` is the prefix; braces are a hash tag, so that one session's
keys share a cluster slot and its scripts stay atomic there):

* ``P{<id>}:d``: the data hash, one field per session key holding the bytes the
  core gave. It expires with the session (PEXPIREAT, ms).
* ``P{<id>}:m``: the meta record, one string packing every :class:`Meta` field
  by position: a fixed header holding the times a load changes, which a load
  alone rewrites, then the rest (``redis_scripts.RECORD`` reads and writes it,
  ``redis_record`` reads a load's reply; records of the older forms, packed
  without a header or a hash of one field per name, still read). It expires
  ``retention_seconds`` after the data, so an ended session is a tombstone
  that Redis removes on time.
* ``P{index}:act``, ``:end``, ``:info``, ``:user:<user>``: the management
  indexes, described in ``redis_scripts.INDEX``; ``P{index}:audit``: the
  bounded audit list. Every key has a TTL, unless an operator made a session
  durable.

On a single server an operation's record and index halves go as one script
(``redis_scripts.SESSION``), which skips the index when it has nothing to
learn: a load refreshes the activity index at most once per
:data:`ACTIVITY_GRANULARITY` of the idle timeout, at most a minute (the record itself slides on
every load), a save touches it only when the user changed. On a cluster the
halves live in different slots: two scripts, sent as one pipeline.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import StoreUnavailable
from .base import (
    ACTIVE,
    EXPIRED,
    GONE,
    LOGGED_OUT,
    MOVED,
    TOO_LARGE,
    WRITTEN,
    AuditRecord,
    BlindWrite,
    Changes,
    Meta,
    Query,
    StoredSession,
    as_logged,
    by_end_user,
    measured,
    newest_of,
    too_large,
    unmatchable,
)
from .listing import matches, sort_key
from .redis_record import VERSION, assembled, converted, meta_of, time_of, whole
from .redis_scripts import INDEX, RECORD, SESSION, Script

logger = logging.getLogger("sessionware")

T = TypeVar("T")

_PAGE_TRIES = 4  # reads of a listing page that met ghosts (see RedisFlows.query)

ACTIVITY_GRANULARITY = 0.01
"""On a single server, the fraction of the idle timeout that a session's entry in
the activity index may lag behind its ``last_activity_at`` (the record's own
value is exact), up to :data:`MAX_ACTIVITY_LAG`: a load within it of the last
refresh leaves the indexes alone."""
MAX_ACTIVITY_LAG = 60.0
"""The most, in seconds, that the activity index may lag: with the 30-day default
idle timeout, 1% is 7.2 hours, and a listing sorted by last activity put a session
used a minute ago below one used an hour ago. Each active session then writes its
index entry at most once a minute."""


def activity_grain(idle_seconds: float) -> float:
    """How far a session's activity index entry may lag, for this idle timeout."""
    return min(idle_seconds * ACTIVITY_GRANULARITY, MAX_ACTIVITY_LAG)


@dataclass(frozen=True, slots=True)
class Call:
    """One command of a round trip; ``script`` when it is an EVALSHA of ours."""

    script: Script | None
    args: tuple[str | bytes | int, ...]
    optional: bool = False  # an error reply is logged, not raised: an index update
    judged: bool = False  # an error reply is handed to the flow, which judges it

    @property
    def key(self) -> str | bytes | int:
        """The call's first key: where a cluster routes it (an EVAL's follows its script
        and its count of keys, as a script's EVALSHA does)."""
        return self.args[3] if self.script is not None or self.args[0] == "EVAL" else self.args[1]


Step = list[Call] | Script  # a round trip to send, or a script to load
Flow = Generator[Step, Any, T]


_TIME = "return redis.call('TIME')"  # (EVAL, so that a cluster sends it where a key lives)


def roundtrip(calls: list[Call]) -> Generator[Step, Any, list[Any]]:
    """Send ``calls`` as one pipeline; the replies, in order.

    A script the server does not know (NOSCRIPT: a restart, a failover, SCRIPT
    FLUSH) is loaded and the calls that missed it are sent again; a reply that
    is any other error is raised, for the driver to turn into StoreUnavailable,
    unless its call is ``optional`` (then it is logged).
    """
    if not calls:
        return []
    replies = list((yield calls))
    missed = [i for i, reply in enumerate(replies) if _is_noscript(reply)]
    if missed:
        for script in {calls[i].script for i in missed}:
            if script is not None:
                yield script
        for i, reply in zip(missed, (yield [calls[i] for i in missed]), strict=True):
            replies[i] = reply
    for call, reply in zip(calls, replies, strict=True):
        if isinstance(reply, Exception) and not call.judged:
            if not call.optional:
                raise reply
            logger.warning(
                "sessionware: a management index update failed (%s); the session itself "
                "is saved, but listings, user_session_ids and revoke_user may not see it as "
                "it is (one whose index entry was never made stays unlisted until it ends "
                "or a login gives it a new id)",
                reply,
            )
    return replies


def _is_noscript(reply: object) -> bool:
    return isinstance(reply, Exception) and str(reply).startswith("No matching script")


class RedisFlows:
    """The flows of one store: its key prefix, retention and audit bound."""

    def __init__(
        self, prefix: str, retention_seconds: float, audit_limit: int, *, single_node: bool
    ) -> None:
        self.prefix = prefix
        self.single_node = single_node
        # the client's socket timeout (None: it never gives up), and the server's
        # clock minus time.monotonic() as the last load saw it (see _deadline)
        self.give_up_after: float | None = None
        self.clock_offset: float | None = None
        self._no_clock = False  # the server refused _learn_clock's question: ask no more
        self.retention_seconds = retention_seconds
        self._retention = _num(retention_seconds)
        self.audit_limit = audit_limit
        index = f"{prefix}{{index}}:"
        self.index_keys = (index + "act", index + "end", index + "info")
        self.users_prefix = index + "user:"
        self.audit_key = index + "audit"  # operators' entries
        self.users_audit_key = index + "audit:users"  # end users' (base.by_end_user)

    # -- the session contract ----------------------------------------------------------

    def load(
        self, session_id: str, now: float, idle_seconds: float | None, quiet: float | None = None
    ) -> Flow[StoredSession | None]:
        """Load and slide a live record; ``quiet``: seconds since its last activity
        within which the load writes nothing (the client-side cache's window).

        One round trip of two commands: the script judges and slides the record, then
        an HGETALL reads the data, so that the values never pass through Lua (which
        costs the server ~80 us per 60 KB). Between the two another client may change
        the session: a newer value is what a load a moment later would have read, and
        a record ended meanwhile (its data gone) loads as no session.
        """
        candidate, grain = self._slide(now, idle_seconds)
        calm = "" if quiet is None else _num(quiet)
        calls = self._both(
            session_id,
            now,
            ("load", candidate, self._retention, grain, calm),
            ("touch", _member(session_id), candidate, grain),
        )
        fetch = Call(None, ("HGETALL", self._keys(session_id)[0]), judged=True)
        loaded, *_, data = yield from roundtrip([*calls, fetch])
        if _state(session_id, loaded) != 1:
            return None
        self._observe_clock(float(loaded[2]))
        if isinstance(data, Exception):
            if not str(data).startswith("WRONGTYPE"):
                raise data  # BUSY, LOADING, ...: the store is unavailable, not the record bad
            _corrupt(session_id, "a data key of the wrong type")
            return None
        if not data:  # the session ended between the two commands
            return None
        try:
            return StoredSession(_data(data), meta_of(loaded[1]))
        except (ValueError, TypeError) as error:
            _corrupt(session_id, error)
            return None

    def create(self, session_id: str, data: Mapping[str, bytes], meta: Meta) -> Flow[None]:
        yield from self._learn_clock(session_id)
        meta, deadline = measured(data, meta), self._deadline()
        made, *_ = yield from roundtrip(self._create(session_id, data, meta, "", deadline))
        if _state(session_id, made) == _TOO_LATE:
            raise _too_late("creation", session_id)

    def save(self, session_id: str, changes: Changes, token: str = "") -> Flow[bool]:
        """One round trip: the script measures the changed keys' stored values and moves
        the record's size and count by the difference (O(changed keys)), refusing a save
        that would take it past the cap (SessionTooLarge, nothing written). ``token``
        names the save to the client-side cache (``ClientCache.begin_save``)."""
        now = changes.updated_at
        meta = ["updated_at", _num(now)]
        cleared = []
        for name, value in (("user", changes.user), ("email", changes.email)):
            if value is None:
                cleared.append(name)
            else:
                meta += [name, value]
        if changes.device is not None:
            meta += ["device", changes.device]
        cap = "" if changes.max_size_bytes is None else str(changes.max_size_bytes)
        uncounted = sorted(changes.uncounted_keys)
        pairs = [item for key, value in changes.set.items() for item in (key, value)]
        yield from self._learn_clock(session_id)
        args = [self._deadline(), cap, *_counted(uncounted), *_counted(pairs)]
        args += [*_counted(changes.removed), *_counted(meta), *_counted(cleared), token]
        saved, *_ = yield from roundtrip(
            self._both(
                session_id,
                now,
                ("save", *args),
                ("user", _member(session_id), _user_token(changes.user)),
            )
        )
        state = _state(session_id, saved)
        if state in (_TOO_LARGE, _TOO_LATE) and not self.single_node:
            # on a cluster the index's half ran on its own node whatever the record said:
            # file the session under the user its record still names (a single server's
            # SESSION call skips the index when the record refuses)
            yield from self._reindex_user(session_id, now, changes.user)
        if state == _TOO_LATE:
            raise _too_late("save", session_id)
        if state == _TOO_LARGE:
            raise too_large(changes.max_size_bytes or 0)
        return state == 1

    def _reindex_user(self, session_id: str, now: float, refused: str | None) -> Flow[None]:
        """Put ``session_id``'s user index entry back to the user its record names,
        if it still names ``refused`` (another save may have moved both since)."""
        (peeked,) = yield from roundtrip([self._record("peek", session_id, now, "0")])
        found = self._peeked(session_id, peeked, now)
        if found is not None and found[0].user != refused:
            member, back = _member(session_id), _user_token(found[0].user)
            yield from roundtrip(
                [self._index("user_if", now, member, back, _user_token(refused), optional=True)]
            )

    def write(self, session_id: str, write: BlindWrite) -> Flow[str]:
        """A blind write (no load first): one round trip, as a load's."""
        now = write.now
        candidate, grain = self._slide(now, write.idle_seconds)
        pairs = [item for key, value in write.set.items() for item in (key, value)]
        yield from self._learn_clock(session_id)
        args = [self._deadline(), candidate, self._retention, grain, str(write.max_size_bytes)]
        args.append("" if write.app is None else write.app)  # ('': any app's record)
        written, *_ = yield from roundtrip(
            self._both(
                session_id,
                now,
                ("write", *args, *_counted(pairs)),
                ("touch", _member(session_id), candidate, grain),
            )
        )
        state = _written(session_id, written)
        return WRITTEN if state == 1 else TOO_LARGE if state == _TOO_LARGE else GONE

    def _slide(self, now: float, idle_seconds: float | None) -> tuple[str, str]:
        """A load's (or blind write's) candidate expiry and activity-index granularity."""
        if idle_seconds is None:
            return "", "0"
        grain = _num(activity_grain(idle_seconds)) if self.single_node else "0"
        return _num(now + idle_seconds), grain

    def _observe_clock(self, server_time: float) -> None:
        """Keep the tightest lower bound of the server's clock minus ours: each
        reply gives one (read after it arrived, so never too high); one that falls
        a second short means the server's clock went back, and replaces it."""
        observed = server_time - time.monotonic()
        known = self.clock_offset
        if known is None or observed > known or observed < known - 1.0:
            self.clock_offset = observed

    def _learn_clock(self, session_id: str) -> Flow[None]:
        """Ask the server for its clock (one round trip, on the node holding
        ``session_id``) when a write is about to need a deadline and no load has shown
        it yet: a worker whose first requests only write (blind writes, new sessions)
        would otherwise send them with none, and a write answered 503 could still
        apply once a paused server resumed."""
        if self.give_up_after is None or self.clock_offset is not None or self._no_clock:
            return
        ask = Call(None, ("EVAL", _TIME, 1, self._keys(session_id)[0]), judged=True)
        (reply,) = yield from roundtrip([ask])
        if isinstance(reply, Exception):  # this write goes without a deadline, as before
            # the question; and for good when the server will never answer it (an ACL
            # without EVAL, a proxy without scripts), not for a passing state (BUSY...)
            said = str(reply).lower()  # (NOPERM, as redis-py words it; an unknown EVAL)
            self._no_clock = "no permissions" in said or "unknown command" in said
            return
        seconds, micros = reply
        self._observe_clock(int(seconds) + int(micros) / 1e6)

    def _deadline(self) -> str:
        """A write's deadline in the server's time: half the client's timeout from
        now, so that a write Redis runs in time has its reply back before the client
        gives up, and one it runs later (the client answered 503) does not apply: a
        save, a blind write, a creation, and on a single server a login's move and a
        logout (on a cluster their record's and index's halves run on two nodes).
        ``clock_offset`` errs early, which only moves the deadline earlier."""
        if self.give_up_after is None or self.clock_offset is None:
            return ""
        return _num(time.monotonic() + self.clock_offset + self.give_up_after / 2)

    def rotate(
        self,
        old_id: str,
        new_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        require_live: bool,
        unchanged_since: float | None = None,
    ) -> Flow[bool]:
        """Optimistic: take the old record and create the new one in one round trip;
        if the old one was not live and had to be, or was written since
        ``unchanged_since`` (then it stays), remove the new one in a second.

        Sent again after its reply was lost (a dropped connection), it finds its own
        move done (the old id's mark names the new id): it then writes nothing, and
        says whether the new record is live, since another request may have revoked or
        logged it out in between, and that must stand."""
        meta, now = measured(data, meta), meta.updated_at
        since = "" if unchanged_since is None else _num(unchanged_since)
        # both halves, run late, apply nothing; on a cluster, where the record's halves and
        # the index's run on different nodes and one may be late alone, none has one
        if self.single_node:
            yield from self._learn_clock(old_id)
        deadline = self._deadline() if self.single_node else ""
        # the new id, when the data moves with it (a login): the mark says so, and a retry
        # knows its own move by it; '' for a rotation that does not carry (a logout's)
        take = ("take", deadline, since, _member(new_id) if require_live else "")
        taken, made, *_ = yield from roundtrip(
            [
                *self._both(old_id, now, take, None, marked=True),
                *self._create(new_id, data, meta, old_id, deadline),
            ]
        )
        state, created = _state(old_id, taken), _state(new_id, made)
        if state == _TOO_LATE:  # nothing taken, so nothing made: the create ran after it,
            raise _too_late("login (a new id)", old_id)  # on the same server (deadlines: one)
        moves = state in (1, _TAKEN_BEFORE) or (not require_live and state != _CHANGED)
        if created == _TOO_LATE and moves:  # the take (or a logout's, of nothing) in time,
            # the new record just too late: the reply came, so this client still waits for it
            made, *_ = yield from roundtrip(self._create(new_id, data, meta, old_id, ""))
            created = _state(new_id, made)
        if state == _TAKEN_BEFORE:
            return created == 1 or created == _STILL_LIVE
        if state == 1 or (not require_live and state != _CHANGED):
            return True
        if created != 1:  # the new id held a record already: not this call's to undo
            return False
        undo = [
            Call(None, ("DEL", *self._keys(new_id))),
            self._index("forget", now, _member(new_id)),
        ]
        if state == _CHANGED:  # the old record stays: list it again where the new one took it
            (peeked,) = yield from roundtrip([self._record("peek", old_id, now, "0")])
            found = self._peeked(old_id, peeked, now)
            if found is not None:
                undo.append(self._index("create", now, *_index_entry(old_id, found[0]), ""))
        yield from roundtrip(undo)
        return False

    def delete(self, session_id: str) -> Flow[None]:
        now = time.time()
        # (on a cluster the index's half runs on another node, and may apply alone: none)
        if self.single_node:
            yield from self._learn_clock(session_id)
        deadline = self._deadline() if self.single_node else ""
        deleted, *_ = yield from roundtrip(
            self._both(
                session_id,
                now,
                ("delete", deadline),
                ("delete", _member(session_id)),
                marked=True,
            )
        )
        if _state(session_id, deleted) == _TOO_LATE:
            raise _too_late("logout", session_id)

    def moved_mark(self, session_id: str) -> Flow[str | None]:
        """The mark a take or delete left on ``session_id`` (see base.MarkingStore)."""
        if unmatchable(session_id):
            return None
        (mark,) = yield from roundtrip([Call(None, ("GET", self._mark_key(session_id)))])
        if mark is None:
            return None
        return MOVED if bytes(mark).startswith(b"moved") else LOGGED_OUT  # (b"moved <new id>")

    # -- the management contract ---------------------------------------------------------

    def get_meta(self, session_id: str, now: float) -> Flow[Meta | None]:
        if unmatchable(session_id):
            return None
        (peeked,) = yield from roundtrip([self._record("peek", session_id, now, "0")])
        found = self._peeked(session_id, peeked, now)
        return None if found is None else found[0]

    def read_data(self, session_id: str, now: float) -> Flow[dict[str, bytes] | None]:
        if unmatchable(session_id):
            return None
        (peeked,) = yield from roundtrip([self._record("peek", session_id, now, "1")])
        found = self._peeked(session_id, peeked, now)
        return None if found is None or peeked[0] != 1 else found[1]

    def query(self, query: Query, now: float) -> Flow[tuple[list[tuple[str, Meta]], int]]:
        """The default listing (by last activity, unfiltered) is one page of the
        activity index; any other reads every candidate's meta and sorts here."""
        if unmatchable(query.search, query.app, query.user):
            return [], 0
        plain = not query.search and query.status is query.app is query.user is None
        if plain and query.sort == "last_activity":
            descending, offset, limit = int(query.descending), query.offset, query.limit
            for _ in range(_PAGE_TRIES):
                ((total, ids),) = yield from roundtrip(
                    [self._index("page", now, str(descending), str(offset), str(limit))]
                )
                rows = yield from self._metas(ids, now)
                if len(rows) == len(ids):
                    break
                # Entries whose record Redis already removed: an index entry may outlive
                # its tombstone by the activity granularity. Drop them and read again,
                # so that pages are full and the total counts no ghosts met here.
                found = {session_id for session_id, _ in rows}
                ghosts = [i for i in (_id(i) for i in ids) if i not in found]
                yield from roundtrip([self._index("forget", now, _member(i)) for i in ghosts])
            return rows, int(total)
        token = "" if query.user is None else _user_token(query.user)
        (ids,) = yield from roundtrip([self._index("ids", now, token, "0")])
        rows = [row for row in (yield from self._metas(ids, now)) if matches(query, *row)]
        rows.sort(key=sort_key(query.sort), reverse=query.descending)
        return rows[query.offset : query.offset + query.limit], len(rows)

    def user_session_ids(self, user: str, now: float) -> Flow[list[str]]:
        if unmatchable(user):
            return []
        (ids,) = yield from roundtrip([self._index("ids", now, _user_token(user), "1")])
        return [_id(member) for member in ids]

    def revoke(self, session_id: str, actor: str, now: float) -> Flow[bool]:
        if unmatchable(session_id):
            return False
        revoked, *_ = yield from roundtrip(
            self._both(
                session_id,
                now,
                ("revoke", as_logged(actor) or "", self._retention),
                ("revoke", _member(session_id)),
            )
        )
        return _state(session_id, revoked) == 1

    def set_expiry(self, session_id: str, expires_at: float | None, now: float) -> Flow[bool]:
        if unmatchable(session_id):
            return False
        expires = _optional(expires_at)
        fixed, *_ = yield from roundtrip(
            self._both(
                session_id,
                now,
                ("fix", expires, self._retention),
                ("fix", _member(session_id), expires),
            )
        )
        return _state(session_id, fixed) == 1

    def add_audit(self, record: AuditRecord) -> Flow[None]:
        entry = json.dumps(dataclasses.asdict(record), separators=(",", ":"))
        retention_ms = int(self.retention_seconds * 1000)
        key = self.users_audit_key if by_end_user(record) else self.audit_key
        yield from roundtrip(
            [
                Call(None, ("LPUSH", key, entry)),
                Call(None, ("LTRIM", key, 0, self.audit_limit - 1)),
                Call(None, ("PEXPIRE", key, retention_ms)),
            ]
        )

    def audit(self, limit: int) -> Flow[list[AuditRecord]]:
        """The newest ``limit`` entries of both logs (operators', end users'): one round
        trip reads the head of each; only corrupt entries skipped make it read on."""
        keys = (self.audit_key, self.users_audit_key)
        heads = yield from roundtrip([Call(None, ("LRANGE", key, 0, limit - 1)) for key in keys])
        operators = yield from self._audit_list(keys[0], limit, heads[0])
        users = yield from self._audit_list(keys[1], limit, heads[1])
        return newest_of(operators, users, limit)

    def _audit_list(self, key: str, limit: int, entries: list[bytes]) -> Flow[list[AuditRecord]]:
        """The newest ``limit`` readable entries of one audit list, whose first
        ``limit`` are ``entries`` (read already)."""
        records: list[AuditRecord] = []
        previous = None
        start, want = 0, limit
        while True:
            for entry in entries:
                if entry == previous:  # an LPUSH sent again after its reply was lost: one entry
                    continue
                previous = entry
                try:
                    records.append(AuditRecord(**json.loads(entry)))
                except (ValueError, TypeError, RecursionError):  # (RecursionError: nesting)
                    logger.warning("sessionware: skipped a corrupt audit record in Redis")
            if len(entries) < want or len(records) >= limit:
                return records
            start, want = start + want, limit - len(records)  # skipped ones left room
            (entries,) = yield from roundtrip(
                [Call(None, ("LRANGE", key, start, start + want - 1))]
            )

    # -- commands ------------------------------------------------------------------------

    def _keys(self, session_id: str) -> tuple[str, str]:
        base = f"{self.prefix}{{{session_id}}}"
        return base + ":d", base + ":m"

    def _mark_key(self, session_id: str) -> str:
        """Where a take or delete marks why the live record left (base.MarkingStore)."""
        return f"{self.prefix}{{{session_id}}}:x"

    def _record(
        self, op: str | bytes, session_id: str, now: float, *args: str | bytes, marked: bool = False
    ) -> Call:
        keys: tuple[str, ...] = self._keys(session_id)
        if marked:
            keys = (*keys, self._mark_key(session_id))
        return Call(RECORD, ("EVALSHA", RECORD.sha, len(keys), *keys, op, _num(now), *args))

    def _index(
        self, op: str | bytes, now: float, *args: str | bytes, optional: bool = False
    ) -> Call:
        argv = self._index_argv(op, _num(now), args)
        return Call(
            INDEX, ("EVALSHA", INDEX.sha, len(self.index_keys), *self.index_keys, *argv), optional
        )

    def _index_argv(
        self, op: str | bytes, clock: str, args: tuple[str | bytes, ...]
    ) -> tuple[str | bytes, ...]:
        """An INDEX operation's arguments (``redis_scripts`` ``index``): its name, the
        clock, the retention and the users' key prefix, then its own."""
        return (op, clock, self._retention, self.users_prefix, *args)

    def _both(
        self,
        session_id: str,
        now: float,
        record: tuple[str | bytes, ...],
        index: tuple[str | bytes, ...] | None,
        *,
        marked: bool = False,
    ) -> list[Call]:
        """A RECORD call on ``session_id`` and its INDEX call at ``now`` (``None``:
        none), each given as its operation and arguments: as one SESSION call on a
        single server (which announces a change to the client-side caches), else two
        calls, the INDEX one optional. ``marked``: a take or delete is given the key
        of its mark (base.MarkingStore), third after the record's two."""
        if not self.single_node:
            calls = [self._record(record[0], session_id, now, *record[1:], marked=marked)]
            if index is not None:
                calls.append(self._index(index[0], now, *index[1:], optional=True))
            return calls
        clock = _num(now)
        keys: tuple[str, ...] = (*self._keys(session_id), *self.index_keys)
        if marked:
            keys = (*self._keys(session_id), self._mark_key(session_id), *self.index_keys)
        record_argv = (record[0], clock, *record[1:])
        index_argv: tuple[str | bytes, ...] = ()
        start = "0"  # ARGV[1]: where the INDEX arguments begin ('0': none)
        if index is not None:
            index_argv = self._index_argv(index[0], clock, index[1:])
            start = str(2 + len(record_argv))
        args = ("EVALSHA", SESSION.sha, len(keys), *keys, start, *record_argv, *index_argv)
        return [Call(SESSION, args)]

    def _create(
        self,
        session_id: str,
        data: Mapping[str, bytes],
        meta: Meta,
        replacing: str,
        deadline: str,
    ) -> list[Call]:
        """Create ``session_id``'s record, only where there is none (its id is new: sent
        again after its reply was lost, it leaves what became of the first run's
        record, revoked meanwhile say, as it is), and its index entry, replacing
        ``replacing``'s if given; neither if Redis runs them after ``deadline``
        (:meth:`_deadline`; ``''``: none). On a cluster the index's call has none: a
        late record leaves an index entry of no record (listings skip it, the sweep
        drops it), where an index entry missed would hide a live session for good."""
        pairs = [item for key, value in data.items() for item in (key, value)]
        record = [deadline, _optional(meta.expires_at), self._retention, *_counted(pairs)]
        record += _counted(_meta_pairs(meta))
        index = [*_index_entry(session_id, meta), _member(replacing) if replacing else ""]
        now = meta.updated_at
        return self._both(
            session_id,
            now,
            ("create", *record),
            ("create", *index),
        )

    def _metas(self, ids: Sequence[bytes], now: float) -> Flow[list[tuple[str, Meta]]]:
        """The records of index members ``ids`` as of ``now`` (tombstones included), in
        their order; ids with no record, or a corrupt one, are left out.

        One round trip of plain GETs of the packed meta records: a GET costs the server
        about 1 us where a peek through the Lua code costs about 10, which decides a
        listing that reads every session (20,000 sessions: 0.85 s before, measured).
        Records in an older form, which only the Lua code reads, are peeked in a
        second round trip. A listing reads metadata alone, so a record whose data key
        someone overwrote with another type is listed as its metadata says (a load
        treats it as no session)."""
        names = [_id(member) for member in ids]
        raws = yield from roundtrip(
            [Call(None, ("GET", self._keys(name)[1]), judged=True) for name in names]
        )
        metas: dict[str, Meta | None] = {}
        older = []
        for name, raw in zip(names, raws, strict=True):
            if isinstance(raw, Exception):
                if not str(raw).startswith("WRONGTYPE"):
                    raise raw  # BUSY, LOADING, ...: the store is unavailable
                older.append(name)  # a meta hash (record version 1)
            elif raw is not None and raw[:1] != _VERSION_BYTE:
                older.append(name)  # an earlier packed version
            elif raw is not None:
                try:
                    metas[name] = self._as_of(meta_of(raw, cached=False), now)
                except (ValueError, TypeError) as error:
                    _corrupt(name, error)
        if older:
            replies = yield from roundtrip([self._record("peek", n, now, "0") for n in older])
            for name, reply in zip(older, replies, strict=True):
                found = self._peeked(name, reply, now)
                metas[name] = None if found is None else found[0]
        return [(name, meta) for name in names if (meta := metas.get(name)) is not None]

    def _peeked(
        self, session_id: str, reply: Any, now: float
    ) -> tuple[Meta, dict[str, bytes]] | None:
        """A peek's meta as of ``now`` (tombstones included) and data, or ``None``."""
        if _state(session_id, reply) == -1 or not reply[1]:
            return None
        try:
            meta, data = _meta(reply[1]), _data(reply[2]) if reply[2] else {}
        except (ValueError, TypeError) as error:
            _corrupt(session_id, error)
            return None
        current = self._as_of(meta, now)
        return None if current is None else (current, data)

    def _as_of(self, meta: Meta, now: float) -> Meta | None:
        """``meta`` as of ``now``: expired once its expiry has passed (Redis removes the
        data at that moment), and ``None`` once a tombstone's retention is over."""
        if meta.status == ACTIVE and meta.expires_at is not None and meta.expires_at <= now:
            meta.status, meta.ended_at = EXPIRED, meta.expires_at
        if meta.status != ACTIVE and (meta.ended_at or 0.0) + self.retention_seconds <= now:
            return None
        return meta


# -- encoding -----------------------------------------------------------------------------

_VERSION_BYTE = bytes([VERSION])  # the first byte of a packed meta record of this version
_MARK = b"\xff"  # the data hash's marker field (see redis_scripts.RECORD)
_TOO_LATE = -2  # a write's state when it reached the server after its deadline
_TOO_LARGE = -3  # a save's or blind write's state when it would pass the size cap
_CHANGED = 2  # a take's state when the record was written since its caller loaded it
_TAKEN_BEFORE = 3  # a take's state when its own move was done already (sent again)
_STILL_LIVE = 2  # a create's state when a live record was there already

_TIMES = frozenset(
    ("created_at", "updated_at", "last_activity_at", "expires_at", "deadline", "ended_at")
)


def _num(value: float) -> str:
    """A time or duration as Lua and Redis will read it back: the exact float."""
    return repr(float(value))


def _optional(value: float | None) -> str:
    return "" if value is None else _num(value)


def _counted(items: Sequence[str | bytes]) -> list[str | bytes]:
    return [str(len(items)), *items]


_PUBLIC_ID = re.compile("[0-9a-f]{32}")
_PACKED = b"\xff"  # an index member of a public id: this byte and its 16 bytes


def _member(session_id: str) -> str | bytes:
    """A session id as the indexes keep it: a public id (``cookies.public_id``, 32
    hex digits) as 17 bytes, which no UTF-8 text is (its first is ``0xFF``), any
    other id as it is."""
    if len(session_id) == 32 and _PUBLIC_ID.fullmatch(session_id):
        return _PACKED + bytes.fromhex(session_id)
    return session_id


def _id(member: bytes) -> str:
    """The session id of an index member (see :func:`_member`)."""
    if len(member) == 17 and member[:1] == _PACKED:
        return member[1:].hex()
    return member.decode()


def _user_token(user: str | None) -> str:
    return "-" if user is None else "+" + user


def _end(meta: Meta) -> str:
    """The index's END score: when the session stops (stopped) being live."""
    end = meta.expires_at if meta.status == ACTIVE else meta.ended_at
    return "inf" if end is None else _num(end)


def _meta_pairs(meta: Meta) -> list[str]:
    pairs = []
    for field in dataclasses.fields(Meta):
        value = getattr(meta, field.name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif field.name in _TIMES:
            text = _num(value)
        else:
            text = str(value)
        pairs += [field.name, text]
    return pairs


def _meta(row: Sequence[bytes | None]) -> Meta:
    """Parse a meta record's fields, in Meta's order (``redis_scripts`` FIELDS,
    ``None`` where absent, one internal field after them); ValueError or
    TypeError if malformed."""
    updated, last, expires, deadline = row[1:5]
    if updated is None:
        raise ValueError("meta record without its update time")
    return assembled(
        converted(dict(enumerate(row, start=1))),
        time_of(updated),
        time_of(last),  # type: ignore[arg-type]
        None if expires is None else time_of(expires),
        None if deadline is None else time_of(deadline),
        (whole(row[9]), whole(row[10]), whole(row[11])),
    )


def _data(flat: Sequence[bytes] | Mapping[bytes, bytes]) -> dict[str, bytes]:
    """Parse a data hash (flat pairs, or the dict redis-py makes of an HGETALL); keys
    must be UTF-8 (UnicodeDecodeError, a ValueError, if not)."""
    if isinstance(flat, Mapping):
        return {key.decode(): value for key, value in flat.items() if key != _MARK}
    items = iter(flat)  # zip of one iterator twice: pairs, with no slices copied
    return {key.decode(): value for key, value in zip(items, items, strict=True) if key != _MARK}


def _index_entry(session_id: str, meta: Meta) -> list[str | bytes]:
    """An INDEX create's arguments for ``meta``'s record, but the id it replaces."""
    return [
        _member(session_id),
        _num(meta.last_activity_at),
        _end(meta),
        "01"[meta.sliding],
        _optional(meta.deadline),
        _user_token(meta.user),
    ]


def _state(session_id: str, reply: Any) -> int:
    """A RECORD reply's state: 1 live, 0 not live, -1 corrupt (logged once here)."""
    state = reply if isinstance(reply, int) else int(reply[0])
    if state == -1:
        _corrupt(session_id, "a key of the wrong type, or a meta record of the wrong shape")
    return state


def _written(session_id: str, reply: Any) -> int:
    """A save's or blind write's state; raises StoreUnavailable when it came too late."""
    state = _state(session_id, reply)
    if state == _TOO_LATE:
        raise _too_late("save", session_id)
    return state


def _too_late(what: str, session_id: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"the {what} of session {session_id} reached Redis after its client had given "
        "up waiting (the server was paused or overloaded); it was not applied"
    )


def _corrupt(session_id: str, reason: object) -> None:
    """Log a corrupt record once, without its content; the caller treats it as none."""
    logger.warning(
        "sessionware: the Redis record of session %s is corrupt (%s); treating it as no session",
        session_id,
        type(reason).__name__ if isinstance(reason, Exception) else reason,
    )
