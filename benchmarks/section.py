"""One framework's whole run: build variants, check them, count, time, race, report.

A :class:`Harness` adapts a framework (the ASGI one drives an event loop, the
WSGI one calls directly); everything else here is shared. Output: a Markdown
section on stdout, progress on stderr.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from . import report, timing
from .race import run_races
from .redis_count import Counter, counting
from .redis_keys import delete_prefix, unavailable_reason
from .scenarios import SCENARIOS, Scenario, Unavailable, Variant, check_behaviour
from .settings import RACE_REQUESTS, Settings

AppT = TypeVar("AppT")
Builder = tuple[str, bool, Callable[[Settings], Variant[AppT]]]


class Harness(Protocol[AppT]):
    """How one framework's requests are made; every method is synchronous."""

    def batch(
        self, variant: Variant[AppT], scenario: Scenario, n: int, counter: Counter | None
    ) -> float:
        """Seconds for ``n`` requests of ``scenario`` (setup excluded; ``counter`` reset first)."""
        ...

    def get(self, variant: Variant[AppT], path: str, fresh: bool) -> str:
        """One request's body; ``fresh`` starts a new client, else the last one is reused."""
        ...

    def race(self, variant: Variant[AppT], n: int) -> int:
        """Keys surviving ``n`` concurrent writes to one session."""
        ...

    def close(self, variant: Variant[AppT]) -> None: ...

    def floor(self, n: int) -> float:
        """Seconds for ``n`` requests to a no-op app: the driver's own cost."""
        ...


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def build(
    builders: Sequence[Builder[AppT]], settings: Settings
) -> tuple[list[Variant[AppT]], list[str]]:
    """The variants that can run here, and a note for each one that cannot."""
    redis_reason = unavailable_reason(settings.redis_url)
    variants: list[Variant[AppT]] = []
    notes: list[str] = []
    for name, needs_redis, builder in builders:
        if needs_redis and redis_reason:
            notes.append(f"skipped {name}: {redis_reason}")
            continue
        try:
            variants.append(builder(settings))
        except Unavailable as error:
            notes.append(f"skipped {name}: {error}")
    return variants, notes


def _problem(harness: Harness[AppT], variant: Variant[AppT]) -> str | None:
    """Why ``variant`` does not keep session state correctly, or ``None``."""
    if variant.bare:
        return None
    try:
        return check_behaviour(lambda path, fresh: harness.get(variant, path, fresh))
    except Exception as error:  # a half-written variant must not stop the peers' run
        return f"raised {error!r}"


def _behaving(
    harness: Harness[AppT], variants: list[Variant[AppT]], notes: list[str]
) -> list[Variant[AppT]]:
    """The variants that keep session state correctly; the others are closed and noted."""
    kept = []
    for variant in variants:
        problem = _problem(harness, variant)
        if problem is None:
            kept.append(variant)
        else:
            notes.append(f"skipped {variant.name}: behaviour check failed: {problem}")
            harness.close(variant)
    return kept


def _redis_counts(
    harness: Harness[AppT], variants: Sequence[Variant[AppT]], n: int
) -> dict[tuple[str, Scenario], tuple[float, float]]:
    counts: dict[tuple[str, Scenario], tuple[float, float]] = {}
    with counting() as counter:
        for variant in variants:
            for scenario in SCENARIOS:
                harness.batch(variant, scenario, n, counter)
                counts[(variant.name, scenario)] = (counter.round_trips / n, counter.commands / n)
    return counts


@dataclass(slots=True)
class Results:
    """Everything one section measured, ready to print."""

    names: list[str]
    medians: dict[tuple[str, Scenario], float]
    counts: dict[tuple[str, Scenario], tuple[float, float]]
    races: dict[str, list[int]]
    notes: list[str]


def _measure(
    harness: Harness[AppT], variants: list[Variant[AppT]], settings: Settings, notes: list[str]
) -> Results:
    """Warm up, count Redis traffic, time (interleaved), measure the driver, race."""
    redis_variants = [v for v in variants if v.uses_redis]
    progress("warm-up")
    for variant in variants:
        for scenario in SCENARIOS:
            harness.batch(variant, scenario, settings.warmup_requests, None)
    progress("counting Redis traffic")
    counts = _redis_counts(harness, redis_variants, settings.count_requests)
    results = timing.interleaved(
        variants,
        SCENARIOS,
        names=lambda v: v.name,
        batch=lambda v, s, n: harness.batch(v, s, n, None),
        reps=settings.reps,
        requests=settings.requests,
        progress=progress,
    )
    floor = statistics.median(harness.floor(settings.requests) for _ in range(settings.reps))
    notes.append(
        f"driver floor: a no-op app takes {floor / settings.requests * 1e6:.1f} µs per request"
        " through this driver (included in every cell)"
    )
    notes.append(timing.spread_note(results) or "one repetition: no spread measured")
    progress("race")
    races = run_races(
        redis_variants,
        names=lambda v: v.name,
        race=lambda v: harness.race(v, RACE_REQUESTS),
        reps=settings.race_reps,
    )
    names = [v.name for v in variants]
    return Results(names, timing.medians(results), counts, races, notes)


def run(
    title: str, harness: Harness[AppT], builders: Sequence[Builder[AppT]], settings: Settings
) -> None:
    """Measure every variant of one framework and print its Markdown section."""
    print(f"{title}: building variants", file=sys.stderr, flush=True)
    built, notes = build(builders, settings)
    variants: list[Variant[AppT]] = []
    try:
        variants = _behaving(harness, built, notes)
        results = _measure(harness, variants, settings, notes)
    finally:
        for variant in variants:
            harness.close(variant)
        for variant in built:
            if variant.uses_redis:
                prefix = settings.prefix(variant.name)
                deleted = delete_prefix(settings.redis_url, prefix)
                progress(f"cleanup: deleted {deleted} keys under {prefix}*")
    print(_markdown(title, settings, results), flush=True)


def _markdown(title: str, settings: Settings, results: Results) -> str:
    names = results.names
    baseline = "bare" if "bare" in names else None
    parts = [f"## {title}", ""]
    if results.notes:
        parts += [report.notes(results.notes), ""]
    parts += [
        f"### µs per request (median of {settings.reps} x {settings.requests}), ratio to bare",
        "",
        report.timing_table(names, SCENARIOS, results.medians, baseline),
        "",
    ]
    if results.counts:
        counted = [name for name in names if (name, SCENARIOS[0]) in results.counts]
        parts += [
            f"### Redis round trips / commands per request (over {settings.count_requests})",
            "",
            report.redis_table(counted, SCENARIOS, results.counts),
            "",
        ]
    if results.races:
        parts += [
            f"### Race: {RACE_REQUESTS} concurrent requests on one session, one key each",
            "",
            report.race_table(results.races, RACE_REQUESTS),
            "",
        ]
    return "\n".join(parts)
