"""Session types: kinds of sessions defined at run time and kept in the store.

* ``period.py``: lifetime units and calendar arithmetic;
* ``schema.py``: both schema forms, compiled once, and value checks;
* ``selector.py``: ``$Session{a}{b}``, the field naming the user;
* ``model.py``: :class:`SessionType`;
* ``registry.py``: the store-backed registry (``manager.types``) and the
  per-middleware cache (:class:`BoundType`);
* ``access.py``: ``session_of(request, tag)``, a typed session in a request that
  has several.
"""

from __future__ import annotations

from .model import FRAMEWORK_KEYS, SessionType
from .registry import CACHE_SECONDS, AsyncTypeRegistry, BoundType, TypeRegistry

__all__ = [
    "CACHE_SECONDS",
    "FRAMEWORK_KEYS",
    "AsyncTypeRegistry",
    "BoundType",
    "SessionType",
    "TypeRegistry",
]
