"""Analytics over a session listing: what the console's charts draw.

Pure: :class:`Tally` takes the listing a page at a time (it says which
:class:`~sessionware.stores.base.Query` to run next: an
:class:`~sessionware.stores.listing.ActivityScan`, which also reads the sessions
used while it runs) and keeps counters, and the ids it counted (about 100 bytes a
session), so that a session whose row the shifting pages show twice counts once.
Everything is derived from session metadata (never payloads):

* a session counts as active from ``created_at`` until ``ended_at`` (revoked,
  expired, logged-out records leave no trace at all), else until ``expires_at``
  if that has passed, else until now;
* concurrency is sampled each minute over the window, and at ``now``;
* payload sizes are of active sessions, in ten bins up to ``max_payload_bytes``
  (the middleware's limit, passed in: stores do not know it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass

from .errors import ConfigurationError
from .stores.base import ACTIVE, Meta, Query
from .stores.listing import ActivityScan

DEFAULT_MAX_PAYLOAD_BYTES = 65536
SCAN_PAGE = 1000  # listing rows read per store call
SIZE_BINS = 10
MAX_HOURS = 24 * 31


@dataclass(frozen=True, slots=True)
class Analytics:
    """Counts over a window of ``len(hours)`` hours ending at ``now`` (aware UTC).

    ``hours[i]`` starts the i-th hour; ``active[i]`` is the number of sessions
    active at its end, ``new[i]`` how many were created during it.
    ``size_bins[i]`` counts active sessions whose payload is at most
    ``(i + 1) / 10`` of ``max_payload_bytes`` (and above the previous bound).
    """

    now: dt.datetime
    hours: list[dt.datetime]
    active: list[int]
    new: list[int]
    concurrent_now: int
    concurrent_peak: int
    peak_at: dt.datetime
    size_bins: list[int]
    max_payload_bytes: int
    largest_bytes: int
    by_app: dict[str, int]
    by_status: dict[str, int]
    total: int


class Tally:
    """Accumulates :class:`Analytics` from listing pages; see the module docstring."""

    def __init__(self, now: float, hours: int, max_payload_bytes: int) -> None:
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
            raise ConfigurationError(f"hours must be an int from 1 to {MAX_HOURS}, not {hours!r}")
        if isinstance(max_payload_bytes, bool) or not isinstance(max_payload_bytes, int):
            raise ConfigurationError(f"max_payload_bytes must be an int, not {max_payload_bytes!r}")
        if max_payload_bytes < 1:
            raise ConfigurationError(f"max_payload_bytes must be >= 1, not {max_payload_bytes}")
        self.now = now
        self.max_payload_bytes = max_payload_bytes
        self.end = math.floor(now / 3600) * 3600 + 3600  # the window ends at the next hour
        self.start = self.end - hours * 3600
        self.minutes = [0] * (hours * 60 + 2)  # concurrency deltas, one per minute sample
        self.new = [0] * hours
        self.sizes = [0] * SIZE_BINS
        self.largest = 0
        self.apps: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.scan = ActivityScan(now, SCAN_PAGE)
        self.counted: set[str] = set()
        self.live = 0  # active right now: the last point of every series

    def next_query(self) -> Query | None:
        """The next page to read, ``None`` once the listing is exhausted."""
        return self.scan.next_query()

    def add(self, rows: list[tuple[str, Meta]]) -> None:
        """Count the page of ``(id, meta)`` rows just read, each session once."""
        for session_id, meta in self.scan.fresh(rows):
            if session_id not in self.counted:
                self.counted.add(session_id)
                self._count(meta)

    def _count(self, meta: Meta) -> None:
        self.apps[meta.app] += 1
        self.statuses[meta.status] += 1
        if meta.status == ACTIVE:
            self.largest = max(self.largest, meta.size_bytes)
            share = meta.size_bytes / self.max_payload_bytes
            self.sizes[min(SIZE_BINS - 1, max(0, math.ceil(share * SIZE_BINS) - 1))] += 1
        if self.start <= meta.created_at < self.end:
            self.new[int((meta.created_at - self.start) // 3600)] += 1
        ended = meta.ended_at
        if ended is None and meta.expires_at is not None and meta.expires_at <= self.now:
            ended = meta.expires_at
        # active at minute sample k (at start + 60 k) iff created_at <= it < ended
        first = self._sample(meta.created_at)
        after = len(self.minutes) - 1 if ended is None else self._sample(ended)
        self.live += ended is None
        if first < after:
            self.minutes[first] += 1
            self.minutes[after] -= 1

    def _sample(self, moment: float) -> int:
        """The first minute sample at or after ``moment``, clamped to the window."""
        return min(len(self.minutes) - 1, max(0, math.ceil((moment - self.start) / 60)))

    def result(self) -> Analytics:
        """The counts so far."""
        running, series = 0, []
        for delta in self.minutes[:-1]:
            running += delta
            series.append(running)
        now_index = max(0, min(len(series) - 1, math.floor((self.now - self.start) / 60)))
        past = [*series[: now_index + 1], self.live]
        peak = max(past)
        hours = len(self.new)
        return Analytics(
            now=_utc(self.now),
            hours=[_utc(self.start + i * 3600) for i in range(hours)],
            active=[past[min(now_index + 1, (i + 1) * 60)] for i in range(hours)],
            new=list(self.new),
            concurrent_now=self.live,
            concurrent_peak=peak,
            peak_at=_utc(min(self.now, self.start + past.index(peak) * 60)),
            size_bins=list(self.sizes),
            max_payload_bytes=self.max_payload_bytes,
            largest_bytes=self.largest,
            by_app=dict(self.apps.most_common()),
            by_status={status: self.statuses[status] for status in sorted(self.statuses)},
            total=len(self.counted),
        )


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
