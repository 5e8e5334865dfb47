"""Interleaved repetitions: every variant measured once per repetition, round-robin.

Interleaving spreads slow drifts (thermal, other tenants of the machine)
evenly over the variants instead of penalising whichever ran last. The
starting variant rotates each repetition so none is always first after a
``gc.collect()``. Results are microseconds per request; callers take medians.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

from .scenarios import Scenario

V = TypeVar("V")

Batch = Callable[[V, Scenario, int], float]
"""``batch(variant, scenario, n)``: seconds taken by ``n`` timed requests."""


def interleaved(
    variants: Sequence[V],
    scenarios: Sequence[Scenario],
    *,
    names: Callable[[V], str],
    batch: Batch[V],
    reps: int,
    requests: int,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[tuple[str, Scenario], list[float]]:
    """Microseconds per request, one entry per repetition, keyed by (variant name, scenario)."""
    results: dict[tuple[str, Scenario], list[float]] = {
        (names(v), s): [] for v in variants for s in scenarios
    }
    for rep in range(reps):
        progress(f"repetition {rep + 1}/{reps}")
        for scenario in scenarios:
            for offset in range(len(variants)):
                variant = variants[(rep + offset) % len(variants)]
                gc.collect()
                seconds = batch(variant, scenario, requests)
                results[(names(variant), scenario)].append(seconds / requests * 1e6)
    return results


def medians(results: dict[tuple[str, Scenario], list[float]]) -> dict[tuple[str, Scenario], float]:
    return {key: statistics.median(values) for key, values in results.items()}


def spread_note(results: dict[tuple[str, Scenario], list[float]]) -> str | None:
    """How repeatable the cells were: the median and worst IQR/median, as a note."""
    spreads = {
        key: _iqr(values) / statistics.median(values)
        for key, values in results.items()
        if len(values) >= 2
    }
    if not spreads:
        return None
    (name, scenario), worst = max(spreads.items(), key=lambda item: item[1])
    typical = statistics.median(spreads.values())
    return (
        f"spread between repetitions (IQR / median): typically {typical:.1%}, "
        f"worst {worst:.1%} ({name}, {scenario.label})"
    )


def _iqr(values: list[float]) -> float:
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[2] - quartiles[0]
