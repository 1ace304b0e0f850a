"""Step the offered rate up until latency or errors break, and name the sustainable rate."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.loadgen import Measurement


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


def geometric_rates(start: float, factor: float, steps: int) -> list[float]:
    return [round(start * factor**i) for i in range(steps)]


def step_until_break(
    run_at: Callable[[float], Measurement],
    rates: Iterable[float],
    limits: Limits,
    on_step: Callable[[Measurement], None] = lambda m: None,
    extra_steps_after_break: int = 1,
) -> tuple[list[Measurement], Measurement | None]:
    """Warm up at the first rate, then run each rate in turn; stop one step (by default) after the
    first unsustained one. Returns every measurement (for the latency curve) and the highest
    sustained one. The warm-up pays for connections and caches that are made on first use.
    """
    rates = list(rates)
    if rates:
        run_at(rates[0])
    measurements: list[Measurement] = []
    best: Measurement | None = None
    broken_steps = 0
    for rate in rates:
        measurement = run_at(rate)
        measurements.append(measurement)
        on_step(measurement)
        if limits.sustained(measurement):
            if best is None or measurement.achieved_rps > best.achieved_rps:
                best = measurement
        else:
            broken_steps += 1
            if broken_steps > extra_steps_after_break:
                break
    return measurements, best
