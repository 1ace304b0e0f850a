"""The bench's ceiling search: climb the ladder, then bisect until the bracket is within 10%."""

from __future__ import annotations

from bench.stepping import find_ceiling, geometric_rates


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
