"""Markdown output: the run header and one table per measurement."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata

from .scenarios import Scenario
from .settings import Settings

PACKAGES: tuple[str, ...] = ("sessionware", "starlette", "starsessions", "flask")
PACKAGES += ("flask-session", "werkzeug", "redis", "msgpack", "psycopg", "sqlalchemy")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def header(settings: Settings, redis_version: str, postgres_version: str = "?") -> str:
    """Title, date, interpreter, machine, package versions and run sizes."""
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return "\n".join(
        [
            "# sessionware benchmarks",
            "",
            f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}",
            f"- Python {platform.python_version()} ({sys.implementation.name}), "
            f"{platform.system()} {platform.machine()}",
            f"- machine: {_cpu_model()}, {os.cpu_count()} cores",
            f"- packages: {versions}",
            f"- Redis server {redis_version} at {settings.redis_url}",
            f"- PostgreSQL server {postgres_version} at {settings.postgres_url}",
            f"- runs: median of {settings.reps} repetitions of {settings.requests} requests "
            f"per cell{' (--quick)' if settings.quick else ''}; run id {settings.run_id}",
        ]
    )


def timing_table(
    names: Sequence[str],
    scenarios: Sequence[Scenario],
    medians: dict[tuple[str, Scenario], float],
    baseline: str | None,
) -> str:
    """µs per request (median) and the ratio to ``baseline`` for each scenario."""
    rows = []
    for name in names:
        row = [name]
        for scenario in scenarios:
            micros = medians[(name, scenario)]
            cell = f"{micros:.1f}"
            if baseline is not None:
                cell += f" ({micros / medians[(baseline, scenario)]:.2f}x)"
            row.append(cell)
        rows.append(row)
    return table(["variant", *(s.label for s in scenarios)], rows)


def redis_table(
    names: Sequence[str],
    scenarios: Sequence[Scenario],
    counts: dict[tuple[str, Scenario], tuple[float, float]],
) -> str:
    """Redis round trips / commands per request for each scenario."""
    rows = [
        [name, *(f"{counts[(name, s)][0]:g} / {counts[(name, s)][1]:g}" for s in scenarios)]
        for name in names
    ]
    return table(["variant", *(s.label for s in scenarios)], rows)


def race_table(results: dict[str, list[int]], n: int) -> str:
    """Keys surviving out of ``n``: median, min and max over the repetitions."""
    rows = [
        [
            name,
            f"{statistics.median(values):g} / {n}",
            str(min(values)),
            str(max(values)),
            str(len(values)),
        ]
        for name, values in results.items()
    ]
    return table(["variant", "keys surviving (median)", "min", "max", "runs"], rows)


def notes(lines: Sequence[str]) -> str:
    return "\n".join(f"> {line}" for line in lines)
