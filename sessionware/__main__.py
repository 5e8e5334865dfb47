"""``python -m sessionware``: the ``sessionware`` command."""

from sessionware.cli import main

main()
