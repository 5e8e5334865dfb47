"""The listing rules every store follows, so that every store lists alike.

A store may use an index instead (Redis does for the default sort), but it
must give the same rows in the same order as :func:`matches` and
:func:`sort_key` would; one exception: PostgreSQL orders text (user, email, app)
by the database's collation, so that its index on users serves that sort (a
``COLLATE "C"`` order would read and sort every row for each page).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from .base import Meta, Query

_SORT_ATTRS = {
    "id": "",
    "user": "user",
    "email": "email",
    "app": "app",
    "created": "created_at",
    "expires": "expires_at",
    "status": "status",
    "last_activity": "last_activity_at",
}


def matches(query: Query, session_id: str, meta: Meta) -> bool:
    """True when the record passes ``query``'s filters and search."""
    if query.status is not None and meta.status != query.status:
        return False
    if query.app is not None and meta.app != query.app:
        return False
    if query.user is not None and meta.user != query.user:
        return False
    if not query.search:
        return True
    needle = query.search.lower()
    fields = (session_id, meta.user, meta.email, meta.app, meta.status)
    return any(needle in field.lower() for field in fields if field)


def sort_key(sort: str) -> Callable[[tuple[str, Meta]], tuple[bool, object, str]]:
    """Order by ``sort``'s field, ``None`` above every value, then by id."""
    attr = _SORT_ATTRS[sort]

    def key(row: tuple[str, Meta]) -> tuple[bool, object, str]:
        session_id, meta = row
        value = getattr(meta, attr) if attr else session_id
        return (value is None, "" if value is None else value, session_id)

    return key


# how far before a walk's start its last look at the listing's front reads: more than
# Redis' activity index may lag behind a session's use (redis_flows.MAX_ACTIVITY_LAG)
FRONT_SLACK_SECONDS = 120.0


class ActivityScan:
    """A walk over the default listing (most recently active first), ``batch`` rows at
    a time, that skips no session that stays live while it runs: exports and analytics.

    The stores page by offset, and two things move rows while the walk reads:

    * A session deleted meanwhile (a logout, a revoke past retention) shifts every
      later row back by one, so that the next offset would pass over a row never
      read. So each page after a pass's first starts some rows before the offset
      reached (:attr:`back`) and goes on after the last row in it that this pass
      read: rows keep their order but for those that move to the front (used), so
      the ones above it were read, or moved to the front. With none in sight (more
      deletions than ``back``) it looks further back, up to :data:`MAX_BACK_PAGES`
      batches, and past that goes by the offset alone.
    * A session used meanwhile moves to the listing's front, over what is still to
      read. So once the listing is read to its end, the walk reads the front again
      (a pass of the same kind), down to the sessions not used since the walk began
      (give or take the activity index's lag, :data:`FRONT_SLACK_SECONDS`), giving
      those it has not given since they were last used. Sessions used while that
      pass runs may jump over it in turn: so it reads the front once more, down to
      the sessions not used since the pass before began, until a pass finds nothing
      new (at most :data:`MAX_FRONT_PASSES`).

    A session may come out twice (given, then used, it is met again at the front);
    :attr:`advanced` says how many sessions the last page gave, for progress. Memory:
    the ids of a pass's last :data:`MAX_BACK_PAGES` batches and of the sessions given
    with an activity since the walk began, not of every session.
    """

    def __init__(self, started: float, batch: int) -> None:
        self.batch = batch
        self.front = False  # a look at the front (after the whole listing was read)
        self.advanced = 0  # sessions the last page gave (0: a look further back)
        self.back = min(OVERLAP, batch)  # rows before the offset reached a page re-reads
        self.recent: set[str] = set()  # given with an activity since the walk began
        self._walk_since = started - FRONT_SLACK_SECONDS
        self._since = self._walk_since  # a front pass reads down to this activity
        self._fronts = 0  # front passes begun
        self._gave = False  # whether the current front pass gave anything
        self._checking = False  # reading the top once more after a look found nothing
        self._listed = 0  # how many rows the whole listing held, when first read through
        self._pass: _Pass = _Pass(self)
        self.query: Query | None = Query(limit=batch)

    def next_query(self) -> Query | None:
        """The page to read next; ``None`` once the walk is done."""
        return self.query

    def fresh(self, rows: list[tuple[str, Meta]]) -> list[tuple[str, Meta]]:
        """The rows of the page just read that the walk has not given yet; moves on."""
        query = self.query
        assert query is not None
        self.advanced = 0
        taken = self._pass.take(query, rows)
        if taken is None:  # looking further back: this page gave nothing
            self.query = self._pass.next_query()
            return []
        fresh, ended = taken
        if self.front:  # used since this pass's bound, and not given since
            since = self._since
            ended = ended or (bool(rows) and rows[-1][1].last_activity_at < since)
            # (no longer than the whole listing was: sessions made faster than it reads
            # them, all above what it looks for, would keep it going for ever)
            ended = ended or self._pass.reached >= self._listed + self.batch
            fresh = [
                (i, m) for i, m in fresh if m.last_activity_at >= since and i not in self.recent
            ]
            self._gave = self._gave or bool(fresh)
        self.recent.update(i for i, meta in fresh if meta.last_activity_at >= self._walk_since)
        self.advanced = len(fresh)
        if self._checking and not fresh:  # the top of the listing holds nothing new either
            self.query = None
        elif not ended:
            self._checking = False
            self.query = self._pass.next_query()
        elif (not self.front and self._pass.whole) or self._fronts >= MAX_FRONT_PASSES:
            self.query = None  # (one page held it all: nothing jumped it)
        else:  # the front again: down to what was not used since this pass began
            # A look that found nothing new ends the walk once the first page of the
            # next one finds nothing new either: a session used during the look (so that
            # it jumped over it) is at the very top, unless a batch of others came after.
            self._checking = self.front and not self._gave
            if not self.front:
                self._listed = self._pass.reached
            if self.front:
                self._since = self._pass.started - FRONT_SLACK_SECONDS
            self.front, self._gave, self._fronts = True, False, self._fronts + 1
            self._pass = _Pass(self)
            self.query = self._pass.next_query()
        return fresh


class _Pass:
    """One pass of an :class:`ActivityScan` down the listing from its top, by pages
    that overlap the rows read before (see there)."""

    def __init__(self, scan: ActivityScan) -> None:
        self.scan = scan
        self.started = time.time()
        self.whole = False  # its first page held the whole listing
        self.reached = 0  # the offset after the last row read, as the store said then
        self._first = True
        # the ids this pass read, its last MAX_BACK_PAGES batches' (_all: all of them)
        self._read: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._all = True

    def next_query(self) -> Query:
        batch, back = self.scan.batch, self.scan.back
        if self._first:
            return Query(limit=batch)
        start = max(0, self.reached - back)
        return Query(offset=start, limit=batch + (self.reached - start))

    def take(
        self, query: Query, rows: list[tuple[str, Meta]]
    ) -> tuple[list[tuple[str, Meta]], bool] | None:
        """The rows not read yet of the page ``query`` read, and whether it was the
        listing's last; ``None`` when it must look further back first."""
        scan = self.scan
        short = len(rows) < query.limit
        skip = 0 if self._first else self._after_read(rows)
        if skip is None:  # nothing this pass read in sight: look further back
            if query.offset > 0 and scan.back < MAX_BACK_PAGES * scan.batch:
                scan.back = min(scan.back * 4, MAX_BACK_PAGES * scan.batch)
                return None
            # from the top with all it read in mind, the rows it has not read are new;
            # else, as the offset says
            whole = query.offset == 0 and self._all
            skip = 0 if whole else min(len(rows), self.reached - query.offset)
        scan.back = min(OVERLAP, scan.batch)  # (a look further back was for that page)
        fresh = [row for row in rows[skip:] if row[0] not in self._read]
        self._remember(fresh)
        self.whole = self._first and short
        self._first = False
        self.reached = query.offset + len(rows)
        return fresh, short

    def _after_read(self, rows: list[tuple[str, Meta]]) -> int | None:
        """Where the rows not read yet start: after the last row of ``rows`` that this
        pass read; ``None`` if there is none."""
        read = self._read
        for i in range(len(rows) - 1, -1, -1):
            if rows[i][0] in read:
                return i + 1
        return None

    def _remember(self, rows: list[tuple[str, Meta]]) -> None:
        read, kept = self._read, MAX_BACK_PAGES * self.scan.batch
        for session_id, _ in rows:
            read[session_id] = None
        while len(read) > kept:
            read.popitem(last=False)
            self._all = False


# rows before the offset reached that a page re-reads (at most a batch): as many
# deletions between two pages as it tolerates before it must look further back
OVERLAP = 32
MAX_BACK_PAGES = 8  # how far back (in batches) a page looks for rows its pass read
MAX_FRONT_PASSES = 10  # looks at the front; then sessions used meanwhile may be missed
