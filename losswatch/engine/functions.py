"""Window statistics over metric series, computed incrementally (O(1) or O(log n) per sample).

Each function of the rule language that takes a series is a `Stream`: it is fed every new point of
its input (step, value, wall time) and answers `get()` (None while it has too little data).
A stream can feed another (`rel_improvement(ema(loss, 50), 500)`). Non-finite values are data:
`nonfinite` counts them; the statistics skip them so that one NaN does not poison a window forever.
Windows count points of the input series; `ema` and `count(x, n)` use steps so that irregular
logging is weighted correctly.
"""

from __future__ import annotations

import math
import os
import re
from bisect import bisect_left, insort
from collections import deque

try:  # the catch-up loops below in C (_kernels.c): the same values, bit for bit
    from losswatch.engine import _kernels as K
except ImportError:  # no C compiler at install time: the Python loops
    K = None
if os.environ.get("LOSSWATCH_PURE_PYTHON"):
    K = None

# A run of at least this many points is caught up by the C loop (shorter: the call costs more).
KERNEL_MIN = 4

# Metrics that should rise (accuracy, mAP, ...): "best" is the maximum and improvement is upward.
_RISING_RE = re.compile(
    r"(?:^|[._])(?:acc|accuracy|top1|top5|top_1|top_5|map|map50|map_50|map50_95|ap|ap50|ap75|aps|apm|apl"
    r"|f1|bleu|rouge\w*|iou|miou|auc|auroc|precision|recall|srcc|plcc|hella\w*|dice|r2|score|mrr|ndcg"
    r"|detection_eval|exact_match|em|throughput|tokens_per_second|samples_per_second)(?:$|[._@\d])"
)


def rises(metric: str) -> bool:
    """Whether larger is better for this metric (accuracy, mAP, BLEU, ...). Losses fall."""
    if "loss" in metric or "ppl" in metric or "perplexity" in metric or "error" in metric:
        return False
    return bool(_RISING_RE.search(metric.lower()))


def _finite(x: float) -> bool:
    return x - x == 0  # False for NaN and ±Inf


def _last_finite(values: list[float], lo: int, end: int, n: int) -> list[float]:
    """The last n finite values of values[lo:end], in order (fewer if there are not n), found from
    the end: a long catch-up run costs O(n), not its length."""
    out: list[float] = []
    for j in range(end - 1, lo - 1, -1):
        x = values[j]
        if x - x == 0:
            out.append(x)
            if len(out) == n:
                break
    out.reverse()
    return out


class Stream:
    """A series derived from an input series; subclasses implement `push` and `get`.

    A stream is fed eagerly (its source calls `push` for each new point) or lazily: it then reads
    its source's `Log` and catches up in `sync`, just before someone reads it. A lazy stream sees
    the same points in the same order, so what it answers after `sync` is what the eager one would
    answer; the engine makes the streams that only rarely evaluated rules read lazy, and catching up
    a run of points (`push_many`) costs less than one push per point."""

    __slots__ = ("children", "rising", "step", "wall_time", "line", "log_in", "pos")

    def __init__(self, rising: bool) -> None:
        self.children: list = []
        self.rising = rising
        self.step = math.nan
        self.wall_time = math.nan
        self.line = 0
        self.log_in: Log | None = None  # lazy: the source's log of points, read from `pos` on
        self.pos = 0

    def push(self, step: float, x: float, t: float) -> None:
        raise NotImplementedError

    def get(self) -> float | None:
        raise NotImplementedError

    # Whether this class's `push_many` also hands each new value to the streams reading it
    # (`emit_many`); a class without it takes a run in one go only when nobody reads it.
    runs_with_readers = False

    def sync(self) -> None:
        """Catch up with the points the source logged since the last sync (lazy streams only)."""
        log = self.log_in
        lo = self.pos
        n = len(log.xs)  # type: ignore[union-attr]
        if lo < n:
            self.pos = n
            self.catch_up(log, lo)  # type: ignore[arg-type]

    def catch_up(self, p: Points, lo: int) -> None:
        """Take in the points of p from lo on: as a run (`push_many`) where that is allowed, else
        point by point."""
        if self.children and not self.runs_with_readers:
            Stream.push_many(self, p, lo)
        else:
            self.push_many(p, lo)

    def push_many(self, p: Points, lo: int) -> None:
        """push() each point of p from lo on, in order; subclasses may do a run in one go."""
        push = self.push
        for step, x, t in zip(p.steps[lo:], p.xs[lo:], p.ts[lo:], strict=True):
            push(step, x, t)

    def emit_many(self, p: Points, lo: int, out: list[float]) -> None:
        """Hand a run of new values to the streams that read this one: out[i] is this stream's value
        after point lo + i of p (to the end of p)."""
        steps, ts = p.steps[lo:], p.ts[lo:]
        for c in self.children:
            if type(c) is Log:
                c.steps += steps
                c.xs += out
                c.ts += ts
            else:
                for step, v, t in zip(steps, out, ts, strict=True):
                    c.push(step, v, t)

    def emit(self, step: float, t: float) -> None:
        """Hand this stream's new value to the streams that read it."""
        if self.children:
            v = self.get()
            if v is not None:
                for c in self.children:
                    c.push(step, v, t)


class Points:
    """A run of points as three columns: point i is (steps[i], xs[i], ts[i]) (step, value, wall time).

    Columns rather than a tuple per point: a run is handed on by extending lists, and the C loops
    read the values where they lie."""

    __slots__ = ("steps", "xs", "ts")

    def __init__(self, steps: list[float], xs: list[float], ts: list[float]) -> None:
        self.steps = steps
        self.xs = xs
        self.ts = ts


class Log(Points):
    """The points a stream emits, kept for its lazy readers until they catch up (`kids`: their streams)."""

    __slots__ = ("kids",)

    def __init__(self) -> None:
        super().__init__([], [], [])
        self.kids: list[Stream] = []

    def push(self, step: float, x: float, t: float) -> None:
        self.steps.append(step)
        self.xs.append(x)
        self.ts.append(t)

    def trim(self) -> None:
        """Let every reader catch up, then forget the points (bounds the memory of a never-read stream)."""
        for k in self.kids:
            k.sync()
            k.pos = 0
        self.steps.clear()
        self.xs.clear()
        self.ts.clear()


class Base(Stream):
    """A metric as logged."""

    __slots__ = ("value", "n")

    def __init__(self, rising: bool) -> None:
        super().__init__(rising)
        self.value: float | None = None
        self.n = 0

    def push(self, step: float, x: float, t: float) -> None:
        self.value = x
        self.step = step
        self.wall_time = t
        self.n += 1
        if self.children:
            for c in self.children:
                c.push(step, x, t)

    def get(self) -> float | None:
        return self.value


class Elementwise(Stream):
    """f(x) of each point: log, abs, exp."""

    __slots__ = ("f", "value")
    runs_with_readers = True

    def __init__(self, rising: bool, f) -> None:
        super().__init__(rising)
        self.f = f
        self.value: float | None = None

    def push(self, step: float, x: float, t: float) -> None:
        self.value = self.f(x)
        self.step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        f = self.f
        xs = p.xs
        if self.children:
            out = None
            if f is safe_log and K is not None and len(xs) - lo >= KERNEL_MIN:
                out = K.log_points(xs, lo)
            if out is None or out is NotImplemented:
                out = list(map(f, xs[lo:]))
            self.value = out[-1]
            self.emit_many(p, lo, out)
        else:
            self.value = f(xs[-1])
        self.step = p.steps[-1]

    def get(self) -> float | None:
        return self.value


def safe_log(x: float) -> float:
    if x != x or x == math.inf:
        return x
    if x <= 0:
        return -math.inf if x == 0 else math.nan
    return math.log(x)


def safe_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


class First(Stream):
    __slots__ = ("value",)

    def __init__(self, rising: bool) -> None:
        super().__init__(rising)
        self.value: float | None = None

    def push(self, step: float, x: float, t: float) -> None:
        if self.value is None:
            self.value = x
            self.step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        if self.value is None:
            self.step, self.value = p.steps[lo], p.xs[lo]

    def get(self) -> float | None:
        return self.value


class Count(Stream):
    """Points so far, or points within the last `n` steps (deque of steps)."""

    __slots__ = ("n", "total", "steps")

    def __init__(self, rising: bool, n: float | None = None) -> None:
        super().__init__(rising)
        self.n = n
        self.total = 0
        self.steps: deque[float] = deque()

    def push(self, step: float, x: float, t: float) -> None:
        self.total += 1
        self.step = step
        if self.n is not None:
            self.steps.append(step)
            lo = step - self.n
            while self.steps and self.steps[0] <= lo:
                self.steps.popleft()
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        if self.n is not None:
            return Stream.push_many(self, p, lo)
        self.total += len(p.xs) - lo
        self.step = p.steps[-1]

    def get(self) -> float | None:
        return float(self.total if self.n is None else len(self.steps))


class Nonfinite(Stream):
    """Non-finite points among the last n (n=1: is the last point NaN/Inf)."""

    __slots__ = ("win", "bad")

    def __init__(self, rising: bool, n: int = 1) -> None:
        super().__init__(rising)
        self.win: deque[bool] = deque(maxlen=n)
        self.bad = 0

    def push(self, step: float, x: float, t: float) -> None:
        b = x - x != 0
        if len(self.win) == self.win.maxlen and self.win[0]:
            self.bad -= 1
        self.win.append(b)
        self.bad += b
        self.step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        win, xs = self.win, p.xs
        win.extend(x - x != 0 for x in xs[max(lo, len(xs) - win.maxlen):])  # type: ignore[operator]
        self.bad = sum(win)
        self.step = p.steps[-1]

    def get(self) -> float | None:
        return float(self.bad) if self.win else None


class Moments(Stream):
    """mean / std of the finite values among the last n points (running sums)."""

    __slots__ = ("win", "n", "s", "ss", "k", "pushes", "kind")

    def __init__(self, rising: bool, n: int, kind: str) -> None:
        super().__init__(rising)
        self.n = n
        self.kind = kind
        self.win: deque[float] = deque()
        self.s = 0.0
        self.ss = 0.0
        self.k = 0  # finite values in window
        self.pushes = 0

    def push(self, step: float, x: float, t: float) -> None:
        win = self.win
        win.append(x)
        if x - x == 0:
            self.s += x
            self.ss += x * x
            self.k += 1
        if len(win) > self.n:
            old = win.popleft()
            if _finite(old):
                self.s -= old
                self.ss -= old * old
                self.k -= 1
        self.pushes += 1
        if self.pushes % (4 * self.n + 64) == 0:  # wash out rounding drift
            fin = [v for v in win if _finite(v)]
            self.s = math.fsum(fin)
            self.ss = math.fsum(v * v for v in fin)
        self.step = step
        if self.children:
            self.emit(step, t)

    def get(self) -> float | None:
        if len(self.win) < self.n or self.k == 0:
            return None
        mean = self.s / self.k
        if self.kind == "mean":
            return mean
        if self.k < 2:
            return None
        var = (self.ss - self.k * mean * mean) / (self.k - 1)
        return math.sqrt(var) if var > 0 else 0.0


class SmallExtreme(Stream):
    """min or max over the last few points (n ≤ 8): a plain ring, the extreme found when asked."""

    __slots__ = ("n", "is_max", "ring", "i")

    def __init__(self, rising: bool, n: int, is_max: bool) -> None:
        super().__init__(rising)
        self.n = n
        self.is_max = is_max
        self.ring: deque[float] = deque(maxlen=n)
        self.i = 0

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        self.i += 1
        self.ring.append(x)
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        xs = p.xs
        self.i += len(xs) - lo
        self.ring.extend(xs[max(lo, len(xs) - self.n):])
        self.step = p.steps[-1]

    def get(self) -> float | None:
        if self.i < self.n:
            return None
        fin = [v for v in self.ring if v - v == 0]
        if not fin:
            return None
        return max(fin) if self.is_max else min(fin)


class Lag(Stream):
    """The value k points ago (missing while fewer than k + 1 points have been seen)."""

    __slots__ = ("ring",)

    def __init__(self, rising: bool, k: int) -> None:
        super().__init__(rising)
        self.ring: deque[float] = deque(maxlen=k + 1)

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        self.ring.append(x)
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        ring, xs = self.ring, p.xs
        ring.extend(xs[max(lo, len(xs) - ring.maxlen):])  # type: ignore[operator]
        self.step = p.steps[-1]

    def get(self) -> float | None:
        ring = self.ring
        return ring[0] if len(ring) == ring.maxlen else None


class Extreme(Stream):
    """min or max over the last n points (monotonic deque), or over the whole run when n is None."""

    __slots__ = ("n", "is_max", "dq", "i", "best")

    def __init__(self, rising: bool, n: int | None, is_max: bool) -> None:
        super().__init__(rising)
        self.n = n
        self.is_max = is_max
        self.dq: deque[tuple[int, float]] = deque()
        self.i = 0
        self.best: float | None = None

    def push(self, step: float, x: float, t: float) -> None:
        self.i += 1
        self.step = step
        if x - x == 0:
            if self.n is None:
                b = self.best
                if b is None or (x > b if self.is_max else x < b):
                    self.best = x
            else:
                dq = self.dq
                if self.is_max:
                    while dq and dq[-1][1] <= x:
                        dq.pop()
                else:
                    while dq and dq[-1][1] >= x:
                        dq.pop()
                dq.append((self.i, x))
        if self.n is not None:
            while self.dq and self.dq[0][0] <= self.i - self.n:
                self.dq.popleft()
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        xs = p.xs
        is_max = self.is_max
        if K is not None and len(xs) - lo >= KERNEL_MIN:
            if self.n is None:
                r = K.best(p.steps, xs, lo, self.best, math.nan, is_max)  # the best value, its step unused
                if r is not NotImplemented:
                    self.best = r[0]
                    self.i += len(xs) - lo
                    self.step = p.steps[-1]
                    return
            else:
                r = K.extreme_win(xs, lo, self.dq, self.i, self.n, is_max)
                if r is not NotImplemented:
                    pairs, self.i = r
                    self.dq.clear()
                    self.dq.extend(pairs)
                    self.step = p.steps[-1]
                    return
        if self.n is None:
            b = self.best
            for x in xs[lo:]:
                if x - x == 0 and (b is None or (x > b if is_max else x < b)):
                    b = x
            self.best = b
            self.i += len(xs) - lo
        else:
            dq, n, i = self.dq, self.n, self.i
            if len(xs) - lo > n:  # only the last n points can be in the window at the end
                i += len(xs) - lo - n
                lo = len(xs) - n
                dq.clear()
            for x in xs[lo:]:
                i += 1
                if x - x == 0:
                    if is_max:
                        while dq and dq[-1][1] <= x:
                            dq.pop()
                    else:
                        while dq and dq[-1][1] >= x:
                            dq.pop()
                    dq.append((i, x))
                while dq and dq[0][0] <= i - n:
                    dq.popleft()
            self.i = i
        self.step = p.steps[-1]

    def get(self) -> float | None:
        if self.n is None:
            return self.best
        if self.i < self.n or not self.dq:
            return None
        return self.dq[0][1]


class Best(Stream):
    """Best value so far (min for losses, max for rising metrics) and the step it was reached at."""

    __slots__ = ("best", "best_step", "want_step")

    def __init__(self, rising: bool, want_step: bool = False) -> None:
        super().__init__(rising)
        self.best: float | None = None
        self.best_step = math.nan
        self.want_step = want_step

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if x - x == 0:
            b = self.best
            if b is None or (x > b if self.rising else x < b):
                self.best = x
                self.best_step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        xs = p.xs
        if K is not None and len(xs) - lo >= KERNEL_MIN:
            r = K.best(p.steps, xs, lo, self.best, self.best_step, self.rising)
            if r is not NotImplemented:
                self.best, self.best_step = r
                self.step = p.steps[-1]
                return
        b, bs, rising = self.best, self.best_step, self.rising
        for step, x in zip(p.steps[lo:], xs[lo:], strict=True):
            if x - x == 0 and (b is None or (x > b if rising else x < b)):
                b, bs = x, step
        self.best, self.best_step = b, bs
        self.step = p.steps[-1]

    def get(self) -> float | None:
        if self.want_step:
            return None if self.best is None else self.best_step
        return self.best


def _kth_two(a: list[float], med: float, h: int, n: int, k: int) -> float:
    """k-th smallest (0-based) |a[i] - med| of a sorted list `a` of length n, split at h.

    Left distances med - a[h-1-i] and right distances a[h+j] - med are each increasing, so this is
    the k-th smallest of the union of two sorted sequences, found by binary search on the split.
    """
    p, q = h, n - h

    def L(i: int) -> float:
        return med - a[h - 1 - i]

    def R(j: int) -> float:
        return a[h + j] - med

    need = k + 1
    lo, hi = max(0, need - q), min(need, p)
    while lo < hi:
        i = (lo + hi) // 2
        j = need - i
        # too few from L if L[i] < R[j-1]
        if i < p and j > 0 and L(i) < R(j - 1):
            lo = i + 1
        else:
            hi = i
    i = lo
    j = need - i
    cands = []
    if i > 0:
        cands.append(L(i - 1))
    if j > 0:
        cands.append(R(j - 1))
    return max(cands)


def sorted_median(a: list[float]) -> float:
    n = len(a)
    h = n // 2
    return a[h] if n % 2 else 0.5 * (a[h - 1] + a[h])


def sorted_mad(a: list[float], med: float) -> float:
    """Median absolute deviation from `med` of the sorted list `a`, in O(log n)."""
    n = len(a)
    h = n // 2
    if n % 2:
        return _kth_two(a, med, h, n, n // 2)
    return 0.5 * (_kth_two(a, med, h, n, n // 2 - 1) + _kth_two(a, med, h, n, n // 2))


def window_medians(np, a, n: int, stable: bool = True):
    """The median of each window a[j+1 : j+1+n] (j = 0 .. len(a) - n - 1): the medians after each point
    past the first n, sorting each window of a strided view (cheaper than sliding_window_view).

    stable: equal values (0.0 and -0.0) stay in arrival order, as `insort` keeps them, so the very
    element the sorted list holds at the middle is picked (the stream's own value). Without: the same
    number up to the sign of a zero, sorted faster (enough for a comparison)."""
    w = np.sort(np.ndarray((len(a) - n, n), a.dtype, a, a.itemsize, (a.itemsize, a.itemsize)), axis=1,
                kind="stable" if stable else None)
    h = n // 2
    return w[:, h] if n % 2 else 0.5 * (w[:, h - 1] + w[:, h])


ZSCORE_MIN = 20  # a z-score needs this many points of history (or n when n is smaller)

NP_RUN = 128  # a median catch-up of at least this many points runs in numpy (shorter: the loop is cheaper)


class Ordered(Stream):
    """median / mad / zscore over the last n finite points, kept sorted (bisect insert/remove).

    median and mad use the points there are while fewer than n have been seen (a 30-epoch log still
    gets a smoothed curve); a z-score needs min(n, 20) points of history.

    `zscore` compares the newest point with the n points before it: (x - median) / (1.4826 MAD),
    with a floor on the MAD so that a perfectly flat window does not divide by zero. The newest
    point waits in `pending` until the next push (or a median/mad read), so a z-score is only
    computed when a rule asks for it.
    """

    __slots__ = ("n", "kind", "win", "sorted", "pending", "has_pending", "z", "z_ok", "memo_med", "memo_mad",
                 "runs_with_readers")

    def __init__(self, rising: bool, n: int, kind: str) -> None:
        super().__init__(rising)
        self.n = n
        # a median or mad hands each value of a run to its readers; a z-score or quantile goes point by point
        self.runs_with_readers = type(self) is Ordered and kind != "zscore"
        self.kind = kind
        self.win: deque[float] = deque()
        self.sorted: list[float] = []
        self.pending = math.nan
        self.has_pending = False
        self.z: float | None = None
        self.z_ok = False
        # median and mad of the current window, once asked (several rules read them at one line)
        self.memo_med: float | None = None
        self.memo_mad: float | None = None

    def _flush(self) -> None:
        x = self.pending
        self.has_pending = False
        if x - x == 0:  # finite
            self.memo_med = self.memo_mad = None
            self.win.append(x)
            insort(self.sorted, x)
            if len(self.win) > self.n:
                del self.sorted[bisect_left(self.sorted, self.win.popleft())]

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if self.has_pending:
            p = self.pending
            if p - p == 0:
                self.memo_med = self.memo_mad = None
                win = self.win
                win.append(p)
                insort(self.sorted, p)
                if len(win) > self.n:
                    del self.sorted[bisect_left(self.sorted, win.popleft())]
        self.pending = x
        self.has_pending = True
        self.z_ok = False
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        win, srt, n = self.win, self.sorted, self.n
        xs = p.xs
        if self.has_pending:
            self._flush()
        self.memo_med = self.memo_mad = None
        if self.children:
            # each point is taken in at once (emit reads the median), as in push + emit
            kind = self.kind
            out: list[float] = []
            first = -1  # the first point after which there is a value (out[0] is the value after it)
            end = len(xs)
            k = lo
            while k < end:
                if kind == "median" and len(win) == n:
                    if first < 0:
                        first = k
                    if K is not None and end - k >= KERNEL_MIN:
                        r = K.medians(xs, k, win, srt)
                        if r is not NotImplemented:
                            meds, w, sw = r
                            out += meds
                            win.clear()
                            win.extend(w)
                            srt[:] = sw
                            break
                    if n <= 64 and end - k >= NP_RUN:
                        self._medians_np(xs[k:], out)
                        break
                    # the window stays full: the loop below without its length checks
                    h = n // 2
                    popleft, append, add = win.popleft, win.append, out.append
                    for x in xs[k:]:
                        if x - x == 0:
                            append(x)
                            insort(srt, x)
                            del srt[bisect_left(srt, popleft())]
                        add(srt[h] if n % 2 else 0.5 * (srt[h - 1] + srt[h]))
                    break
                x = xs[k]
                k += 1
                if x - x == 0:
                    win.append(x)
                    insort(srt, x)
                    if len(win) > n:
                        del srt[bisect_left(srt, win.popleft())]
                if win:
                    if first < 0:
                        first = k - 1
                    med = sorted_median(srt)
                    out.append(med if kind == "median" else sorted_mad(srt, med))
            self.pending = xs[-1]
            self.step = p.steps[-1]
            self.z_ok = False
            if out:
                self.emit_many(p, first, out)
            return
        end = len(xs) - 1  # the last point waits as the pending one
        if end - lo >= n:
            # a long run: only its last n finite points stay in the window, and the sorted list is
            # the window sorted stably (insort goes after equals, the oldest of equals leaves first)
            last = _last_finite(xs, lo, end, n)
            if len(last) == n:
                win.clear()
                win.extend(last)
                srt[:] = sorted(last)
                lo = end
        for x in xs[lo:end]:
            if x - x == 0:
                win.append(x)
                insort(srt, x)
                if len(win) > n:
                    del srt[bisect_left(srt, win.popleft())]
        self.step, self.pending = p.steps[-1], xs[-1]
        self.has_pending = True
        self.z_ok = False

    def _medians_np(self, rest: list[float], out: list[float]) -> None:
        """The median after each of a run of points, the window being full, with numpy.

        The sorted list is the window sorted stably (equal values, 0.0 and -0.0, in arrival order):
        insort puts a value after its equals and the oldest of equals leaves first. A stable sort of
        each window therefore picks the very element the list holds at the middle."""
        n, win = self.n, self.win
        import numpy as np  # only a long catch-up needs it; `check` of a small log starts without numpy

        xs = np.asarray(rest, dtype=float)
        fin = np.isfinite(xs)
        new = xs[fin]
        cur = sorted_median(self.sorted)
        if len(new):
            a = np.concatenate((np.fromiter(win, float, n), new))
            meds = window_medians(np, a, n)
            idx = np.cumsum(fin) - 1
            per = np.where(idx >= 0, meds[np.maximum(idx, 0)], cur).tolist()
            last = a[-n:].tolist()
            win.clear()
            win.extend(last)
            self.sorted[:] = sorted(last)
        else:
            per = [cur] * len(rest)
        out += per

    def _zscore(self, x: float) -> float | None:
        if len(self.win) < min(self.n, ZSCORE_MIN):
            return None
        if x - x != 0:
            return math.nan
        a = self.sorted
        med = sorted_median(a)
        mad = sorted_mad(a, med)
        floor = 1e-6 * abs(med) + 1e-12
        return (x - med) / (1.4826 * (mad if mad > floor else floor))

    def get(self) -> float | None:
        if self.kind == "zscore":
            if not self.z_ok:
                self.z = self._zscore(self.pending) if self.has_pending else None
                self.z_ok = True
            return self.z
        if self.has_pending:
            self._flush()
        if not self.win:
            return None
        med = self.memo_med
        if med is None:
            med = self.memo_med = sorted_median(self.sorted)
        if self.kind == "median":
            return med
        mad = self.memo_mad
        if mad is None:
            mad = self.memo_mad = sorted_mad(self.sorted, med)
        return mad


class Quantile(Ordered):
    """The q-quantile (0..1, linear interpolation as numpy's default) of the last n finite points.

    SageMaker Debugger's LowGPUUtilization reads p95 and p5 of GPU utilisation over a window."""

    __slots__ = ("q",)

    def __init__(self, rising: bool, n: int, q: float) -> None:
        super().__init__(rising, n, "quantile")
        self.q = q

    def get(self) -> float | None:
        if self.has_pending:
            self._flush()
        a = self.sorted
        if len(self.win) < self.n:
            return None
        pos = self.q * (len(a) - 1)
        lo = int(pos)
        if lo + 1 >= len(a):
            return a[-1]
        return a[lo] + (a[lo + 1] - a[lo]) * (pos - lo)


class StepOnly(Stream):
    """A stream that keeps only the latest step; what it answers is read from elsewhere."""

    __slots__ = ()

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        self.step = p.steps[-1]


class View(StepOnly):
    """A function read from another function's stream (`source`, set by the compiler): no window of its own."""

    __slots__ = ("source",)

    def __init__(self, rising: bool) -> None:
        super().__init__(rising)
        self.source = None


class BestStepView(View):
    """best_step(x) read from the Best stream of best(x)."""

    __slots__ = ()

    def get(self) -> float | None:
        src = self.source
        if src is None or src.best is None:
            return None
        return src.best_step


class MadView(View):
    """mad(x, n) read from the sorted window that median(x, n) already keeps (no second window)."""

    __slots__ = ()

    def get(self) -> float | None:
        src = self.source
        if src is None or src.get() is None:  # get() also takes in the pending point
            return None
        mad = src.memo_mad
        if mad is None:
            mad = src.memo_mad = sorted_mad(src.sorted, src.memo_med)
        return mad


class Ema(Stream):
    """Step-weighted exponential moving average with a time constant of n steps.

    alpha = 1 - exp(-Δstep / n), so a log that writes every 10 steps and one that writes every step
    converge to the same curve. Non-finite points leave it unchanged (nonfinite() sees them).
    """

    __slots__ = ("n", "value", "last_step")
    runs_with_readers = True

    def __init__(self, rising: bool, n: float) -> None:
        super().__init__(rising)
        self.n = float(n)
        self.value: float | None = None
        self.last_step = math.nan

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if x - x == 0:
            if self.value is None:
                self.value = x
            else:
                d = step - self.last_step
                if not d > 0:
                    d = 1.0
                a = 1.0 - math.exp(-d / self.n)
                self.value += a * (x - self.value)
            self.last_step = step
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        steps, xs = p.steps, p.xs
        if K is not None and len(xs) - lo >= KERNEL_MIN:
            r = K.ema(steps, xs, lo, self.value, self.last_step, self.n, bool(self.children))
            if r is not NotImplemented:
                self.value, self.last_step, got, first = r
                self.step = steps[-1]
                if got:
                    self.emit_many(p, first, got)
                return
        value, last, n = self.value, self.last_step, self.n
        exp = math.exp
        out: list[float] | None = [] if self.children else None
        first = -1  # the first point after which there is a value (out[0] is the value after it)
        for i in range(lo, len(xs)):
            step, x = steps[i], xs[i]
            if x - x == 0:
                if value is None:
                    value = x
                else:
                    d = step - last
                    if not d > 0:
                        d = 1.0
                    value += (1.0 - exp(-d / n)) * (x - value)
                last = step
            if out is not None and value is not None:
                if first < 0:
                    first = i
                out.append(value)
        self.value, self.last_step = value, last
        self.step = steps[-1]
        if out:
            self.emit_many(p, first, out)

    def get(self) -> float | None:
        return self.value


class Slope(Stream):
    """Robust slope over the last n points (all of them while there are fewer, at least 4):
    (median of the newer half − median of the older half) over the step distance between the halves'
    mean steps. O(log n) per point, and one outlier cannot tilt it (unlike least squares).
    `rise(x, n)` reads the same window: the median change from the older half to the newer half.
    """

    __slots__ = ("n", "new", "old", "new_sorted", "old_sorted", "new_steps", "old_steps")

    def __init__(self, rising: bool, n: int) -> None:
        super().__init__(rising)
        self.n = max(4, int(n))
        self.new: deque[tuple[float, float]] = deque()
        self.old: deque[tuple[float, float]] = deque()
        self.new_sorted: list[float] = []
        self.old_sorted: list[float] = []
        self.new_steps = 0.0
        self.old_steps = 0.0

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if x - x == 0:
            new, old = self.new, self.old
            new.append((step, x))
            insort(self.new_sorted, x)
            self.new_steps += step
            if len(new) + len(old) > self.n:
                s, v = old.popleft()
                del self.old_sorted[bisect_left(self.old_sorted, v)]
                self.old_steps -= s
            while len(old) < (len(new) + len(old)) // 2:
                s, v = new.popleft()
                del self.new_sorted[bisect_left(self.new_sorted, v)]
                self.new_steps -= s
                old.append((s, v))
                insort(self.old_sorted, v)
                self.old_steps += s
        if self.children:
            self.emit(step, t)

    def rise(self) -> float | None:
        if len(self.old) < 2:
            return None
        return sorted_median(self.new_sorted) - sorted_median(self.old_sorted)

    def get(self) -> float | None:
        r = self.rise()
        if r is None:
            return None
        ds = self.new_steps / len(self.new) - self.old_steps / len(self.old)
        if not ds > 0:
            return None
        return r / ds


class RiseView(View):
    """rise(x, n) read from the window of slope(x, n)."""

    __slots__ = ()

    def get(self) -> float | None:
        return None if self.source is None else self.source.rise()


class RelImprovement(Stream):
    """How much the best of the last n points beats the best before them, relative to that best.

    With `frac`, the window grows to that fraction of all points seen (max(n, frac·count)), so a
    slow curve of a million steps is judged over a quarter of its length, not over the last n points.
    Memory stays bounded: points are kept as blocks of max(1, window // 256) (only each block's best),
    so a window of a million points costs a few hundred entries; windows up to 511 points are exact.

    Positive = improved (down for losses, up for rising metrics); 0 or less = no new best within
    the window: a plateau. The torch ReduceLROnPlateau 'rel' criterion, made streaming.
    """

    __slots__ = ("n", "frac", "blocks", "dq", "i", "old_best", "open_best", "open_n", "open_cap")

    def __init__(self, rising: bool, n: int, frac: float = 0.0) -> None:
        super().__init__(rising)
        self.n = int(n)
        self.frac = frac
        self.blocks: deque[tuple[int, float | None]] = deque()  # (last point index, best of block)
        self.dq: deque[tuple[int, float]] = deque()  # monotonic over blocks: best of window at dq[0]
        self.i = 0
        self.old_best: float | None = None
        self.open_best: float | None = None
        self.open_n = 0
        self.open_cap = 1

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.rising else a < b

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        self.i = i = self.i + 1
        if x - x == 0:
            ob = self.open_best
            if ob is None or (x > ob if self.rising else x < ob):
                self.open_best = x
        self.open_n += 1
        size = self.n if not self.frac else max(self.n, int(self.frac * i))
        if self.open_n >= self.open_cap:
            b = self.open_best
            self.blocks.append((i, b))
            if b is not None:
                dq = self.dq
                while dq and not self._better(dq[-1][1], b):
                    dq.pop()
                dq.append((i, b))
            self.open_best, self.open_n = None, 0
            self.open_cap = max(1, size // 256)
        lo = i - size
        blocks = self.blocks
        while blocks and blocks[0][0] <= lo:
            last, b = blocks.popleft()
            if b is not None:
                ob = self.old_best
                if ob is None or self._better(b, ob):
                    self.old_best = b
            if self.dq and self.dq[0][0] == last:
                self.dq.popleft()
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        xs = p.xs
        if K is not None and len(xs) - lo >= KERNEL_MIN:
            r = K.relimp(xs, lo, self.blocks, self.dq, (self.i, self.old_best, self.open_best, self.open_n,
                                                           self.open_cap), self.rising, self.n, self.frac)
            if r is not NotImplemented:
                self.i, self.old_best, self.open_best, self.open_n, self.open_cap = r
                self.step = p.steps[-1]
                return
        rising, n, frac = self.rising, self.n, self.frac
        blocks, dq = self.blocks, self.dq
        i, old_best, open_best, open_n, open_cap = self.i, self.old_best, self.open_best, self.open_n, self.open_cap
        for x in xs[lo:]:
            i += 1
            if x - x == 0 and (open_best is None or (x > open_best if rising else x < open_best)):
                open_best = x
            open_n += 1
            size = n if not frac else max(n, int(frac * i))
            if open_n >= open_cap:
                b = open_best
                blocks.append((i, b))
                if b is not None:
                    if rising:
                        while dq and not dq[-1][1] > b:
                            dq.pop()
                    else:
                        while dq and not dq[-1][1] < b:
                            dq.pop()
                    dq.append((i, b))
                open_best, open_n = None, 0
                open_cap = max(1, size // 256)
            lim = i - size
            while blocks and blocks[0][0] <= lim:
                last, b = blocks.popleft()
                if b is not None and (old_best is None or (b > old_best if rising else b < old_best)):
                    old_best = b
                if dq and dq[0][0] == last:
                    dq.popleft()
        self.i, self.old_best, self.open_best, self.open_n, self.open_cap = i, old_best, open_best, open_n, open_cap
        self.step = p.steps[-1]

    def get(self) -> float | None:
        b = self.old_best
        if b is None:
            return None
        w = self.dq[0][1] if self.dq else None
        ob = self.open_best
        if ob is not None and (w is None or self._better(ob, w)):
            w = ob
        if w is None:
            return None
        denom = abs(b) if b != 0 else 1e-12
        return (w - b) / denom if self.rising else (b - w) / denom


class Rebound(Stream):
    """Current value over the lowest value seen since the series started to decay (1 = no rebound).

    For the lr: warm-up rises to a peak, then the schedule decays; any later rise (a restart, a
    schedule stepped twice per step, an lr multiplied by mistake) shows as a ratio above 1. While the
    series is still rising from its start (warm-up) this stays 1.
    """

    __slots__ = ("peak", "low", "value", "decayed")

    def __init__(self, rising: bool) -> None:
        super().__init__(rising)
        self.peak: float | None = None
        self.low: float | None = None
        self.value: float | None = None
        self.decayed = False

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if x - x == 0:
            if not self.decayed:
                if self.peak is None or x >= self.peak:
                    self.peak = self.low = x
                else:
                    self.decayed = True
                    self.low = x
            elif self.low is None or x < self.low:
                self.low = x
            low = self.low
            self.value = x / low if self.decayed and low and low > 0 else 1.0
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        xs = p.xs
        if K is not None and len(xs) - lo >= KERNEL_MIN:
            r = K.rebound(xs, lo, self.peak, self.low, self.value, self.decayed)
            if r is not NotImplemented:
                self.peak, self.low, self.value, self.decayed = r
                self.step = p.steps[-1]
                return
        peak, low, value, decayed = self.peak, self.low, self.value, self.decayed
        for x in xs[lo:]:
            if x - x == 0:
                if not decayed:
                    if peak is None or x >= peak:
                        peak = low = x
                    else:
                        decayed = True
                        low = x
                elif low is None or x < low:
                    low = x
                value = x / low if decayed and low and low > 0 else 1.0
        self.peak, self.low, self.value, self.decayed = peak, low, value, decayed
        self.step = p.steps[-1]

    def get(self) -> float | None:
        return self.value


class Interval(Stream):
    """Median wall-clock seconds between the last n points (how often this metric is logged).

    Only the timestamps are kept per point (O(1)); the median is computed when asked, which the
    stall rule does as time passes, not per sample.
    """

    __slots__ = ("n", "times")

    def __init__(self, rising: bool, n: int) -> None:
        super().__init__(rising)
        self.n = int(n)
        self.times: deque[float] = deque(maxlen=int(n) + 1)

    def push(self, step: float, x: float, t: float) -> None:
        self.step = step
        if t - t == 0:
            self.times.append(t)
        if self.children:
            self.emit(step, t)

    def push_many(self, p: Points, lo: int) -> None:
        # the deque keeps no more than its last `maxlen` finite times
        self.times.extend(_last_finite(p.ts, lo, len(p.ts), self.times.maxlen))  # type: ignore[arg-type]
        self.step = p.steps[-1]

    def get(self) -> float | None:
        ts = self.times
        if len(ts) < 2:
            return None
        it = iter(ts)
        prev = next(it)
        diffs = []
        for t in it:
            diffs.append(t - prev)
            prev = t
        diffs.sort()
        return sorted_median(diffs)


class StepOf(StepOnly):
    """The step of the latest point."""

    __slots__ = ()

    def get(self) -> float | None:
        return None if self.step != self.step else self.step


# --- magic loss values -------------------------------------------------------------------------

# Class counts whose ln C a stuck cross-entropy loss sits at: small C, common datasets, LM vocabularies.
# 11-20 are left out on purpose: their logs are within 5% of each other, so every loss between 2.3
# and 3.0 (a detection loss plateau, say) would be "near ln C" for one of them.
CLASS_COUNTS = (
    list(range(2, 11)) + [21, 80, 81, 91, 100, 200, 365, 1000, 1001, 21841, 32000, 32768, 50257, 50304,
                          65536, 100277, 128256, 151936, 256000]
)
_LN_CLASSES = sorted((math.log(c), c) for c in CLASS_COUNTS)
_LN_KEYS = [v for v, _ in _LN_CLASSES]

# Saturation floors: -ln(FLT_MIN) (Caffe), Keras' -ln(1e-7) and torch BCELoss' 100 times the
# fraction wrong (j/C for small C), and a couple of multiples of 87.3365 (multi-output nets).
_FLT = 87.33654475
_KERAS = -math.log(1e-7)
SATURATION = sorted(
    {round(_FLT * m, 6) for m in (1, 2, 3, 4)}
    | {round(_KERAS * j / c, 6) for c in range(1, 11) for j in range(1, c + 1)}
    | {round(100.0 * j / c, 6) for c in range(1, 11) for j in range(1, c + 1)}
)


# -ln(1e-7) = 7 ln 10, so 16.118/7 is exactly ln 10: a constant that is also ln C means "stuck at
# chance", not "saturated"; those are left to chance_classes.
SATURATION = [c for c in SATURATION if c == 0 or all(abs(c - lnc) > 1e-3 * lnc for lnc, _ in _LN_CLASSES)]


def chance_classes(x: float, tol: float) -> float:
    """C when x is within relative `tol` of ln C for a known class count C, else 0."""
    if not _finite(x) or x <= 0:
        return 0.0
    i = bisect_left(_LN_KEYS, x)
    best, best_c = tol, 0
    for j in (i - 1, i):
        if 0 <= j < len(_LN_CLASSES):
            lnc, c = _LN_CLASSES[j]
            d = abs(x - lnc) / lnc
            if d <= best:
                best, best_c = d, c
    return float(best_c)


def saturation(x: float, tol: float) -> float:
    """The saturation constant x is pinned at (87.3365, 16.1181·k, 100·k), 0 for none.

    Exactly zero is reported as the tiny number 1e-300 so that it is still true in a condition.
    """
    if not _finite(x):
        return 0.0
    if x == 0:
        return 1e-300
    i = bisect_left(SATURATION, x)
    for j in (i - 1, i):
        if 0 <= j < len(SATURATION):
            c = SATURATION[j]
            if abs(x - c) <= tol * c:
                return c
    return 0.0
