"""A throwaway PostgreSQL cluster for the tests that stop or break their server.

``throwaway_postgres()`` runs ``initdb`` and ``pg_ctl start`` (from the installed
server) in a temporary directory, on a free loopback port, as the unprivileged
user ``nobody`` when the tests run as root (PostgreSQL refuses to run as root);
it yields a :class:`Cluster` and, on exit, even after a failure, stops the
server (``-m immediate``, then its pid) and deletes the directory. The shared
server on 5432 is never touched.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import IN_CI
from .cluster import HOST, free_ports

UNPRIVILEGED = "nobody"


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and Path("/usr/local/bin", name).exists():
        found = str(Path("/usr/local/bin", name))
    return found


@dataclass
class Cluster:
    directory: Path
    port: int
    user: str | None  # the user the server runs as (None: this process's)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{dbname}"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(_tool("pg_ctl") or "pg_ctl", "-D", str(self.data), *args, check=check)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            command, capture_output=True, text=True, user=self.user, cwd=self.directory
        )
        if check and done.returncode != 0:
            log = (self.directory / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr}\n{log}")
        return done

    def start(self) -> None:
        options = f"-c listen_addresses={HOST} -p {self.port} -k {self.directory} -c fsync=off"
        self.pg_ctl(
            "-w", "-t", "30", "-l", str(self.directory / "server.log"), "-o", options, "start"
        )

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as connection:
            connection.execute(statement)

    def chown(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[Cluster]:
    """A new cluster on a free loopback port (trust auth, superuser ``postgres``)."""
    missing = [tool for tool in ("initdb", "pg_ctl") if _tool(tool) is None]
    if missing:
        message = f"cannot start a throwaway PostgreSQL: {' and '.join(missing)} not found"
        if IN_CI:
            pytest.fail(message + " — CI=true requires it")
        pytest.skip(message)
    user = UNPRIVILEGED if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="sessionware-pg-"))
    (port,) = free_ports(1)
    cluster = Cluster(directory, port, user)
    cluster.chown(directory)
    try:
        cluster.run(
            _tool("initdb") or "initdb",
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        cluster.start()
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(directory, ignore_errors=True)


def _stop(cluster: Cluster) -> None:
    if not (cluster.data / "postmaster.pid").exists():
        return
    with contextlib.suppress(Exception):
        cluster.pg_ctl("-w", "-t", "10", "-m", "immediate", "stop", check=False)
    pid_file = cluster.data / "postmaster.pid"
    if pid_file.exists():  # pg_ctl could not stop it: the postmaster's pid, then
        with contextlib.suppress(ValueError, OSError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
