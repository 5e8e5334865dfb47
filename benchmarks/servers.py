"""``python -m benchmarks.servers``: the apps behind real servers, driven over loopback.

uvicorn (one worker) serves the ASGI variants and gunicorn (one gthread worker,
8 threads) the WSGI ones: the same apps as the in-process tables
(``server_apps``). ``wrk`` (Debian's ``wrk`` package) drives each with 50
connections over loopback for ``--seconds``; every request carries one of 200
session cookies obtained beforehand (``/login``, untimed), so the sessions
exist and are read or written for real. One row is no session layer of its own:
``server_apps.FLOOR``, the memory-store app plus one plain ``GET`` over the lean
Redis connection per request, the best any one-round-trip store could do here.
All servers are started first and stay
up; rounds take the targets in turn, each round from a different one, and the
tables show the median requests/s and latencies over ``--rounds``.

Checks, so that a fast failure is never reported as speed: every response of a
timed run must be a 2xx, and after the ``/incr`` runs every server-side session's
counter must have moved (a cookie-backed session restarts from the replayed
cookie each time, so there it must only answer). Redis keys go under this run's
prefix and are deleted at the end; every server is stopped, even after a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from .redis_keys import delete_prefix
from .server_apps import FLOOR
from .settings import DEFAULT_REDIS_URL, KEY_ROOT, REDIS_URL_ENV

HOST = "127.0.0.1"
SESSIONS = 200  # cookies per target, cycled through by the load generator
CONNECTIONS = 50
ASGI = ("bare", "starlette-cookie", "starsessions-redis", "sessionware-memory", FLOOR)
ASGI += ("sessionware-redis", "sessionware-redis-cached")
WSGI = ("bare", "flask-cookie", "flask-session-redis", "sessionware-memory", FLOOR)
WSGI += ("sessionware-redis", "sessionware-redis-cached")
BASELINE = {"asgi": "starsessions-redis", "wsgi": "flask-session-redis"}
# the session lives in the cookie: a load generator replaying one cookie restarts it
COOKIE_BACKED = ("starlette-cookie", "flask-cookie")
ROOT = Path(__file__).resolve().parent.parent

_LUA = """
local cookies = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
end
request = function()
  i = i % #cookies + 1
  return wrk.format("GET", wrk.path, {["Cookie"] = cookies[i]})
end
"""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "asgi" or "wsgi"
    variant: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.variant}"


@dataclass(frozen=True, slots=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(target: Target, run_id: str) -> Iterator[None]:
    """The target's server until the block ends (its process group killed even on error)."""
    env = {**os.environ, "BENCH_VARIANT": target.variant, "BENCH_RUN_ID": run_id}
    bind = [f"{HOST}:{target.port}"]
    if target.kind == "asgi":
        command = ["uvicorn", "--factory", "benchmarks.server_apps:asgi", "--host", HOST]
        command += ["--port", str(target.port), "--log-level", "warning", "--no-access-log"]
    else:
        command = ["gunicorn", "benchmarks.server_apps:wsgi()", "-b", *bind, "-w", "1"]
        command += ["-k", "gthread", "--threads", "8", "--log-level", "warning"]
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"{target.name} exited: {error[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, target.port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.name} did not start within 30 s")
            time.sleep(0.1)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def cookies_for(target: Target) -> list[str]:
    """``SESSIONS`` fresh sessions on ``target``: the Cookie header of each."""
    headers: list[str] = []
    with httpx.Client(base_url=f"http://{HOST}:{target.port}", timeout=10) as client:
        for _ in range(SESSIONS):
            response = client.get("/login")
            response.raise_for_status()
            pairs = [
                value.split(";", 1)[0]
                for name, value in response.headers.multi_items()
                if name.lower() == "set-cookie"
            ]
            if not pairs and target.variant != "bare":
                raise RuntimeError(f"{target.name} set no cookie at /login")
            headers.append("; ".join(pairs) or "none=1")
    return headers


def counters(target: Target, cookies: list[str]) -> list[int]:
    """Each session's counter, read by one more ``/incr`` (so: its value + 1)."""
    values: list[int] = []
    with httpx.Client(base_url=f"http://{HOST}:{target.port}", timeout=10) as client:
        for cookie in cookies:
            response = client.get("/incr", headers={"cookie": cookie})
            response.raise_for_status()
            values.append(int(response.text))
    return values


def wrk(target: Target, path: str, cookie_file: Path, script: Path, seconds: float) -> Run:
    """One timed ``wrk`` run; raises if any response was not a 2xx."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    command += [f"http://{HOST}:{target.port}{path}", "--", str(cookie_file)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"{target.name} {path}: errors under load:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M))
    return Run(rps, _ms(latency["50"]), _ms(latency["99"]))


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="each timed run")
    parser.add_argument("--rounds", type=int, default=3, help="median over this many")
    parser.add_argument("--kind", choices=["asgi", "wsgi", "both"], default="both")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("benchmarks.servers needs wrk: apt-get install wrk")
    redis_url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    run_id = secrets.token_hex(4)
    kinds = ("asgi", "wsgi") if args.kind == "both" else (args.kind,)
    targets = [
        Target(kind, variant, free_port())
        for kind in kinds
        for variant in (ASGI if kind == "asgi" else WSGI)
    ]
    results: dict[tuple[str, str], list[Run]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="sessionware-bench-"))
    script = workdir / "cookies.lua"
    script.write_text(_LUA)
    load = os.getloadavg()[0]
    try:
        with contextlib.ExitStack() as servers:
            files: dict[str, Path] = {}
            for target in targets:
                servers.enter_context(serve(target, run_id))
                files[target.name] = workdir / f"{target.kind}-{target.variant}.txt"
                files[target.name].write_text("\n".join(cookies_for(target)) + "\n")
            for round_ in range(args.rounds):
                order = targets[round_ % len(targets) :] + targets[: round_ % len(targets)]
                for target in order:
                    print(f".. round {round_ + 1}: {target.name}", file=sys.stderr, flush=True)
                    for path in ("/read", "/incr"):
                        wrk(target, path, files[target.name], script, 1.0)  # warm-up
                        run = wrk(target, path, files[target.name], script, args.seconds)
                        results.setdefault((target.name, path), []).append(run)
            for target in targets:
                if target.variant == "bare":
                    continue
                cookies = files[target.name].read_text().split("\n")[:-1]
                floor = 1 if target.variant in COOKIE_BACKED else 2
                stuck = [n for n in counters(target, cookies) if n < floor]
                if stuck:
                    raise RuntimeError(f"{target.name}: {len(stuck)} counters never moved")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        delete_prefix(redis_url, f"{KEY_ROOT}:{run_id}:")
    print(report(targets, results, args, load))


def report(
    targets: list[Target],
    results: dict[tuple[str, str], list[Run]],
    args: argparse.Namespace,
    load: float,
) -> str:
    lines = [
        "## Real servers over loopback",
        "",
        f"> {time.strftime('%Y-%m-%d')}, `python -m benchmarks.servers --rounds {args.rounds} "
        f"--seconds {args.seconds:g}`: wrk, 1 thread, {CONNECTIONS} connections, "
        f"{SESSIONS} sessions per target; uvicorn 1 worker (ASGI), gunicorn 1 gthread worker "
        f"x 8 threads (WSGI); medians of {args.rounds} rounds; load average at the start "
        f"{load:.2f} on {os.cpu_count()} cores",
    ]
    for kind in ("asgi", "wsgi"):
        chosen = [t for t in targets if t.kind == kind]
        if not chosen:
            continue
        baseline = BASELINE[kind]
        lines += [
            "",
            f"### {kind.upper()}: requests/s (ratio to {baseline}), p50 / p99 ms",
            "",
            "| variant | read req/s | read p50 / p99 | incr req/s | incr p50 / p99 |",
            "|:---|---:|---:|---:|---:|",
        ]
        medians = {
            (t.variant, path): Run(
                statistics.median(r.rps for r in results[(t.name, path)]),
                statistics.median(r.p50_ms for r in results[(t.name, path)]),
                statistics.median(r.p99_ms for r in results[(t.name, path)]),
            )
            for t in chosen
            for path in ("/read", "/incr")
        }
        for t in chosen:
            cells = [t.variant]
            for path in ("/read", "/incr"):
                run, base = medians[(t.variant, path)], medians[(baseline, path)]
                cells.append(f"{run.rps:,.0f} ({run.rps / base.rps:.2f}x)")
                cells.append(f"{run.p50_ms:.1f} / {run.p99_ms:.1f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
