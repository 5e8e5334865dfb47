"""The README's Starlette quick start, with its one-line SQLiteStore choice, run as
written under a real ``uvicorn --workers 2``: the visits count up across the workers
and across a restart of the server (issue 10: no silent failure with more than one
worker). With the in-memory default the count starts again after the restart."""

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
    """The app in ``directory/app.py`` under a real uvicorn with ``workers`` processes."""
    arguments = ["app:app", "--workers", str(workers)]
    with served.uvicorn(arguments, directory, {"PYTHONPATH": str(directory)}, probe="/") as http:
        yield http


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
