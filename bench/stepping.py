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

    def sustained(self, m: Measurement) -> bool:
        return (
            m.p99_ms <= self.p99_ms
            and m.error_rate <= self.max_error_rate
            and m.achieved_rps >= self.min_achieved_fraction * m.offered_rps
        )


def geometric_rates(start: float, factor: float, steps: int) -> list[float]:
    return [round(start * factor**i) for i in range(steps)]


def step_until_break(
    run_at: Callable[[float], Measurement],
    rates: Iterable[float],
    limits: Limits,
    on_step: Callable[[Measurement], None] = lambda m: None,
    extra_steps_after_break: int = 1,
) -> tuple[list[Measurement], Measurement | None]:
    """Run each rate in turn; stop one step (by default) after the first unsustained one.

    Returns every measurement (for the latency curve) and the highest sustained one.
    """
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
