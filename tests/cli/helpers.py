"""Run the real ``sessionware`` console script, seed sessions, drive a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sessionware import codec
from sessionware.stores.base import Meta

from ..conftest import REDIS_URL

SCRIPT = shutil.which("sessionware", path=str(Path(sys.executable).parent))
HOUR = 3600.0


def run(
    *args: str, prefix: str | None = None, store: str | None = REDIS_URL, input: str = ""
) -> subprocess.CompletedProcess[str]:
    """``sessionware ARGS`` in a subprocess, in a pipe; the store and prefix from the
    environment, as an operator's shell would set them."""
    assert SCRIPT is not None, "the sessionware console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARE_")}
    if store is not None:
        env["SESSIONWARE_STORE"] = store
    if prefix is not None:
        env["SESSIONWARE_PREFIX"] = prefix
    return subprocess.run(
        [SCRIPT, *args], capture_output=True, text=True, env=env, input=input, timeout=300
    )


def run_on_terminal(
    args: list[str],
    answer: bytes = b"",
    timeout: float = 120,
    *,
    columns: int = 120,
    stdout: Path | None = None,
) -> tuple[int, str]:
    """``sessionware ARGS`` with stdin, stdout and stderr on a pseudo-terminal; with
    ``stdout``, its stdout redirected to that file (``> FILE`` at a shell).

    ``answer`` is typed once the command has printed a question (``[y/N]``).
    Returns the exit code and everything the terminal showed.
    """
    assert SCRIPT is not None
    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    out = child if stdout is None else os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    process = subprocess.Popen([SCRIPT, *args], stdin=child, stdout=out, stderr=child, env=env)
    os.close(child)
    if out != child:
        os.close(out)
    shown, answered, deadline = b"", not answer, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            if not answered and b"[y/N]" in shown:
                os.write(main, answer)
                answered = True
        elif process.poll() is not None:
            break
    os.close(main)
    return process.wait(timeout=10), shown.decode("utf-8", "replace")


def seed(
    store: Any, count: int, *, app: str = "shop", users: int = 3, start: int = 0, ago: float = 0
) -> list[str]:
    """``count`` live sessions straight into ``store`` (ids ``%032x``, newest last),
    made and last used ``ago`` seconds ago."""
    now = time.time() - ago
    ids = []  # (each expires an hour from now)
    for i in range(start, start + count):
        meta = Meta(
            created_at=now,
            updated_at=now,
            last_activity_at=now + i * 0.001,
            expires_at=now + ago + HOUR,
            deadline=None,
            app=app,
            user=f"user{i % users}",
            email=f"user{i % users}@example.test",
            size_bytes=20,
            max_size_bytes=20,
            attribute_count=1,
        )
        session_id = f"{i:032x}"
        store.create(session_id, {"cart": codec.encode("cart", ["sku", i])}, meta)
        ids.append(session_id)
    return ids
