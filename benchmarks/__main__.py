"""``python -m benchmarks``: every section, each in its own subprocess, then cleanup.

With ``--section`` it runs that one section in this process (what the parent
does for each). Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import postgres, report
from .redis_keys import delete_prefix, server_version, unavailable_reason
from .settings import Settings, parse_args

SECTIONS = ("asgi", "wsgi", "manage", "encryption", "memory")
REPO_ROOT = Path(__file__).resolve().parent.parent  # where "-m benchmarks" resolves


def run_section(section: str, settings: Settings) -> None:
    if section == "asgi":
        from . import run_asgi

        run_asgi.main(settings)
    elif section == "wsgi":
        from . import run_wsgi

        run_wsgi.main(settings)
    elif section == "encryption":
        from . import encryption

        encryption.section(settings)
    elif section == "memory":
        from . import redis_memory

        redis_memory.section(settings)
    else:
        from . import manage

        manage.main(settings)


def run_all(settings: Settings) -> int:
    """Run each section in a fresh interpreter; return the worst exit status."""
    redis_reachable = unavailable_reason(settings.redis_url) is None
    version = server_version(settings.redis_url) if redis_reachable else "unreachable"
    pg_version = postgres.server_version(settings.postgres_url)
    print(report.header(settings, version, pg_version) + "\n", flush=True)
    status = 0
    try:
        for section in SECTIONS:
            argv = [sys.executable, "-m", "benchmarks", *settings.child_argv(section)]
            code = subprocess.run(argv, check=False, cwd=REPO_ROOT).returncode
            if code:
                print(f"\n> section {section} failed (exit status {code}); see stderr\n")
            status = max(status, code)
    finally:
        if postgres.unavailable_reason(settings.postgres_url) is None:
            prefix = postgres.run_schema_prefix(settings)
            dropped = postgres.drop_schemas(settings.postgres_url, prefix)
            print(f"cleanup: dropped {dropped} leftover schemas {prefix}*", file=sys.stderr)
        if redis_reachable:  # the sections clean up after themselves; this catches crashes
            left = delete_prefix(settings.redis_url, settings.run_prefix())
            print(
                f"cleanup: deleted {left} leftover keys under {settings.run_prefix()}*",
                file=sys.stderr,
            )
    return status


def main() -> int:
    settings, section = parse_args()
    if section is None:
        return run_all(settings)
    run_section(section, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
