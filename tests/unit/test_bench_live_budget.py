"""The bench's live phase is given up past its budget, and says where it was waiting, so the report is still written."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

import bench.__main__ as bench_main


async def test_a_live_phase_past_its_budget_is_left_out_with_where_it_waited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "LIVE_MARGIN_SECONDS", 0.2)
    bench = bench_main.Bench(dataclasses.replace(bench_main.QUICK, live_likes=0), tmp_path, quick=True)

    async def never_done(*_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(bench, "live", never_done)
    await asyncio.wait_for(bench.live_within(None, None, None), 5)  # type: ignore[arg-type]
    stacks = (tmp_path / "live-tasks.txt").read_text()
    assert "--- live" in stacks and "never_done" in stacks
    assert "live" not in bench.results
