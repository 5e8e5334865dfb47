"""A real server in a subprocess: ``uvicorn --workers N`` on a free loopback port.

``served(env, workers=2)`` starts ``tests.stores.served_app:make_app`` with
``env`` added to the environment, waits until it answers, yields an
``httpx.Client`` for it, and stops it (its whole process group) after, even
after a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from .cluster import HOST, free_ports

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def served(env: dict[str, str], *, workers: int = 2) -> Iterator[httpx.Client]:
    command = ["tests.stores.served_app:make_app", "--factory", "--workers", str(workers)]
    with uvicorn(command, ROOT, env, probe="/count") as client:
        yield client


@contextlib.contextmanager
def uvicorn(
    arguments: list[str], cwd: Path, env: dict[str, str], *, probe: str
) -> Iterator[httpx.Client]:
    """``python -m uvicorn <arguments>`` in ``cwd`` on a free loopback port, until it
    answers ``GET probe``; yields a client for it and stops the whole process group
    after, even after a failure."""
    with server(["uvicorn", *arguments, "--log-level", "warning"], cwd, env, probe=probe) as client:
        yield client


@contextlib.contextmanager
def gunicorn(
    arguments: list[str], cwd: Path, env: dict[str, str], *, probe: str
) -> Iterator[httpx.Client]:
    """As :func:`uvicorn`, with ``python -m gunicorn <arguments>`` (WSGI apps)."""
    with server(
        ["gunicorn", *arguments, "--log-level", "warning"], cwd, env, probe=probe
    ) as client:
        yield client


@contextlib.contextmanager
def server(
    module_and_arguments: list[str], cwd: Path, env: dict[str, str], *, probe: str
) -> Iterator[httpx.Client]:
    """``python -m <module> <arguments>`` bound to a free loopback port (uvicorn's or
    gunicorn's flags), until it answers ``GET probe``; stopped, group and all, after."""
    (port,) = free_ports(1)
    module, *arguments = module_and_arguments
    bind = (
        ["--host", HOST, "--port", str(port)] if module == "uvicorn" else ["-b", f"{HOST}:{port}"]
    )
    command = [sys.executable, "-m", module, *arguments, *bind]
    # its log to a file, not a pipe nobody reads: a full pipe (200 logged 503s) blocks it
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            start_new_session=True,  # its own process group: the workers stop with it
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            base_url = f"http://{HOST}:{port}"
            # a new connection per request, so that any worker may take it
            with httpx.Client(
                base_url=base_url, timeout=10, headers={"connection": "close"}
            ) as client:
                _wait_until_up(client, process, probe, log)
                yield client
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_up(
    client: httpx.Client, process: subprocess.Popen[bytes], probe: str, log: IO[bytes]
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            error = log.read().decode(errors="replace")
            raise RuntimeError(f"the server exited with {process.returncode}: {error}")
        with contextlib.suppress(httpx.TransportError):
            client.get(probe)
            return
        time.sleep(0.1)
    raise RuntimeError("the server did not answer within 30 s")
