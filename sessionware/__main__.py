"""``python -m sessionware`` and the ``sessionware`` console script.

The command's extra (``pip install 'sessionware[cli]'``: click, rich) is checked
here, so that without it the command says which extra to install in one line
and exits 2 (usage), as for every other missing extra, rather than a traceback.
"""

from __future__ import annotations

import sys

from sessionware.errors import MissingExtra


def run() -> None:
    """The console script's entry point."""
    try:
        from sessionware.cli import main
    except MissingExtra as error:
        sys.stderr.write(f"Error: {error}\n")
        raise SystemExit(2) from None
    main()


if __name__ == "__main__":
    run()
