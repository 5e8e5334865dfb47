"""Run settings shared by every section: sizes, the server URLs and key prefixes."""

from __future__ import annotations

import argparse
import os
import secrets
from dataclasses import dataclass

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL_ENV = "SESSIONWARE_BENCH_REDIS_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "SESSIONWARE_BENCH_POSTGRES_URL"
KEY_ROOT = "swbench"  # every key this harness writes starts with "swbench:<run id>:"
SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789abcdef"
RACE_REQUESTS = 50


@dataclass(frozen=True, slots=True)
class Settings:
    """How much to run. ``requests`` is per timed batch; a median is over ``reps`` batches."""

    quick: bool
    reps: int
    requests: int
    warmup_requests: int
    count_requests: int
    race_reps: int
    manage_sessions: int
    redis_url: str
    postgres_url: str
    run_id: str
    section: str  # "asgi", "wsgi", "manage", "encryption", "memory", or "all" in the parent process

    def prefix(self, variant: str) -> str:
        """The Redis key prefix owned by ``variant`` in this section of this run."""
        return f"{self.run_prefix()}{self.section}:{variant}:"

    def run_prefix(self) -> str:
        """The prefix of every key this run writes; cleanup deletes exactly these."""
        return f"{KEY_ROOT}:{self.run_id}:"

    def child_argv(self, section: str) -> list[str]:
        """Arguments that make a subprocess run ``section`` with these same settings."""
        argv = ["--section", section, "--run-id", self.run_id]
        argv += ["--reps", str(self.reps), "--requests", str(self.requests)]
        return argv + (["--quick"] if self.quick else [])


def parse_args(argv: list[str] | None = None) -> tuple[Settings, str | None]:
    """Parse the command line into settings and the section to run (``None``: all)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare sessionware with Starlette, starsessions, Flask and Flask-Session.",
    )
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few reps)")
    parser.add_argument("--reps", type=int, help="repetitions per measurement (median of these)")
    parser.add_argument("--requests", type=int, help="requests per timed batch")
    parser.add_argument(
        "--section",
        choices=["asgi", "wsgi", "manage", "encryption", "memory"],
        help="run one section in this process",
    )
    parser.add_argument("--run-id", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 9)
    requests = args.requests or (100 if args.quick else 1000)
    if reps < 1 or requests < 1:
        parser.error("--reps and --requests must be at least 1")
    settings = Settings(
        quick=args.quick,
        reps=reps,
        requests=requests,
        warmup_requests=max(10, requests // 10),
        count_requests=20 if args.quick else 100,
        race_reps=reps,
        manage_sessions=10_000 if args.quick else 100_000,
        redis_url=os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL),
        postgres_url=os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL),
        run_id=args.run_id or secrets.token_hex(4),
        section=args.section or "all",
    )
    return settings, args.section
