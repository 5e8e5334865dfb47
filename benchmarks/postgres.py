"""The shared PostgreSQL server: is it there, and one schema per variant, dropped after.

Every table this harness makes lives in a schema named ``swbench_<run id>_...``;
cleanup drops exactly those schemas (the parent drops any a crashed section left).
"""

from __future__ import annotations

import psycopg

from .settings import KEY_ROOT, Settings


def unavailable_reason(url: str) -> str | None:
    """``None`` when PostgreSQL at ``url`` accepts a connection, else why not."""
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error as error:
        return f"PostgreSQL at {url} unreachable ({error})"
    return None


def server_version(url: str) -> str:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return "?"
    return str(row[0]) if row else "?"


def run_schema_prefix(settings: Settings) -> str:
    return f"{KEY_ROOT}_{settings.run_id}_"


def schema(settings: Settings, variant: str) -> str:
    """The schema owned by ``variant`` in this section of this run (made here)."""
    name = f"{run_schema_prefix(settings)}{settings.section}_{variant.replace('-', '_')}"
    with psycopg.connect(settings.postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
    return name


def drop_schemas(url: str, prefix: str) -> int:
    """Drop every schema whose name starts with ``prefix`` (this run's); how many."""
    if not prefix.startswith(KEY_ROOT + "_") or len(prefix) <= len(KEY_ROOT) + 2:
        raise ValueError(f"refusing to drop schemas under {prefix!r}")
    with psycopg.connect(url, autocommit=True) as connection:
        names = [
            str(row[0])
            for row in connection.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
            )
        ]
        for name in names:
            connection.execute(f"DROP SCHEMA {name} CASCADE")
    return len(names)
