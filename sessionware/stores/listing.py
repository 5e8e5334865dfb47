"""The listing rules every store follows, so that every store lists alike.

A store may use an index instead (Redis does for the default sort), but it
must give the same rows in the same order as :func:`matches` and
:func:`sort_key` would.
"""

from __future__ import annotations

import collections
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

    * A session used meanwhile moves to the listing's front, over the offset still to
      read. So once the listing is read to its end, the walk reads the front again,
      down to a session not used since it began (give or take the activity index's
      lag, :data:`FRONT_SLACK_SECONDS`), leaving out what it read there already.
    * A session deleted meanwhile (a logout, a revoke past retention) shifts every
      later row back by one, so that the next offset would pass over a row never
      read. So each page after the first starts some rows before the offset reached
      (:attr:`back`), and goes on after the last row in it that the walk read and
      that is still as it was (same id, same last activity): the rows before that
      one were read. When none is in sight (more deletions than ``back``), it looks
      further back, up to :data:`MAX_BACK_PAGES` pages, and past that goes by the
      offset alone.

    A session may still come out twice (used meanwhile, it is met again at the
    front); :attr:`advanced` says how many rows of the listing a page passed, for
    progress. Memory: the ids of the last :data:`MAX_BACK_PAGES` pages and of the
    sessions used since the walk began, not of every session.
    """

    def __init__(self, started: float, batch: int) -> None:
        self.since = started - FRONT_SLACK_SECONDS
        self.batch = batch
        self.query: Query | None = Query(limit=batch)
        self.front = False  # reading the front again (no progress: see the export)
        self.recent: set[str] = set()  # read with an activity after ``since``
        self.advanced = 0  # rows of the listing the last page passed (0: a look back)
        self.back = min(OVERLAP, batch)  # rows before the offset reached a page re-reads
        self._reached = 0  # the offset after the last row read, as the stores said then
        # the ids last read (at most MAX_BACK_PAGES batches) and their last activities;
        # _all: nothing read was forgotten
        self._read: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._all = True

    def next_query(self) -> Query | None:
        """The page to read next; ``None`` once the walk is done."""
        return self.query

    def fresh(self, rows: list[tuple[str, Meta]]) -> list[tuple[str, Meta]]:
        """The rows of the page just read that the walk has not given yet; moves on."""
        query = self.query
        assert query is not None
        short = len(rows) < query.limit
        self.advanced = 0
        if self.front:
            fresh = [  # used since the walk began, and not read since then
                (i, meta)
                for i, meta in rows
                if meta.last_activity_at >= self.since and i not in self.recent
            ]
            if short or rows[-1][1].last_activity_at < self.since:
                self.query = None
            else:
                self.query = Query(offset=query.offset + query.limit, limit=self.batch)
            return fresh
        first = not self._read and self._all
        skip = 0 if first else self._after_read(rows)
        if skip is None:  # nothing read before in sight as it was: look further back
            if query.offset > 0 and self.back < MAX_BACK_PAGES * self.batch:
                self.back = min(self.back * 4, MAX_BACK_PAGES * self.batch)
                self._page_from(self._reached)
                return []
            # from the top with all it read in mind, the rows it has not read are new;
            # else, as the offset says
            whole = query.offset == 0 and self._all
            skip = 0 if whole else min(len(rows), self._reached - query.offset)
        self.back = min(OVERLAP, self.batch)  # (a look further back was for that page)
        fresh = [row for row in rows[skip:] if row[0] not in self._read]
        self._remember(fresh)
        self.advanced = len(fresh)
        self._reached = query.offset + len(rows)
        if short and first:  # one page held it all: nothing jumped it
            self.query = None
        elif short:  # the end of the listing: now its front again
            self.front, self.query = True, Query(limit=self.batch)
        else:
            self._page_from(self._reached)
        return fresh

    def _page_from(self, offset: int) -> None:
        start = max(0, offset - self.back)
        self.query = Query(offset=start, limit=self.batch + (offset - start))

    def _after_read(self, rows: list[tuple[str, Meta]]) -> int | None:
        """Where the rows not read yet start: after the last row of ``rows`` that was
        read and is still as it was (rows only ever move to the front, when used);
        ``None`` if there is none."""
        read = self._read
        for i in range(len(rows) - 1, -1, -1):
            session_id, meta = rows[i]
            if read.get(session_id) == meta.last_activity_at:
                return i + 1
        return None

    def _remember(self, rows: list[tuple[str, Meta]]) -> None:
        read, kept = self._read, MAX_BACK_PAGES * self.batch
        for session_id, meta in rows:
            read[session_id] = meta.last_activity_at
            if meta.last_activity_at >= self.since:
                self.recent.add(session_id)
        while len(read) > kept:
            read.popitem(last=False)
            self._all = False


# rows before the offset reached that a page re-reads (at most a batch): as many
# deletions between two pages as it tolerates before it must look further back
OVERLAP = 32
MAX_BACK_PAGES = 8  # how far back (in batches) a page looks for rows it read
