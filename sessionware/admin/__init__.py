"""The browser pages over the management API: the operators' console and each
user's own "my sessions" page.

``AdminConsole(store, authorize=...)`` and ``MySessions(store, user=...)`` are
ASGI apps (mount them with Starlette's ``Mount``); ``.wsgi()`` gives the same
pages to WSGI servers. They need the ``admin`` extra (Jinja2).
"""

from __future__ import annotations

from .console import AdminConsole, Operator
from .mine import MySessions

__all__ = ["AdminConsole", "MySessions", "Operator"]
