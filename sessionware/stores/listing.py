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
