"""``benchmarks/redis_clients.py --quick``: it runs, and prints a row per installed client.

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


@pytest.mark.redis
def test_quick_run_prints_a_row_per_installed_client() -> None:
    redis_or_skip()
    command = [sys.executable, "-m", "benchmarks.redis_clients", "--quick", "--url", REDIS_URL]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("client"))
    assert all(workload in header for workload in WORKLOADS)
    names = candidate_names()
    assert {"redis-py sync hiredis", "redis-py async python", "hiredis floor async"} <= set(names)
    for name in names:
        row = next((line for line in lines if line.startswith(name + " ")), None)
        assert row is not None, f"no row for {name}:\n{done.stdout}"
        # A, B and C are measured for every client; D (the store's load) where it applies
        assert len(re.findall(CELL, row)) >= 3, row
    assert re.search(r"\d+ keys of bench-clients:[0-9a-f]{8}: deleted", done.stdout)
    assert "Sentinel" in done.stdout  # the feature matrix
