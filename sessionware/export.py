"""What the management API hands out: store records as SessionInfo, AuditEntry and JSON.

Pure functions and plain types, no I/O. Times become aware UTC datetimes
(``SessionInfo``, ``AuditEntry``) or ISO-8601 UTC strings (an export's
metadata, ``null`` when unset). In an exported payload each typed value becomes
the JSON form an operator's tooling expects:

=====================  ============================================================
Python value           JSON
=====================  ============================================================
datetime, date, time   ISO-8601 string (a datetime keeps its UTC offset, or none)
timedelta              seconds, a number (``total_seconds()``)
bytes                  base64 string (standard alphabet, padded)
Decimal, UUID          string (``str(value)``)
tuple, list            array
set, frozenset         array, sorted when its items can be compared
float NaN / infinity   string (``"nan"``, ``"inf"``, ``"-inf"``): JSON has no such number
int too long for str   string, its ``hex()``: over ``sys.get_int_max_str_digits()`` digits
=====================  ============================================================
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from . import codec, devices
from .devices import DeviceRecord
from .stores.base import ACTIVE, REVOKED, AuditRecord, Meta, Query, by_end_user

JSON = Any  # None | bool | int | float | str | list[JSON] | dict[str, JSON]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session's metadata, never its payload. Sizes are bytes of encoded payload;
    ``expires_at`` is ``None`` for a durable session; ``ended_at`` and
    ``revoked_by`` are ``None`` while it is active."""

    id: str
    user: str | None
    email: str | None
    app: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: dt.datetime
    expires_at: dt.datetime | None
    ended_at: dt.datetime | None
    revoked_by: str | None
    attribute_count: int
    current_size_bytes: int
    max_size_bytes: int
    device: DeviceRecord | None = None  # where it was created and last used, if recorded


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a listing; ``page`` is 0-based, ``total_pages`` is 0 when nothing matched."""

    items: list[SessionInfo]
    page: int
    page_size: int
    total_items: int
    total_pages: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One logged action: ``action`` is one of ``management.AUDIT_ACTIONS`` (``"reveal"``,
    ``"export"``, ``"revoke"``, ``"ttl"``, ``"refresh-reuse"``, ``"type"``); an export and a
    session type's change name no session (the reason says how many, or what changed).

    ``by_end_user``: an end user's (or an API client's) own action, as the audit log
    keeps them apart (a ``revoke`` from "my sessions", a refresh token's reuse);
    readers show it beside the actor, so that no operator's name passes for one."""

    at: dt.datetime
    actor: str
    action: str
    session_id: str | None
    reason: str | None
    by_end_user: bool = False


def utc(timestamp: float) -> dt.datetime:
    """Epoch seconds as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)


def _maybe_utc(timestamp: float | None) -> dt.datetime | None:
    return None if timestamp is None else utc(timestamp)


def session_info(session_id: str, meta: Meta) -> SessionInfo:
    """The public view of a store's ``(id, meta)``."""
    return SessionInfo(
        id=session_id,
        user=meta.user,
        email=meta.email,
        app=meta.app,
        status=meta.status,
        created_at=utc(meta.created_at),
        updated_at=utc(meta.updated_at),
        last_activity_at=utc(meta.last_activity_at),
        expires_at=_maybe_utc(meta.expires_at),
        ended_at=_maybe_utc(meta.ended_at),
        revoked_by=meta.revoked_by,
        attribute_count=meta.attribute_count,
        current_size_bytes=meta.size_bytes,
        max_size_bytes=meta.max_size_bytes,
        device=devices.parse(meta.device),
    )


def session_page(query: Query, rows: list[tuple[str, Meta]], total: int) -> SessionPage:
    """The listing page a store answered for ``query``."""
    items = [session_info(session_id, meta) for session_id, meta in rows]
    limit = query.limit
    return SessionPage(items, query.offset // limit, limit, total, math.ceil(total / limit))


def audit_entry(record: AuditRecord) -> AuditEntry:
    """A store's audit record as the manager shows it."""
    return AuditEntry(
        utc(record.at),
        record.actor,
        record.action,
        record.session_id,
        record.reason,
        by_end_user(record),
    )


def decode_payload(data: Mapping[str, bytes] | None) -> dict[str, Any]:
    """A record's data decoded, ``{}`` when it is not live; CorruptRecord for bad bytes."""
    return {} if data is None else {key: codec.decode(raw) for key, raw in data.items()}


def to_json(value: Any) -> JSON:
    """``value`` (anything the codec stores) as plain JSON data; TypeError for other types."""
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:  # one stored under a higher limit than this process's has no decimal text
        return value if codec.decimal_fits(value) else hex(value)
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is dict:
        return {key: to_json(inner) for key, inner in value.items()}
    if kind in (list, tuple):
        return [to_json(inner) for inner in value]
    if kind in (set, frozenset):
        return _sorted([to_json(inner) for inner in value])
    if kind in (dt.datetime, dt.date, dt.time):
        return value.isoformat()
    if kind is dt.timedelta:
        return value.total_seconds()
    if kind is bytes:
        return base64.b64encode(value).decode("ascii")
    if kind in (Decimal, uuid.UUID) or (codec.MARKUP is not None and kind is codec.MARKUP):
        return str(value)
    raise TypeError(f"cannot export a {kind.__qualname__} as JSON: sessions never hold one")


def _sorted(items: list[JSON]) -> list[JSON]:
    """Set items in a stable order: natural order, else by their JSON text."""
    try:
        return sorted(items)
    except TypeError:  # mixed or unorderable items (dicts, str with int, ...)
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def export_item(
    session_id: str, meta: Meta, values: Mapping[str, Any] | None, *, include_metadata: bool
) -> dict[str, JSON]:
    """One exported session, in the data-only or the with-metadata shape, given its
    decoded ``values`` (``None``: no longer live, an empty payload)."""
    payload = to_json(dict(values or {}))
    if not include_metadata:
        return {"appId": meta.app, "userEmail": meta.email, "payload": payload}
    return {**info_json(session_info(session_id, meta)), "payload": payload}


def as_now(info: SessionInfo) -> SessionInfo:
    """A session as it is now, for people (the console, the command, exports).

    The store keeps an ended session's last metadata; what is true now is no
    payload (0 attributes, 0 bytes; the largest size stays, as history), and for a
    revoked session no expiry ahead (its end is ``ended_at``). An expired session
    keeps ``expires_at``: that is when it ended.
    """
    if info.status == ACTIVE:
        return info
    expires_at = None if info.status == REVOKED else info.expires_at
    return replace(info, attribute_count=0, current_size_bytes=0, expires_at=expires_at)


def info_json(info: SessionInfo) -> dict[str, JSON]:
    """A session's metadata in the export's with-metadata shape (no payload), as it is
    now (:func:`as_now`): ``endedAt`` is when an ended session ended."""
    info = as_now(info)
    return {
        "id": info.id,
        "userIdentifier": info.user,
        "userEmail": info.email,
        "revokedBy": info.revoked_by,
        "appId": info.app,
        "createdAt": info.created_at.isoformat(),
        "expiresAt": None if info.expires_at is None else info.expires_at.isoformat(),
        "status": info.status,
        "currentDataSizeBytes": info.current_size_bytes,
        "maxDataSizeBytes": info.max_size_bytes,
        "lastActivityAt": info.last_activity_at.isoformat(),
        "updatedAt": info.updated_at.isoformat(),
        "endedAt": None if info.ended_at is None else info.ended_at.isoformat(),
        "attributeCount": info.attribute_count,
        "device": _device_json(info.device),
    }


def _device_json(record: devices.DeviceRecord | None) -> JSON:
    """A device record in an export: user agents, readable labels, addresses."""
    if record is None:
        return None
    return {
        name: {"userAgent": device.user_agent, "label": device.label, "ip": device.ip}
        for name, device in (("first", record.first), ("last", record.last))
    }


def page_json(page: SessionPage) -> dict[str, JSON]:
    """A listing page in the export-with-metadata shape, without payloads."""
    return _paged([info_json(info) for info in page.items], page)


def _paged(items: list[JSON], page: SessionPage) -> dict[str, JSON]:
    return {
        "items": items,
        "page": page.page,
        "pageSize": page.page_size,
        "totalItems": page.total_items,
        "totalPages": page.total_pages,
    }


def stream_document(items: Iterable[dict[str, JSON]]) -> Iterator[str]:
    """``items`` (all of them, one page) as the export's JSON document, in chunks of text.

    Items are written as they come, so memory stays bounded whatever their
    number; the counts follow them (JSON objects are unordered).
    """
    count = 0
    yield '{"items": ['
    for item in items:
        yield (",\n" if count else "\n") + json.dumps(item, ensure_ascii=False)
        count += 1
    yield f'\n], "page": 0, "pageSize": {count}, "totalItems": {count}, '
    yield f'"totalPages": {1 if count else 0}}}\n'


def exported_rows(
    rows: list[tuple[str, Meta]], *, include_metadata: bool
) -> list[tuple[str, Meta]]:
    """The rows an export writes: every one with metadata; in a data-only export, the
    active ones (the others have no payload). What its audit entry counts."""
    return rows if include_metadata else [row for row in rows if row[1].status == ACTIVE]


def export_document(
    query: Query,
    rows: list[tuple[str, Meta]],
    total: int,
    payloads: list[dict[str, Any] | None],
    *,
    include_metadata: bool,
) -> dict[str, JSON]:
    """The export of one listing page, given the decoded values read for each of its rows.

    Data-only exports keep the active rows (see :func:`exported_rows`)."""
    items = [
        export_item(session_id, meta, data, include_metadata=include_metadata)
        for (session_id, meta), data in zip(rows, payloads, strict=True)
        if include_metadata or meta.status == ACTIVE
    ]
    return _paged(items, session_page(query, [], total))
