"""Per-run metric series with bounded memory.

A run of days can log tens of millions of samples. Each series keeps:
- exact aggregates over the whole run (count, non-finite count, first, last, min, max with steps);
- the most recent `recent` samples exactly (steps, values, lines, wall times) in compact arrays;
- a downsampled overview of the whole run (min/max/last per bucket; buckets double in width when
  full) so a sparkline keeps the shape of a long run instead of only its end.
Rules keep their own incremental state (the engine), so they never need the full history.

Batches are added column-wise with numpy (one pass per metric, no object per sample): a backlog
of millions of samples costs a few array operations per 1 MB block of log.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from losswatch.model import SampleBatch

if TYPE_CHECKING:  # numpy is imported where a batch first needs it: `check` of a tiny log, `rules
    import numpy as np  # lint` and the TUI's start-up do not pay for it (~60 ms)

RECENT = 100_000
# Sampler series (GPU, job) come once a second for days, for every run: keep fewer of them exactly
# (2 h at 1 Hz); the overview keeps their whole shape and the rules keep their own state.
SAMPLED_RE = re.compile(r"^(?:gpu\d*|job)\.")
SAMPLED_RECENT = 7_200
OVERVIEW_BUCKETS = 1024


class Point(NamedTuple):
    step: float
    value: float
    line: int


def _fmin(a: float, b: float) -> float:
    """min ignoring NaN (NaN only when both are)."""
    return b if a != a else a if b != b else (a if a <= b else b)


def _fmax(a: float, b: float) -> float:
    return b if a != a else a if b != b else (a if a >= b else b)


class Overview:
    """Whole-run shape in at most `2 * buckets` buckets: (first step, min, max, last) per bucket.

    Every bucket but the last holds `width` samples; min/max ignore NaN unless a bucket has
    nothing else, and NaN stays visible in `lasts`.
    """

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
            self.mins[-1] = _fmin(self.mins[-1], value)
            self.maxs[-1] = _fmax(self.maxs[-1], value)
            self.lasts[-1] = value
        self._fill += 1
        if self._fill >= self.width:
            self._fill = 0
            if len(self.steps) >= 2 * self.buckets:
                self._halve()

    def add_many(self, steps: np.ndarray, values: np.ndarray) -> None:
        """The same as `add` for each sample, a bucket row at a time."""
        import numpy as np

        i, n = 0, len(values)
        while i < n:
            w = self.width
            if self._fill:  # finish the open bucket
                take = min(w - self._fill, n - i)
                chunk = values[i:i + take]
                self.mins[-1] = _fmin(self.mins[-1], float(np.fmin.reduce(chunk)))
                self.maxs[-1] = _fmax(self.maxs[-1], float(np.fmax.reduce(chunk)))
                self.lasts[-1] = float(chunk[-1])
                self._fill += take
                i += take
            else:
                room = 2 * self.buckets - len(self.steps)
                m = min((n - i) // w, room)
                if m > 0:  # whole buckets
                    block = values[i:i + m * w].reshape(m, w)
                    self.steps.frombytes(np.ascontiguousarray(steps[i:i + m * w:w]).tobytes())
                    self.mins.frombytes(np.fmin.reduce(block, axis=1).tobytes())
                    self.maxs.frombytes(np.fmax.reduce(block, axis=1).tobytes())
                    self.lasts.frombytes(np.ascontiguousarray(block[:, -1]).tobytes())
                    i += m * w
                    self._fill = w  # the last bucket is complete
                else:  # open a bucket with the rest
                    chunk = values[i:]
                    self.steps.append(float(steps[i]))
                    self.mins.append(float(np.fmin.reduce(chunk)))
                    self.maxs.append(float(np.fmax.reduce(chunk)))
                    self.lasts.append(float(chunk[-1]))
                    self._fill = len(chunk)
                    i = n
            if self._fill >= self.width:
                self._fill = 0
                if len(self.steps) >= 2 * self.buckets:
                    self._halve()

    def _halve(self) -> None:
        import numpy as np

        n = len(self.steps) // 2 * 2
        steps = np.frombuffer(self.steps, dtype=np.float64)[:n]
        mins = np.frombuffer(self.mins, dtype=np.float64)[:n]
        maxs = np.frombuffer(self.maxs, dtype=np.float64)[:n]
        lasts = np.frombuffer(self.lasts, dtype=np.float64)[:n]
        self.steps = array("d", np.ascontiguousarray(steps[0::2]).tobytes())
        self.mins = array("d", np.fmin(mins[0::2], mins[1::2]).tobytes())
        self.maxs = array("d", np.fmax(maxs[0::2], maxs[1::2]).tobytes())
        self.lasts = array("d", np.ascontiguousarray(lasts[1::2]).tobytes())
        self.width *= 2


class Series:
    """One metric of one run: exact aggregates, the recent points exactly, an overview of all."""

    def __init__(self, name: str, raw_name: str = "", recent: int = RECENT) -> None:
        self.name = name
        self.raw_name = raw_name or name
        self.recent = recent
        self.count = 0
        self.nonfinite = 0
        self._first: Point | None = None
        # last/min/max as plain numbers (no object per sample); Points are made when asked for
        self._last_step = self._last_value = math.nan
        self._last_line = 0
        self._min = (math.inf, math.nan, 0)  # (value, step, line); value inf = no finite value yet
        self._max = (-math.inf, math.nan, 0)
        self._has_min = False
        self.last_wall_time = math.nan
        self.steps = array("d")
        self.values = array("d")
        self.lines = array("q")
        self.times = array("d")
        self.overview = Overview()

    # -- aggregates as Points ----------------------------------------------------------------------

    @property
    def first(self) -> Point | None:
        return self._first

    @property
    def last(self) -> Point | None:
        return Point(self._last_step, self._last_value, self._last_line) if self.count else None

    @property
    def min(self) -> Point | None:
        v, s, ln = self._min
        return Point(s, v, ln) if self._has_min else None

    @property
    def max(self) -> Point | None:
        v, s, ln = self._max
        return Point(s, v, ln) if self._has_min else None

    # -- adding ------------------------------------------------------------------------------------

    def add(self, step: float, value: float, line: int, wall_time: float) -> None:
        """One sample (GPU sampler, tests); batches go through `add_many`."""
        if not self.count:
            self._first = Point(step, value, line)
        self.count += 1
        self._last_step, self._last_value, self._last_line = step, value, line
        if value - value == 0:  # finite
            if value < self._min[0]:
                self._min = (value, step, line)
            if value > self._max[0] or not self._has_min:
                self._max = (value, step, line)
            self._has_min = True
        else:
            self.nonfinite += 1
        self.last_wall_time = wall_time
        self.steps.append(step)
        self.values.append(value)
        self.lines.append(line)
        self.times.append(wall_time)
        self._trim()
        self.overview.add(step, value)

    def add_many(self, steps: np.ndarray, values: np.ndarray, lines: np.ndarray, wall_time: float) -> None:
        """Samples of this series in log order (float64 steps/values, int64 lines)."""
        import numpy as np

        n = len(values)
        if not n:
            return
        if not self.count:
            self._first = Point(float(steps[0]), float(values[0]), int(lines[0]))
        self.count += n
        self._last_step, self._last_value, self._last_line = float(steps[-1]), float(values[-1]), int(lines[-1])
        finite = np.isfinite(values)
        nfinite = int(np.count_nonzero(finite))
        self.nonfinite += n - nfinite
        if nfinite:
            lo = np.where(finite, values, np.inf) if nfinite < n else values
            hi = np.where(finite, values, -np.inf) if nfinite < n else values
            i, j = int(np.argmin(lo)), int(np.argmax(hi))  # the first of equal extremes, as `add`
            if lo[i] < self._min[0]:
                self._min = (float(lo[i]), float(steps[i]), int(lines[i]))
            if hi[j] > self._max[0] or not self._has_min:
                self._max = (float(hi[j]), float(steps[j]), int(lines[j]))
            self._has_min = True
        self.last_wall_time = wall_time
        keep = min(n, self.recent)  # older points of a huge batch would be trimmed at once anyway
        self.steps.frombytes(steps[n - keep:].tobytes())
        self.values.frombytes(values[n - keep:].tobytes())
        self.lines.frombytes(lines[n - keep:].tobytes())
        self.times.frombytes(np.full(keep, wall_time).tobytes())
        self._trim()
        self.overview.add_many(steps, values)

    def _trim(self) -> None:
        """Keep at most 1.25 × `recent` points; cut back to `recent` (amortised, a memmove)."""
        n = len(self.values)
        if n > self.recent + (self.recent >> 2):
            cut = n - self.recent
            del self.steps[:cut], self.values[:cut], self.lines[:cut], self.times[:cut]

    # -- reading -----------------------------------------------------------------------------------

    def tail(self, n: int) -> list[float]:
        return list(self.values[-n:])

    def points(self) -> Iterable[tuple[float, float, int]]:
        """The exactly kept recent points as (step, value, line)."""
        return zip(self.steps, self.values, self.lines, strict=True)


def _period(metrics: list[str]) -> int:
    """k where `metrics` is k distinct names repeated in the same order to the end, else 0.

    A parser that emits rows of the same metrics (darknet, Keras, most text logs) gives such a
    batch; the store then takes each metric as a strided view instead of grouping sample by sample.
    """
    n = len(metrics)
    try:
        k = metrics.index(metrics[0], 1)
    except ValueError:
        k = n
    if n % k or (k > 1 and len(set(metrics[:k])) != k):
        return 0
    if k < n and metrics[:k] * (n // k) != metrics:  # identity compare of interned names: C speed
        return 0
    return k


class Store:
    """All series of one run, fed batch by batch."""

    def __init__(self, recent: int = RECENT) -> None:
        self.recent = recent
        self.series: dict[str, Series] = {}
        self.samples = 0

    def _series(self, metric: str, batch: SampleBatch) -> Series:
        s = self.series.get(metric)
        if s is None:
            recent = min(self.recent, SAMPLED_RECENT) if SAMPLED_RE.match(metric) else self.recent
            s = self.series[metric] = Series(metric, batch.raw_names.get(metric, metric), recent)
        return s

    def add_batch(self, batch: SampleBatch) -> None:
        n = len(batch)
        if not n:
            return
        metrics = batch.metrics
        t = batch.wall_time
        if n < 8:  # live trickle: numpy set-up would cost more than it saves
            for metric, step, value, line in zip(metrics, batch.steps, batch.values, batch.lines, strict=True):
                self._series(metric, batch).add(step, value, line, t)
            self.samples += n
            return
        import numpy as np

        # array() from a list of floats is the fastest way in; numpy then views the same memory
        steps = np.frombuffer(array("d", batch.steps), dtype=np.float64)
        values = np.frombuffer(array("d", batch.values), dtype=np.float64)
        try:
            lines = np.frombuffer(array("q", batch.lines), dtype=np.int64)
        except TypeError:  # a parser gave a float line number
            lines = np.array(batch.lines, dtype=np.float64).astype(np.int64)
        first = metrics[0]
        period = _period(metrics)
        if period == 1:
            self._series(first, batch).add_many(steps, values, lines, t)
        elif period:  # rows of the same metrics in the same order (most text logs): strided views
            for j, metric in enumerate(metrics[:period]):
                self._series(metric, batch).add_many(steps[j::period], values[j::period], lines[j::period], t)
        else:
            codes_of = {m: i for i, m in enumerate(dict.fromkeys(metrics))}
            codes = np.fromiter(map(codes_of.__getitem__, metrics), dtype=np.int32, count=n)
            for metric, code in codes_of.items():
                sel = np.flatnonzero(codes == code)
                self._series(metric, batch).add_many(steps[sel], values[sel], lines[sel], t)
        self.samples += n

    def get(self, metric: str) -> Series | None:
        return self.series.get(metric)

    def __contains__(self, metric: str) -> bool:
        return metric in self.series

    def metrics(self) -> list[str]:
        return list(self.series)
