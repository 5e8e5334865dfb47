"""The listing rules every store follows, so that every store lists alike.

A store may use an index instead (Redis does for the default sort), but it
must give the same rows in the same order as :func:`matches` and
:func:`sort_key` would.
"""

from __future__ import annotations

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
    a time, that skips no session used while it runs: exports and analytics.

    Such a session moves to the listing's front, over the offset still to read. So
    once the listing is read to its end, the walk reads the front again, down to a
    session not used since it began (give or take the activity index's lag,
    :data:`FRONT_SLACK_SECONDS`), leaving out what it read there already. As offsets
    shift, a session may come out twice; one deleted meanwhile (a logout) shifts the
    rest back, so a neighbour of it may be missed (the stores page by offset).
    Memory: the ids of the sessions used since the walk began, not of every session.
    """

    def __init__(self, started: float, batch: int) -> None:
        self.since = started - FRONT_SLACK_SECONDS
        self.batch = batch
        self.query: Query | None = Query(limit=batch)
        self.front = False  # reading the front again (no progress: see the export)
        self.recent: set[str] = set()  # read with an activity after ``since``

    def next_query(self) -> Query | None:
        """The page to read next; ``None`` once the walk is done."""
        return self.query

    def fresh(self, rows: list[tuple[str, Meta]]) -> list[tuple[str, Meta]]:
        """The rows of the page just read that the walk has not given yet; moves on."""
        query = self.query
        assert query is not None
        short = len(rows) < query.limit
        if self.front:
            fresh = [  # used since the walk began, and not read since then
                (i, meta)
                for i, meta in rows
                if meta.last_activity_at >= self.since and i not in self.recent
            ]
            ends = short or rows[-1][1].last_activity_at < self.since
        else:
            fresh = rows
            self.recent.update(i for i, meta in rows if meta.last_activity_at >= self.since)
            ends = short and query.offset == 0  # one page held it all: nothing jumped it
        if ends:
            self.query = None
        elif short:  # the end of the listing: now its front again
            self.front, self.query = True, Query(limit=self.batch)
        else:
            self.query = Query(offset=query.offset + query.limit, limit=self.batch)
        return fresh
