"""The README's quick starts, as written (issue 10): they pass ``mypy --strict``, and
with their one-line SQLiteStore choice they count visits under a real
``uvicorn --workers 2`` (Starlette) and ``gunicorn -w 2`` (Flask), across the workers
and across a restart of the server. With the in-memory default the count would
start again after the restart."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .stores import served

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def block(marker: str) -> str:
    return next(b for b in python_blocks() if marker in b)


def with_sqlite(app: str, installs: str) -> str:
    """``app`` with its line starting ``installs`` replaced by the README's SQLite one."""
    sqlite = next(b for b in python_blocks() if "SQLiteStore(" in b and installs in b)
    lines = [line for line in app.splitlines() if not line.startswith(installs)]
    assert len(lines) == len(app.splitlines()) - 1, "the quick start changed shape"
    return "\n".join(lines) + "\n\n" + sqlite


def quick_start_app() -> str:
    """The Starlette quick start with its add_middleware line replaced by the SQLite one."""
    return with_sqlite(block("from starlette.applications import Starlette"), "app.add_middleware")


def flask_quick_start_app() -> str:
    return with_sqlite(block("from flask import Flask"), "Sessionware(app")


@contextlib.contextmanager
def uvicorn(directory: Path, workers: int) -> Iterator[httpx.Client]:
    """The app in ``directory/app.py`` under a real uvicorn with ``workers`` processes."""
    arguments = ["app:app", "--workers", str(workers)]
    with served.uvicorn(arguments, directory, {"PYTHONPATH": str(directory)}, probe="/") as http:
        yield http


def visits(http: httpx.Client, cookie: str, n: int) -> list[int]:
    return [http.get("/", headers={"cookie": cookie}).json()["visits"] for _ in range(n)]


@pytest.mark.slow
def test_the_flask_quick_start_counts_under_gunicorn_two_workers(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(flask_quick_start_app())
    env = {"PYTHONPATH": str(tmp_path)}
    with served.gunicorn(["-w", "2", "app:app"], tmp_path, env, probe="/") as http:
        first = http.get("/")
        cookie = first.headers["set-cookie"].split(";", 1)[0]
        counts = [first.json()["visits"], *visits(http, cookie, 15)]
    with served.gunicorn(["-w", "2", "app:app"], tmp_path, env, probe="/") as http:
        counts += visits(http, cookie, 16)
    assert counts == list(range(1, 33))


@pytest.mark.slow
def test_the_quick_starts_pass_mypy_strict(tmp_path: Path) -> None:
    import subprocess
    import sys

    for name, marker in (
        ("quick_starlette", "from starlette.applications import Starlette"),
        ("quick_fastapi", "from fastapi import FastAPI"),
        ("quick_flask", "from flask import Flask"),
    ):
        (tmp_path / f"{name}.py").write_text(block(marker))
    (tmp_path / "quick_flask_sqlite.py").write_text(flask_quick_start_app())
    (tmp_path / "quick_starlette_sqlite.py").write_text(quick_start_app())
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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
