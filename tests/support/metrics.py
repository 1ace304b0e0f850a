"""Reading a process's real /metrics: scrape it over HTTP and pick series out by name and labels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

# The sample names a family of each type exposes, besides the family's own name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample as (name, labels, value), and each family's type by name."""

    samples: list[tuple[str, dict[str, str], float]]
    families: dict[str, str]

    def value(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 when there are none)."""
        return sum(v for n, ls, v in self.samples if n == name and labels.items() <= ls.items())

    def labels(self, name: str, label: str) -> set[str]:
        """Every value `label` takes in `name`'s samples."""
        return {ls[label] for n, ls, _ in self.samples if n == name and label in ls}

    def names(self) -> set[str]:
        """Every name a query could use: each family's, and each of its sample names (`_total`,
        `_bucket`, …), including those of labelled families that have no series yet."""
        declared = {family + suffix for family, kind in self.families.items() for suffix in _SUFFIXES.get(kind, ())}
        return {n for n, _, _ in self.samples} | set(self.families) | declared


async def scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=5) as client:
        reply = await client.get(url)
    reply.raise_for_status()
    assert reply.headers["content-type"].startswith("text/plain"), reply.headers["content-type"]
    samples: list[tuple[str, dict[str, str], float]] = []
    families: dict[str, str] = {}
    for family in text_string_to_metric_families(reply.text):
        families[family.name] = family.type
        samples.extend((s.name, dict(s.labels), s.value) for s in family.samples)
    return Scrape(samples, families)


async def scrape_until(url: str, accept: Callable[[Scrape], bool], timeout: float = 20) -> Scrape:
    """Scrape until `accept` likes what it sees (events and gauges move after the call that caused
    them returns), or the deadline passes; returns the last scrape either way."""
    deadline = time.monotonic() + timeout
    while True:
        found = await scrape(url)
        if accept(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)
