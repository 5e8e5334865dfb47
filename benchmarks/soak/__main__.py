"""``python -m benchmarks.soak``: a bounded soak against real servers, with faults.

Starts a throwaway Redis (its own port, AOF fsync on every write, so that a kill
loses nothing it acknowledged), one uvicorn process (ASGI) and one gunicorn
(WSGI, gthread workers), then runs ``--clients`` clients (half on each server)
for ``--seconds``. Each client adds uniquely tagged items to its own session's
cart and checks every cart it is shown; after 50 it starts a new session.
Mid-run the Redis server is killed (SIGKILL, restarted from its AOF 3 s later),
and later paused (CLIENT PAUSE ALL, 3 s). Reported, per server and in total:

* lost updates: items acknowledged with 200 and missing from a later cart;
* leaks: items of another client in a cart;
* 5xx outside the fault windows (each fault plus a grace of two socket timeouts);
* "503 but applied": items answered 503 that a later cart holds;
* RSS of each server process over time.

Everything listens on 127.0.0.1 only, and everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent.parent
HOST = "127.0.0.1"
GRACE_SECONDS = 2.5  # after a fault: two socket timeouts and a pool wait
FAULT_SECONDS = 3.0
SESSION_ITEMS = 50  # adds per session, so that carts (and memory) reach a steady state


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start on port {port}")
        time.sleep(0.1)


class ThrowawayRedis:
    """A redis-server of our own, on its own port and directory, that we may kill."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="sessionware-soak-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        options = ["--port", str(self.port), "--bind", HOST, "--dir", self.directory]
        options += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(["redis-server", *options], stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "redis-server")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def pause(self, seconds: float) -> None:
        admin = redis.Redis(host=HOST, port=self.port, socket_timeout=5)
        admin.execute_command("CLIENT", "PAUSE", str(int(seconds * 1000)), "ALL")
        admin.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def server(command: list[str], port: int, redis_url: str, what: str) -> Iterator[int]:
    """Run a server process on ``port``; yield its pid; terminate it after."""
    env = {**os.environ, "SOAK_REDIS_URL": redis_url}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process, what)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (gunicorn's workers), in MB."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for each in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


@dataclass
class Tally:
    """What one server's clients saw."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    errors_outside: int = 0  # 5xx or transport errors outside every fault window
    lost: set[str] = field(default_factory=set)
    leaked: set[str] = field(default_factory=set)
    applied_503: dict[str, tuple[float, float]] = field(
        default_factory=dict
    )  # item -> sent, answered


@dataclass
class Faults:
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # (fault, start, end)

    def during(self, start: float, end: float) -> str:
        """The fault whose window (plus grace) overlaps ``start``-``end``, or "none"."""
        for name, begin, finish in self.windows:
            if not (end < begin or start > finish + GRACE_SECONDS):
                return name
        return "none"

    def outside(self, start: float, end: float) -> bool:
        return self.during(start, end) == "none"


async def client(
    index: int, base: str, tally: Tally, stop_at: float
) -> list[tuple[float, float, str]]:
    """Run sessions of :data:`SESSION_ITEMS` adds each until ``stop_at``.

    Returns the transport errors and 5xx as ``(start, end, what)``, judged
    against the fault windows once the run is over.
    """
    failures: list[tuple[float, float, str]] = []
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        number = 0
        while time.monotonic() < stop_at:
            number += 1
            await one_session(http, f"c{index}s{number}-", tally, stop_at, failures)
            http.cookies.clear()  # the next session starts afresh, as a new visitor
    return failures


async def one_session(
    http: httpx.AsyncClient,
    tag: str,
    tally: Tally,
    stop_at: float,
    failures: list[tuple[float, float, str]],
) -> None:
    """Add tagged items to one session's cart, checking every cart it is shown,
    then look once more: every acknowledged item there, no refused one, no other's."""
    acked: set[str] = set()
    refused: dict[str, tuple[float, float]] = {}

    def check(cart: list[str]) -> None:
        held = set(cart)
        tally.leaked.update(item for item in held if not item.startswith(tag))
        tally.lost.update(acked - held)
        tally.applied_503.update({item: refused[item] for item in held if item in refused})

    for seq in range(SESSION_ITEMS):
        if time.monotonic() >= stop_at:
            break
        item = f"{tag}{seq}"
        start = time.monotonic()
        try:
            response = await http.get("/add", params={"item": item})
        except httpx.HTTPError as error:
            tally.transport_errors += 1
            failures.append((start, time.monotonic(), type(error).__name__))
            continue
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        if response.status_code == 200:
            acked.add(item)
            check(response.json())
        else:
            refused[item] = (start, time.monotonic())
            if response.status_code >= 500:
                failures.append((start, time.monotonic(), str(response.status_code)))
    for _ in range(20):
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get("/cart")
            if response.status_code == 200:
                check(response.json())
                return
        await asyncio.sleep(0.5)


async def inject_faults(
    store: ThrowawayRedis, faults: Faults, started: float, seconds: float
) -> None:
    await asyncio.sleep(max(0.0, started + seconds * 0.35 - time.monotonic()))
    begin = time.monotonic()
    store.kill()
    print(f"[{begin - started:5.1f}s] Redis killed (SIGKILL)", file=sys.stderr)
    await asyncio.sleep(FAULT_SECONDS)
    await asyncio.to_thread(store.start)
    faults.windows.append(("kill", begin, time.monotonic()))
    print(f"[{time.monotonic() - started:5.1f}s] Redis restarted from its AOF", file=sys.stderr)
    await asyncio.sleep(max(0.0, started + seconds * 0.7 - time.monotonic()))
    begin = time.monotonic()
    await asyncio.to_thread(store.pause, FAULT_SECONDS)
    print(f"[{begin - started:5.1f}s] Redis paused for {FAULT_SECONDS:.0f}s", file=sys.stderr)
    await asyncio.sleep(FAULT_SECONDS)
    faults.windows.append(("pause", begin, time.monotonic()))


Samples = list[tuple[float, dict[str, float]]]  # (seconds into the run, MB per server)


async def sample_rss(
    pids: dict[str, int], samples: Samples, started: float, stop_at: float
) -> None:
    while time.monotonic() < stop_at:
        samples.append((time.monotonic() - started, {n: rss_mb(p) for n, p in pids.items()}))
        await asyncio.sleep(5)
    samples.append((time.monotonic() - started, {n: rss_mb(p) for n, p in pids.items()}))


@dataclass
class Result:
    tallies: dict[str, Tally]
    samples: Samples
    faults: Faults
    elapsed: float


async def soak(
    ports: dict[str, int], pids: dict[str, int], store: ThrowawayRedis, args: argparse.Namespace
) -> Result:
    tallies = {name: Tally() for name in ports}
    faults = Faults()
    samples: Samples = []
    started = time.monotonic()
    stop_at = started + args.seconds
    names = sorted(ports)
    tasks = [
        client(i, f"http://{HOST}:{ports[names[i % 2]]}", tallies[names[i % 2]], stop_at)
        for i in range(args.clients)
    ]
    results = await asyncio.gather(
        *tasks,
        inject_faults(store, faults, started, args.seconds),
        sample_rss(pids, samples, started, stop_at),
    )
    for i, failures in enumerate(results[: args.clients]):
        tally = tallies[names[i % 2]]
        tally.errors_outside += sum(faults.outside(s, e) for s, e, _ in failures)
    return Result(tallies, samples, faults, time.monotonic() - started)


def report(result: Result, args: argparse.Namespace) -> str:
    tallies = result.tallies
    lines = [
        f"# Soak: {args.clients} clients, {result.elapsed:.0f} s, Redis killed and paused",
        "",
        "| server | requests | 200 | 503 | other | transport errors | 5xx/errors outside faults "
        "| lost updates | leaks | 503 but applied |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in sorted(tallies.items()):
        other = sum(n for s, n in t.statuses.items() if s not in (200, 503))
        lines.append(
            f"| {name} | {t.requests} | {t.statuses[200]} | {t.statuses[503]} | {other} "
            f"| {t.transport_errors} | {t.errors_outside} | {len(t.lost)} | {len(t.leaked)} "
            f"| {_applied(t, result.faults)} |"
        )
    lines += ["", "RSS (MB) over time:", "", "| t (s) | " + " | ".join(sorted(tallies)) + " |"]
    lines.append("|---|" + "---|" * len(tallies))
    for at, rss in result.samples:
        sizes = " | ".join(f"{rss[name]:.1f}" for name in sorted(tallies))
        lines.append(f"| {at:.0f} | {sizes} |")
    return "\n".join(lines)


def _applied(tally: Tally, faults: Faults) -> str:
    """How many items were answered 503 and applied, and during which fault."""
    where = Counter(faults.during(*span) for span in tally.applied_503.values())
    detail = ", ".join(f"{n} during {fault}" for fault, n in sorted(where.items()))
    return f"{len(tally.applied_503)}" + (f" ({detail})" if detail else "")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=90.0, help="length of the run")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients")
    parser.add_argument("--json", help="also write the figures to this file, as JSON")
    args = parser.parse_args()
    store = ThrowawayRedis()
    store.start()
    url = f"redis://{HOST}:{store.port}/0"
    ports = {"uvicorn": free_port(), "gunicorn": free_port()}
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "benchmarks.soak.apps:asgi", "--host", HOST]
    uvicorn += ["--port", str(ports["uvicorn"]), "--log-level", "warning", "--no-access-log"]
    gunicorn = [python, "-m", "gunicorn", "benchmarks.soak.apps:wsgi", "-b"]
    gunicorn += [f"{HOST}:{ports['gunicorn']}", "-w", "2", "-k", "gthread", "--threads", "16"]
    try:
        with (
            server(uvicorn, ports["uvicorn"], url, "uvicorn") as uvicorn_pid,
            server(gunicorn, ports["gunicorn"], url, "gunicorn") as gunicorn_pid,
        ):
            pids = {"uvicorn": uvicorn_pid, "gunicorn": gunicorn_pid}
            result = asyncio.run(soak(ports, pids, store, args))
    finally:
        store.stop()
    print(report(result, args))
    if args.json:
        Path(args.json).write_text(json.dumps(figures(result)))


def figures(result: Result) -> dict[str, Any]:
    """The report's numbers per server; "503 but applied" counted per fault."""
    return {
        name: {
            "requests": t.requests,
            "statuses": dict(t.statuses),
            "transport_errors": t.transport_errors,
            "errors_outside": t.errors_outside,
            "lost": len(t.lost),
            "leaked": len(t.leaked),
            "applied_503": dict(
                Counter(result.faults.during(*span) for span in t.applied_503.values())
            ),
            "rss_mb": [rss[name] for _, rss in result.samples],
        }
        for name, t in result.tallies.items()
    }


if __name__ == "__main__":
    main()
