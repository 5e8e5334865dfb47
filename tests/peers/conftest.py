"""The peers' behaviours run on every store a deployment would use: memory and Redis."""

from __future__ import annotations

from ..shells import store

__all__ = ["store"]
