"""Per-run metric series with bounded memory.

A run of days can log tens of millions of samples. Each series keeps:
- exact aggregates over the whole run (count, non-finite count, first, last, min, max with steps);
- the most recent `recent` samples exactly (steps, values, lines, wall times) in compact arrays;
- a downsampled overview of the whole run (min/max/last per bucket; buckets double in width when
  full) so a sparkline keeps the shape of a long run instead of only its end.
Rules keep their own incremental state (the engine), so they never need the full history.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from losswatch.model import SampleBatch

RECENT = 100_000
# Sampler series (GPU, job) come once a second for days, for every run: keep fewer of them exactly
# (2 h at 1 Hz); the overview keeps their whole shape and the rules keep their own state.
SAMPLED_RE = re.compile(r"^(?:gpu\d*|job)\.")
SAMPLED_RECENT = 7_200
OVERVIEW_BUCKETS = 1024


@dataclass
class Point:
    step: float
    value: float
    line: int


class Overview:
    """Whole-run shape in at most `2 * buckets` buckets: (first step, min, max, last) per bucket."""

    __slots__ = ("buckets", "width", "steps", "mins", "maxs", "lasts", "_fill")

    def __init__(self, buckets: int = OVERVIEW_BUCKETS) -> None:
        self.buckets = buckets
        self.width = 1
        self.steps = array("d")
        self.mins = array("d")
        self.maxs = array("d")
        self.lasts = array("d")
        self._fill = 0

    def add(self, step: float, value: float) -> None:
        if self._fill == 0:
            self.steps.append(step)
            self.mins.append(value)
            self.maxs.append(value)
            self.lasts.append(value)
        else:
            # min/max ignore NaN unless the bucket has nothing else; NaN stays visible in `lasts`
            if value < self.mins[-1] or math.isnan(self.mins[-1]):
                self.mins[-1] = value
            if value > self.maxs[-1] or math.isnan(self.maxs[-1]):
                self.maxs[-1] = value
            self.lasts[-1] = value
        self._fill += 1
        if self._fill >= self.width:
            self._fill = 0
            if len(self.steps) >= 2 * self.buckets:
                self._halve()

    def _halve(self) -> None:
        n = len(self.steps) // 2 * 2
        steps, mins, maxs, lasts = array("d"), array("d"), array("d"), array("d")
        for i in range(0, n, 2):
            steps.append(self.steps[i])
            a, b = self.mins[i], self.mins[i + 1]
            mins.append(b if math.isnan(a) else a if math.isnan(b) else min(a, b))
            a, b = self.maxs[i], self.maxs[i + 1]
            maxs.append(b if math.isnan(a) else a if math.isnan(b) else max(a, b))
            lasts.append(self.lasts[i + 1])
        self.steps, self.mins, self.maxs, self.lasts = steps, mins, maxs, lasts
        self.width *= 2


class Series:
    """One metric of one run."""

    def __init__(self, name: str, raw_name: str = "", recent: int = RECENT) -> None:
        self.name = name
        self.raw_name = raw_name or name
        self.recent = recent
        self.count = 0
        self.nonfinite = 0
        self.first: Point | None = None
        self.last: Point | None = None
        self.min: Point | None = None
        self.max: Point | None = None
        self.last_wall_time = math.nan
        self.steps = array("d")
        self.values = array("d")
        self.lines = array("q")
        self.times = array("d")
        self.overview = Overview()

    def add(self, step: float, value: float, line: int, wall_time: float) -> None:
        self.count += 1
        p = None
        if self.first is None:
            p = Point(step, value, line)
            self.first = p
        self.last = p or Point(step, value, line)
        if math.isfinite(value):
            if self.min is None or value < self.min.value:
                self.min = self.last
            if self.max is None or value > self.max.value:
                self.max = self.last
        else:
            self.nonfinite += 1
        self.last_wall_time = wall_time
        self.steps.append(step)
        self.values.append(value)
        self.lines.append(line)
        self.times.append(wall_time)
        if len(self.values) >= 2 * self.recent:
            cut = len(self.values) - self.recent
            del self.steps[:cut], self.values[:cut], self.lines[:cut], self.times[:cut]
        self.overview.add(step, value)

    def tail(self, n: int) -> list[float]:
        return list(self.values[-n:])

    def points(self) -> Iterable[tuple[float, float, int]]:
        """The exactly kept recent points as (step, value, line)."""
        return zip(self.steps, self.values, self.lines, strict=True)


class Store:
    """All series of one run, fed batch by batch."""

    def __init__(self, recent: int = RECENT) -> None:
        self.recent = recent
        self.series: dict[str, Series] = {}
        self.samples = 0

    def add_batch(self, batch: SampleBatch) -> None:
        series = self.series
        t = batch.wall_time
        for metric, step, value, line in zip(batch.metrics, batch.steps, batch.values, batch.lines, strict=True):
            s = series.get(metric)
            if s is None:
                recent = min(self.recent, SAMPLED_RECENT) if SAMPLED_RE.match(metric) else self.recent
                s = series[metric] = Series(metric, batch.raw_names.get(metric, metric), recent)
            s.add(step, value, line, t)
        self.samples += len(batch)

    def get(self, metric: str) -> Series | None:
        return self.series.get(metric)

    def __contains__(self, metric: str) -> bool:
        return metric in self.series

    def metrics(self) -> list[str]:
        return list(self.series)
