"""The README's Starlette quick start, with its one-line SQLiteStore choice, run as
written under a real ``uvicorn --workers 2``: the visits count up across the workers
and across a restart of the server (issue 10: no silent failure with more than one
worker). With the in-memory default the count starts again after the restart."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .stores.cluster import HOST, free_ports

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def quick_start_app() -> str:
    """The Starlette quick start with its add_middleware line replaced by the SQLite one."""
    blocks = python_blocks()
    starlette = next(b for b in blocks if "from starlette.applications import Starlette" in b)
    sqlite = next(b for b in blocks if "SQLiteStore(" in b and "add_middleware" in b)
    lines = [line for line in starlette.splitlines() if not line.startswith("app.add_middleware")]
    assert len(lines) == len(starlette.splitlines()) - 1, "the quick start changed shape"
    return "\n".join(lines) + "\n\n" + sqlite


@contextlib.contextmanager
def uvicorn(directory: Path, workers: int) -> Iterator[httpx.Client]:
    (port,) = free_ports(1)
    command = [sys.executable, "-m", "uvicorn", "app:app", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        cwd=directory,
        env={**os.environ, "PYTHONPATH": str(directory)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # a new connection per request, so that either worker may take it
        client = httpx.Client(
            base_url=f"http://{HOST}:{port}", timeout=10, headers={"connection": "close"}
        )
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"uvicorn exited with {process.returncode}: {error}")
            try:
                client.get("/")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield client
        client.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.slow
def test_the_quick_start_counts_under_two_workers_and_across_a_restart(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(quick_start_app())
    with uvicorn(tmp_path, workers=2) as http:
        first = http.get("/")
        # the cookie is Secure, which an http client keeps to itself: send it back by hand
        cookie = first.headers["set-cookie"].split(";", 1)[0]
        counts = [first.json()["visits"]]
        counts += [http.get("/", headers={"cookie": cookie}).json()["visits"] for _ in range(15)]
    with uvicorn(tmp_path, workers=2) as http:  # new processes: only the store remembers
        counts += [http.get("/", headers={"cookie": cookie}).json()["visits"] for _ in range(16)]
    assert counts == list(range(1, 33))
