"""The management API section: listing and finding sessions among many.

Measures ``SessionManager(store).list(sort="last_activity", page=0,
page_size=100)`` (page 1 of every session, most recently active first) and
``.user_sessions(user)`` (one user's sessions) over ``settings.manage_sessions``
sessions, for each sessionware store available. Sessions are written through
the store's public ``create``; every user has :data:`SESSIONS_PER_USER` of them.
Skipped, with a printed note, while ``sessionware.SessionManager`` does not exist.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from . import report
from . import stores as sql_stores
from .redis_keys import delete_prefix, unavailable_reason
from .scenarios import Unavailable
from .settings import Settings

SESSIONS_PER_USER = 5
TARGET_USER = "user42"
PAGE_SIZE = 100


def _stores(
    settings: Settings, notes: list[str], removers: list[Callable[[], None]]
) -> list[tuple[str, Any]]:
    from sessionware import MemoryStore

    stores: list[tuple[str, Any]] = [("MemoryStore", MemoryStore())]
    for name, make in (
        ("SQLiteStore", sql_stores.sqlite_store),
        ("PostgresStore", lambda: sql_stores.postgres_store(settings, "manage")),
    ):
        try:
            store, remove = make()
        except Unavailable as error:
            notes.append(f"skipped {name}: {error}")
            continue
        stores.append((name, store))
        removers.append(remove)
    reason = unavailable_reason(settings.redis_url)
    if reason:
        notes.append(f"skipped RedisStore: {reason}")
        return stores
    try:
        from sessionware import RedisStore
    except ImportError as error:
        notes.append(f"skipped RedisStore: not importable: {error}")
        return stores
    prefix = settings.prefix("sessionware-redis")
    stores.append(("RedisStore", RedisStore.from_url(settings.redis_url, prefix=prefix)))
    return stores


def populate(store: Any, count: int, seed: int = 6) -> float:
    """Create ``count`` live sessions through ``store.create``; return the seconds it took."""
    from sessionware.codec import encode
    from sessionware.stores.base import Meta

    rng = random.Random(seed)
    users = max(1, count // SESSIONS_PER_USER)
    now = time.time()
    start = time.perf_counter()
    for index in range(count):
        user = f"user{index % users}"
        active = now - rng.uniform(0, 86_400)
        meta = Meta(
            created_at=active - rng.uniform(0, 86_400),
            updated_at=active,
            last_activity_at=active,
            expires_at=now + 86_400,
            user=user,
            attribute_count=1,
        )
        session_id = hashlib.sha256(f"bench-session-{index}".encode()).hexdigest()
        store.create(session_id, {"user": encode("user", user)}, meta)
    return time.perf_counter() - start


def _timed(call: Callable[[Any], Any], manager: Any) -> tuple[float, Any]:
    """Milliseconds taken by ``call(manager)``, and its result."""
    start = time.perf_counter()
    result = call(manager)
    return (time.perf_counter() - start) * 1e3, result


def _size(result: Any) -> str:
    items = getattr(result, "items", result)  # a page object, or a plain list
    try:
        return str(len(items))
    except TypeError:
        return "?"


def measure(stores: list[tuple[str, Any]], reps: int, notes: list[str]) -> list[list[str]]:
    """Median milliseconds of each call per store, calls and stores interleaved."""
    from sessionware import SessionManager

    managers: dict[str, Any] = {}
    for name, store in stores:
        try:
            managers[name] = SessionManager(store)
        except Exception as error:  # e.g. a store without the management operations yet
            notes.append(f"{name}: SessionManager(store) raised {error!r}")
    calls: dict[str, Callable[[Any], Any]] = {
        "list": lambda m: m.list(sort="last_activity", page=0, page_size=PAGE_SIZE),
        "user_sessions": lambda m: m.user_sessions(TARGET_USER),
    }
    times: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], str] = {}
    failed: set[tuple[str, str]] = set()
    for _ in range(reps):
        for call_name, call in calls.items():
            for name, manager in managers.items():
                key = (name, call_name)
                if key in failed:
                    continue
                try:
                    millis, result = _timed(call, manager)
                except Exception as error:  # an unfinished API must not stop the run
                    notes.append(f"{name}: {call_name} raised {error!r}")
                    failed.add(key)
                    continue
                times.setdefault(key, []).append(millis)
                sizes[key] = _size(result)
    rows = []
    for name, _ in stores:
        row = [name]
        for call_name in calls:
            values = times.get((name, call_name))
            row.append(
                f"{statistics.median(values):.2f} ({sizes[(name, call_name)]} rows)"
                if values
                else "not measured (see notes)"
            )
        rows.append(row)
    return rows


def main(settings: Settings) -> None:
    title = f"## Management API: {settings.manage_sessions:,} sessions"
    try:
        from sessionware import SessionManager  # noqa: F401
    except ImportError as error:
        print(f"{title}\n\n{report.notes([f'skipped: SessionManager not importable: {error}'])}\n")
        return
    notes: list[str] = []
    removers: list[Callable[[], None]] = []
    stores = _stores(settings, notes, removers)
    try:
        for name, store in stores:
            print(f"management: populating {name}", file=sys.stderr, flush=True)
            seconds = populate(store, settings.manage_sessions)
            notes.append(f"{name}: {settings.manage_sessions:,} x create took {seconds:.1f} s")
        rows = measure(stores, settings.reps, notes)
    finally:
        for remove in removers:
            remove()
        for name, store in stores:
            close = getattr(store, "close", None)
            if close is not None:
                close()
            if name == "RedisStore":
                prefix = settings.prefix("sessionware-redis")
                deleted = delete_prefix(settings.redis_url, prefix)
                print(f"  .. cleanup: deleted {deleted} keys under {prefix}*", file=sys.stderr)
    headers = [
        "store",
        f"list page 1 by last activity, ms (median of {settings.reps})",
        f"user_sessions, ms (median of {settings.reps})",
    ]
    print("\n".join([title, "", report.notes(notes), "", report.table(headers, rows), ""]))
