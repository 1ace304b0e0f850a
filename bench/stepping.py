"""Find the highest sustainable rate: climb a geometric ladder until a step breaks, then bisect.

A ladder alone quantises every ceiling to its factor (×1.6 a step: "held 328/s, broke 524/s"), and
every ratio of two ceilings with it. After the climb, the geometric midpoint of the last step that
held and the first that broke is run, and so on until the two are within `precision` of each other
(1.1: the ceiling is known to within 10%). The result keeps both ends, so a report can show the
bracket instead of pretending to a single number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from bench.loadgen import Measurement

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """When a step counts as sustained."""

    p99_ms: float = 50.0
    max_error_rate: float = 0.01
    min_achieved_fraction: float = 0.9
    # Below this offered rate a short step holds too few requests for its achieved rate to mean much.
    min_rate_for_achieved_check: float = 10.0

    def sustained(self, m: Measurement) -> bool:
        kept_up = (
            m.offered_rps < self.min_rate_for_achieved_check
            or m.achieved_rps >= self.min_achieved_fraction * m.offered_rps
        )
        return m.p99_ms <= self.p99_ms and m.error_rate <= self.max_error_rate and kept_up


# A write in a mix only must not fail or fall behind: its p99 may run to this.
WRITE_P99_MS = 1000.0


def mix_holds(step: Mapping[str, Measurement], reads: Collection[str], limits: Limits) -> bool:
    """Whether a mix step held: every read (the operations named in `reads`) sustained within `limits`,
    every other operation (a write) within a p99 of WRITE_P99_MS."""
    writes = replace(limits, p99_ms=WRITE_P99_MS)
    return all((limits if name in reads else writes).sustained(m) for name, m in step.items())


def geometric_rates(start: float, factor: float, steps: int) -> list[float]:
    return [round(start * factor**i) for i in range(steps)]


@dataclass(frozen=True)
class Trial(Generic[T]):
    """One step: the offered rate, what it measured, and whether it held."""

    rate: float
    result: T
    held: bool


@dataclass
class Ceiling(Generic[T]):
    """Every step run, in order, and the bracket they establish."""

    trials: list[Trial[T]] = field(default_factory=list)

    @property
    def held(self) -> Trial[T] | None:
        """The highest rate that held."""
        return max((t for t in self.trials if t.held), key=lambda t: t.rate, default=None)

    @property
    def broke(self) -> Trial[T] | None:
        """The lowest rate that broke above the highest that held (None: nothing broke)."""
        floor = self.held.rate if self.held else -math.inf
        return min((t for t in self.trials if not t.held and t.rate > floor), key=lambda t: t.rate, default=None)

    @property
    def spread(self) -> float | None:
        """broke / held: how well the ceiling is known (None while either end is missing)."""
        held, broke = self.held, self.broke
        return broke.rate / held.rate if held and broke else None

    def bracket(self) -> tuple[float | None, float | None]:
        held, broke = self.held, self.broke
        return (held.rate if held else None, broke.rate if broke else None)


def _ladder(rates: list[float], extend_by: float | None, max_rate: float | None) -> Iterator[float]:
    yield from rates
    if extend_by and rates:
        rate = rates[-1]
        while max_rate is None or rate * extend_by <= max_rate:
            rate = round(rate * extend_by)
            yield rate


def find_ceiling(
    run_at: Callable[[float], T],
    rates: Iterable[float],
    holds: Callable[[T], bool],
    on_step: Callable[[Trial[T]], None] = lambda trial: None,
    *,
    precision: float = 1.1,
    extend_by: float | None = None,
    max_rate: float | None = None,
    warm_up: bool = True,
    descend_by: float | None = None,
    min_rate: float = 1,
) -> Ceiling[T]:
    """Warm up at the first rate (connections and caches made on first use), climb `rates` — and
    beyond them by `extend_by` up to `max_rate` when the ladder never breaks — until a step breaks,
    then bisect (geometric midpoints) until broke/held ≤ `precision`. When the very first step breaks,
    step down by `descend_by` (not below `min_rate`) until one holds, so a system slower than the
    ladder's foot still gets a bracket instead of "none held"."""
    rates = list(rates)
    ceiling: Ceiling[T] = Ceiling()
    if not rates:
        return ceiling

    def run(rate: float) -> Trial[T]:
        result = run_at(rate)
        trial = Trial(rate, result, holds(result))
        ceiling.trials.append(trial)
        on_step(trial)
        return trial

    if warm_up:
        run_at(rates[0])
    for rate in _ladder(rates, extend_by, max_rate):
        if not run(rate).held:
            break
    if descend_by and ceiling.held is None and ceiling.trials:
        rate = ceiling.trials[0].rate
        while ceiling.held is None and (rate := round(rate / descend_by)) >= min_rate:
            run(rate)
    while (spread := ceiling.spread) is not None and spread > precision:
        held, broke = ceiling.held, ceiling.broke
        assert held is not None and broke is not None
        middle = round(math.sqrt(held.rate * broke.rate))
        if middle in (held.rate, broke.rate):  # rates are whole numbers; nothing left between them
            break
        run(middle)
    return ceiling
