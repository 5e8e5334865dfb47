"""A short soak (``benchmarks/soak``): real uvicorn and gunicorn, Redis killed and paused.

The full run is ``make soak``; this one lasts 20 s with 20 clients, in a child
process, and checks the figures the README publishes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .stores.cluster import skip_without_tools

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_short_soak_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    skip_without_tools()
    out = tmp_path / "soak.json"
    command = [sys.executable, "-m", "benchmarks.soak", "--seconds", "20", "--clients", "20"]
    subprocess.run([*command, "--json", str(out)], cwd=ROOT, check=True, timeout=180)
    figures = json.loads(out.read_text())
    assert sorted(figures) == ["gunicorn", "uvicorn"]
    for name, server in figures.items():
        assert server["statuses"].get("200", 0) > 100, name
        assert server["statuses"].get("503", 0) > 0, name  # the faults did happen
        assert (server["lost"], server["leaked"], server["errors_outside"]) == (0, 0, 0), name
        # a pause never makes a 503 that applies (a kill may lose a reply: see README)
        assert server["applied_503"].get("pause", 0) == 0, name
        assert server["applied_503"].get("none", 0) == 0, name
