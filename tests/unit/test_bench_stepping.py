"""The bench's ceiling search: climb the ladder, then bisect until the bracket is within 10%."""

from __future__ import annotations

from bench.loadgen import Measurement
from bench.stepping import Limits, find_ceiling, geometric_rates, mix_holds


class System:
    """Holds every rate below `capacity`; records the rates it was run at."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.runs: list[float] = []

    def run_at(self, rate: float) -> float:
        self.runs.append(rate)
        return rate

    def holds(self, rate: float) -> bool:
        return rate < self.capacity


def test_the_ladder_then_bisection_bracket_the_ceiling_to_within_ten_percent() -> None:
    system = System(capacity=1000)
    ceiling = find_ceiling(system.run_at, geometric_rates(100, 1.6, 9), system.holds)
    held, broke = ceiling.bracket()
    assert held is not None and broke is not None
    assert held < 1000 <= broke
    assert ceiling.spread is not None and ceiling.spread <= 1.1
    # Warm-up at the first rate, the ladder up to its first break (1049), then three midpoints.
    assert system.runs[:8] == [100, 100, 160, 256, 410, 655, 1049, 829]
    assert len(ceiling.trials) == len(system.runs) - 1


def test_a_ladder_that_never_breaks_goes_on_up_to_the_cap() -> None:
    system = System(capacity=10_000)
    ceiling = find_ceiling(system.run_at, [250, 400], system.holds, extend_by=1.6, max_rate=20_000)
    held, broke = ceiling.bracket()
    assert held is not None and broke is not None and held < 10_000 <= broke
    assert ceiling.spread is not None and ceiling.spread <= 1.1
    # Without the extension the ladder would have stopped at 400, never broken, with no bracket.
    capped = find_ceiling(System(10_000).run_at, [250, 400], System(10_000).holds, extend_by=1.6, max_rate=2_000)
    assert capped.bracket() == (1638, None) and capped.spread is None


def test_a_first_step_that_breaks_leaves_no_held_rate_and_nothing_to_bisect() -> None:
    system = System(capacity=50)
    ceiling = find_ceiling(system.run_at, [100, 160], system.holds, warm_up=False)
    assert ceiling.bracket() == (None, 100)
    assert system.runs == [100]


def test_on_step_sees_every_trial_in_order() -> None:
    system = System(capacity=300)
    seen: list[tuple[float, bool]] = []
    find_ceiling(system.run_at, [100, 200, 400], system.holds, lambda t: seen.append((t.rate, t.held)))
    assert seen[:3] == [(100, True), (200, True), (400, False)]
    assert all(held == (rate < 300) for rate, held in seen)


def test_a_first_step_that_breaks_steps_down_until_one_holds_then_bisects() -> None:
    system = System(capacity=30)
    ceiling = find_ceiling(
        system.run_at, [100, 160], system.holds, warm_up=False, descend_by=1.6, min_rate=10, precision=1.1
    )
    held, broke = ceiling.bracket()
    assert held is not None and broke is not None and held < 30 <= broke
    assert ceiling.spread is not None and ceiling.spread <= 1.1
    assert system.runs[:4] == [100, 62, 39, 24]  # down the ladder until 24 holds, then midpoints
    # Nothing holds above the floor: the lowest rate tried is the broken end, nothing held.
    floor = System(capacity=5)
    assert find_ceiling(floor.run_at, [100], floor.holds, warm_up=False, descend_by=2, min_rate=20).bracket() == (
        None,
        25,
    )
    assert floor.runs == [100, 50, 25]


def _step(**p99_ms: float) -> dict[str, Measurement]:
    """A mix step where every operation kept up without errors, at the p99 given per operation."""
    return {name: Measurement(name, 100.0, 100.0, 800, 0, p99 / 4, p99 / 2, p99) for name, p99 in p99_ms.items()}


def test_a_mix_step_holds_only_when_every_read_meets_the_limit_and_writes_keep_up() -> None:
    reads, limits = ("view", "feed", "search"), Limits(p99_ms=50.0)
    assert mix_holds(_step(view=40, feed=45, search=30, upload=900), reads, limits)
    # A slow feed read breaks the step even when views are fast (the report promises reads at p99 ≤ 50 ms).
    assert not mix_holds(_step(view=40, feed=66, search=30, upload=900), reads, limits)
    assert not mix_holds(_step(view=40, feed=45, search=51, upload=900), reads, limits)
    # A write only must not fall behind: a p99 past a second breaks it.
    assert not mix_holds(_step(view=40, feed=45, search=30, upload=1200), reads, limits)
