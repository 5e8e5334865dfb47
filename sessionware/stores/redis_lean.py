"""How the lean connections (``redis_wire*``) run the store's Lua code.

The flows (``redis_flows``) name scripts by SHA (``EVALSHA``). Over a lean
connection the store calls the same code as Redis functions instead (``FCALL``,
``redis_scripts.LIBRARY``): a function library is loaded once, so a call does
not pay for defining the whole script again (6-8 us of the server's time per
call, measured). Where functions are refused (``FUNCTION LOAD`` denied by an
ACL, say, or ``FCALL`` itself), the store falls back to scripts for good.

A function the server does not know (a restart, a failover, ``FUNCTION FLUSH``)
answers as a missing script does, so the flow loads the library and sends the
calls again, as it does for ``NOSCRIPT``.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions

from .redis_flows import Call
from .redis_scripts import LIBRARY, Script

_MISSING = "No matching script (function not loaded)"  # what redis_flows looks for
# a FUNCTION LOAD refused for a state the server leaves (full at its maxmemory, loading
# its data, a replica, busy with a script) says nothing of whether it takes functions:
# the request fails (StoreUnavailable), and the next one tries functions again
_PASSING = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)
# the same, as redis-py leaves them (a plain ResponseError; the code opens the message):
# busy with a script, too few replicas for min-replicas-to-write, a failing RDB save
_PASSING_CODES = ("BUSY ", "NOREPLICAS ", "MISCONF ")


class Lean:
    """One store's choice between functions and scripts, and the translation."""

    def __init__(self) -> None:
        self.functions = True  # until the server refuses them

    def commands(self, step: list[Call] | Script) -> list[tuple[Any, ...]]:
        """A flow's step as commands: FCALL (or EVALSHA), or the code to load."""
        if isinstance(step, Script):
            if self.functions:
                return [("FUNCTION", "LOAD", "REPLACE", LIBRARY.source)]
            return [("SCRIPT", "LOAD", step.source)]
        if not self.functions:
            return [call.args for call in step]
        functions = LIBRARY.function_of
        return [
            ("FCALL", functions[call.args[1]], *call.args[2:])
            if call.script is not None and call.args[1] in functions
            else call.args
            for call in step
        ]

    def settle(self, step: list[Call] | Script, replies: list[Any]) -> list[Any] | None:
        """The replies as the flow expects them; ``None`` when loading the library was
        refused (functions are off from now on: send the step again)."""
        if isinstance(step, Script):
            failure = replies[0]
            if not isinstance(failure, Exception):
                return replies
            passing = isinstance(failure, _PASSING) or str(failure).startswith(_PASSING_CODES)
            if self.functions and not passing:
                self.functions = False
                return None
            raise failure  # (a passing state, such as a full server: a 503, not scripts)
        if not self.functions:
            return replies
        settled = []
        for call, reply in zip(step, replies, strict=True):
            if call.script is not None and isinstance(reply, Exception):
                message = str(reply)
                if "Function not found" in message:
                    reply = redis.exceptions.NoScriptError(_MISSING)
                elif "'fcall'" in message.lower():  # no permission for it, or no such command
                    self.functions = False  # FCALL refused: the flow sends scripts
                    reply = redis.exceptions.NoScriptError(_MISSING)
            settled.append(reply)
        return settled
