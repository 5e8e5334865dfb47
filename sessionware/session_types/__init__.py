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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access import session_of
    from .model import FRAMEWORK_KEYS, SessionType
    from .registry import CACHE_SECONDS, AsyncTypeRegistry, BoundType, TypeRegistry

__all__ = [
    "CACHE_SECONDS",
    "FRAMEWORK_KEYS",
    "AsyncTypeRegistry",
    "BoundType",
    "SessionType",
    "TypeRegistry",
    "session_of",
]

# imported on first use: a middleware without session_type never loads the schema machinery
_LAZY = {
    "CACHE_SECONDS": ".registry",
    "FRAMEWORK_KEYS": ".model",
    "AsyncTypeRegistry": ".registry",
    "BoundType": ".registry",
    "SessionType": ".model",
    "TypeRegistry": ".registry",
    "session_of": ".access",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)
