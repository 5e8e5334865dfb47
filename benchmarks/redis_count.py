"""Counting Redis round trips and commands, client-side, for every redis-py client.

Every write to the Redis socket goes through ``send_packed_command`` of
``redis.connection.AbstractConnection`` (sync) or
``redis.asyncio.connection.AbstractConnection`` (async), or sessionware's lean
connections' ``WireClient.transmit`` and ``SyncWireClient.transmit``
(``sessionware/stores/redis_wire*.py``), whether it carries one
command or a whole pipeline or MULTI/EXEC block. So one call is one round trip,
and the commands are counted by walking the RESP arrays in the packed bytes.
MULTI and EXEC are counted as commands (they are sent); a script call
(EVALSHA) is one command however much it does on the server.

The patch costs time, so it is installed only for a separate counting pass,
never while timing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio.connection
import redis.connection

from sessionware.stores.redis_wire import WireClient
from sessionware.stores.redis_wire_sync import SyncWireClient


@dataclass(slots=True)
class Counter:
    """Round trips and commands seen since the last :meth:`reset`."""

    round_trips: int = 0
    commands: int = 0

    def reset(self) -> None:
        self.round_trips = 0
        self.commands = 0

    def record(self, packed: bytes | str | Iterable[bytes | memoryview]) -> None:
        self.round_trips += 1
        self.commands += count_commands(_as_bytes(packed))


def _as_bytes(packed: bytes | str | Iterable[bytes | memoryview]) -> bytes:
    if isinstance(packed, str):
        return packed.encode()
    if isinstance(packed, bytes):
        return packed
    return b"".join(packed)


def count_commands(packed: bytes) -> int:
    """How many RESP command arrays (``*<n>`` then n bulk strings) ``packed`` holds."""
    count = position = 0
    while position < len(packed):
        end = packed.index(b"\r\n", position)
        arguments = int(packed[position + 1 : end])
        position = end + 2
        for _ in range(arguments):
            end = packed.index(b"\r\n", position)
            position = end + 2 + int(packed[position + 1 : end]) + 2
        count += 1
    return count


@contextmanager
def counting() -> Iterator[Counter]:
    """Patch both redis-py connection classes to feed one :class:`Counter`; undo on exit."""
    counter = Counter()
    sync_class = redis.connection.AbstractConnection
    async_class = redis.asyncio.connection.AbstractConnection
    sync_send = sync_class.send_packed_command
    async_send = async_class.send_packed_command

    def counted_sync_send(self: Any, command: Any, check_health: bool = True) -> None:
        counter.record(command)
        sync_send(self, command, check_health)  # type: ignore[no-untyped-call]

    async def counted_async_send(self: Any, command: Any, check_health: bool = True) -> None:
        counter.record(command)
        await async_send(self, command, check_health)

    wire_send, sync_wire_send = WireClient.transmit, SyncWireClient.transmit

    def counted_wire_send(self: Any, protocol: Any, packed: bytes) -> None:
        counter.record(packed)
        wire_send(self, protocol, packed)

    def counted_sync_wire_send(self: Any, conn: Any, packed: bytes) -> None:
        counter.record(packed)
        sync_wire_send(self, conn, packed)

    sync_class.send_packed_command = counted_sync_send  # type: ignore[method-assign]
    async_class.send_packed_command = counted_async_send  # type: ignore[method-assign]
    WireClient.transmit = counted_wire_send  # type: ignore[method-assign]
    SyncWireClient.transmit = counted_sync_wire_send  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        sync_class.send_packed_command = sync_send  # type: ignore[method-assign]
        async_class.send_packed_command = async_send  # type: ignore[method-assign]
        WireClient.transmit = wire_send  # type: ignore[method-assign]
        SyncWireClient.transmit = sync_wire_send  # type: ignore[method-assign]
