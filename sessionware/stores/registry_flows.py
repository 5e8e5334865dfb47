"""The registry operations (``RegistryStore`` in ``base.py``) as flows, for Redis and SQL.

Redis: one hash per kind, ``P{registry}:<kind>``, field = name, value = document;
the braces keep every kind in one cluster slot. No TTL: documents are
configuration, not sessions.

SQL: the ``P_registry`` table, ``(kind, name) -> document``, created with the
other tables (``sql_flows.schema_statements``); the upsert syntax is shared by
SQLite (3.35+) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .redis_flows import Call, Step, roundtrip
from .sql_flows import Flow as SQLFlow
from .sql_flows import Statement

_REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class RedisRegistry:
    """Registry flows over the hash keys under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, kind: str) -> str:
        return f"{self.prefix}{{registry}}:{kind}"

    def put(
        self, kind: str, name: str, document: bytes, if_absent: bool, replacing: bytes | None
    ) -> Generator[Step, Any, bool]:
        if replacing is not None:  # (a type's change: rare, so a plain EVAL)
            args = (_REPLACE, 1, self.key(kind), name, replacing, document)
            (reply,) = yield from roundtrip([Call(None, ("EVAL", *args))])
            return bool(reply)
        command = "HSETNX" if if_absent else "HSET"
        (reply,) = yield from roundtrip([Call(None, (command, self.key(kind), name, document))])
        return bool(reply) or not if_absent

    def get(self, kind: str, name: str) -> Generator[Step, Any, bytes | None]:
        (reply,) = yield from roundtrip([Call(None, ("HGET", self.key(kind), name))])
        return None if reply is None else bytes(reply)

    def list(self, kind: str) -> Generator[Step, Any, dict[str, bytes]]:
        (reply,) = yield from roundtrip([Call(None, ("HGETALL", self.key(kind)))])
        if isinstance(reply, list):  # RESP2 without a response callback: a flat list
            reply = dict(zip(reply[::2], reply[1::2], strict=True))
        return {_text(name): bytes(doc) for name, doc in reply.items()}

    def delete(self, kind: str, name: str) -> Generator[Step, Any, bool]:
        (reply,) = yield from roundtrip([Call(None, ("HDEL", self.key(kind), name))])
        return bool(reply)


class SQLRegistry:
    """Registry flows over the table ``table``."""

    def __init__(self, table: str) -> None:
        self.table = table

    def put(
        self, kind: str, name: str, document: bytes, if_absent: bool, replacing: bytes | None
    ) -> SQLFlow[bool]:
        if replacing is not None:
            rows = yield Statement(
                f"UPDATE {self.table} SET document = ? "
                f"WHERE kind = ? AND name = ? AND document = ? RETURNING name",
                (document, kind, name, replacing),
            )
            return bool(rows)
        action = "NOTHING" if if_absent else "UPDATE SET document = excluded.document"
        rows = yield Statement(
            f"INSERT INTO {self.table} (kind, name, document) VALUES (?, ?, ?) "
            f"ON CONFLICT (kind, name) DO {action} RETURNING name",
            (kind, name, document),
        )
        return bool(rows)

    def get(self, kind: str, name: str) -> SQLFlow[bytes | None]:
        rows = yield Statement(
            f"SELECT document FROM {self.table} WHERE kind = ? AND name = ?", (kind, name)
        )
        return bytes(rows[0][0]) if rows else None

    def list(self, kind: str) -> SQLFlow[dict[str, bytes]]:
        rows = yield Statement(
            f"SELECT name, document FROM {self.table} WHERE kind = ? ORDER BY name", (kind,)
        )
        return {str(name): bytes(doc) for name, doc in rows}

    def delete(self, kind: str, name: str) -> SQLFlow[bool]:
        rows = yield Statement(
            f"DELETE FROM {self.table} WHERE kind = ? AND name = ? RETURNING name", (kind, name)
        )
        return bool(rows)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
