"""``benchmarks/redis_clients.py --quick``: it runs, and prints a row per installed client;
``benchmarks/redis_read_ladder.py --quick``: a row per rung.

The optional libraries (coredis, valkey-glide) are expected only when installed:
without them the run says they were skipped, and the test does not ask for them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.redis_clients import WORKLOADS, candidate_names

from .conftest import REDIS_URL, redis_or_skip

ROOT = Path(__file__).resolve().parent.parent
CELL = r"\d+\.\d / \d+\.\d"


def _quick_run(module: str) -> str:
    """``python -m <module> --quick`` against the test server; its standard output."""
    redis_or_skip()
    command = [sys.executable, "-m", module, "--quick", "--url", REDIS_URL]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.redis
def test_quick_run_prints_a_row_per_installed_client() -> None:
    stdout = _quick_run("benchmarks.redis_clients")
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("client"))
    assert all(workload in header for workload in WORKLOADS)
    names = candidate_names()
    assert {"redis-py sync hiredis", "redis-py async python", "hiredis floor async"} <= set(names)
    for name in names:
        row = next((line for line in lines if line.startswith(name + " ")), None)
        assert row is not None, f"no row for {name}:\n{stdout}"
        # A, B and C are measured for every client; D (the store's load) where it applies
        assert len(re.findall(CELL, row)) >= 3, row
    assert re.search(r"\d+ keys of bench-clients:[0-9a-f]{8}: deleted", stdout)
    assert "Sentinel" in stdout  # the feature matrix


@pytest.mark.redis
def test_the_read_ladder_prints_every_rung_and_cleans_up() -> None:
    from benchmarks.redis_read_ladder import RUNGS

    stdout = _quick_run("benchmarks.redis_read_ladder")
    lines = stdout.splitlines()
    for index, name in enumerate(RUNGS):
        row = next((line for line in lines if line.startswith(f"| {name} |")), None)
        assert row is not None, f"no row for {name}:\n{stdout}"
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        wall, added, cpu = float(cells[1]), cells[2], float(cells[4])
        assert wall > 0 and cpu > 0, row
        # rungs 2-5 say what they add to the one above; the others stand alone
        assert bool(re.fullmatch(r"[+-]\d+\.\d", added)) == (1 <= index <= 4), row
    # exactly the keys it made: the value, the session's data and meta, and its
    # index entries (activity, end, info, its user's)
    assert re.search(r"\(\d+ s; 7 keys of bench-ladder:[0-9a-f]{8}: deleted\)", stdout)
