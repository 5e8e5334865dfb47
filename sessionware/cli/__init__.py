"""The ``sessionware`` command (``pip install 'sessionware[cli]'``).

``app`` holds the command and its ``sessions`` and ``audit`` commands (``--store`` URLs
go through ``sessionware.stores.urls``), ``types`` the ``types`` commands, ``durations``
parses ``7d``-style durations, ``output`` prints tables and JSON.
"""

from __future__ import annotations

from ..errors import missing_extra

try:
    import click  # noqa: F401
    import rich  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_extra("the sessionware command", "cli") from error

from .app import cli
from .types import types

cli.add_command(types)


def main() -> None:
    """The console script's entry point."""
    cli(prog_name="sessionware")


__all__ = ["cli", "main"]
