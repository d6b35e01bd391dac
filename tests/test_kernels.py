"""The engine's C catch-up loops (losswatch/engine/_kernels.c) leave the state and emit the values the
Python loops do, bit for bit.

- They are built where CI installs the package (a missing build fails CI, skips elsewhere).
- For each stream class with a kernel: a history fed point by point, then a run caught up with
  `push_many` once through the kernel and once through the Python loop (`functions.K` switched off):
  the same state (every slot, signs of zeros and NaNs included); and both answer, and hand their
  readers (an eager one and a lazy one's log), what pushing the run point by point gives. On random
  points with NaN, ±Inf, ±0, ties, steps that go back or repeat.
- Points that are not plain floats are declined (NotImplemented) before anything changes.
"""

from __future__ import annotations

import math
import struct
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losswatch.engine import functions as F
from tests.conftest import require_native, under_ci

K = F.K


def test_kernels_are_built():
    require_native(K, "the engine's C loops (losswatch/engine/_kernels.c)")


needs_kernels = pytest.mark.skipif(K is None and not under_ci(), reason="engine kernels not built")


class Reader(F.Stream):
    """Records what a stream hands its readers."""

    __slots__ = ("got",)

    def __init__(self) -> None:
        super().__init__(False)
        self.got: list = []

    def push(self, step: float, x: float, t: float) -> None:
        self.got.append((step, x, t))


def _key(v):
    """A comparable form that tells -0.0 from 0.0 and keeps NaN equal to NaN."""
    if isinstance(v, float):
        return ("f", struct.pack("<d", v)) if v == v else ("nan",)
    if isinstance(v, (list, tuple, deque)):
        return ("seq", type(v).__name__ if not isinstance(v, deque) else "deque", tuple(_key(x) for x in v))
    if isinstance(v, Reader):
        return ("reader", _key(v.got))
    if isinstance(v, F.Log):
        return ("log", _key(v.steps), _key(v.xs), _key(v.ts))
    if isinstance(v, F.Stream):
        return ("stream", id(v))
    return ("o", v)


def _state(s: F.Stream) -> dict:
    out = {}
    for cls in type(s).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name in ("children", "log_in", "f"):
                continue
            if hasattr(s, name):
                out[name] = _key(getattr(s, name))
    out["readers"] = [_key(c) for c in s.children]
    return out


VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 2.5, -2.5, 1e-300, 5e-324, math.nan, math.inf, -math.inf, 0.6931, 3.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=10),
)
STEPS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 2.0, 2.0, -1.0]))


@st.composite
def runs(draw, max_len: int = 60):
    """(history, run): points fed one by one, then a run caught up at once (with a prefix before lo)."""
    def points(n: int) -> list[tuple[float, float, float]]:
        out, step = [], 0.0
        for _ in range(n):
            if draw(st.booleans()):
                step += draw(st.sampled_from([1.0, 10.0, 0.5]))
            else:
                step = draw(STEPS)
            out.append((step, draw(VALUES), draw(st.sampled_from([0.0, 1.5, math.nan]))))
        return out

    history = points(draw(st.integers(0, max_len)))
    prefix = points(draw(st.integers(0, 3)))
    run = points(draw(st.integers(1, max_len)))
    return history, prefix, run


FACTORIES = {
    "ema": lambda r: F.Ema(r, 3.0),
    "ema_long": lambda r: F.Ema(r, 100.0),
    "ema_short": lambda r: F.Ema(r, 0.25),
    "rebound": lambda r: F.Rebound(r),
    "best": lambda r: F.Best(r),
    "best_step": lambda r: F.Best(r, want_step=True),
    "min_all": lambda r: F.Extreme(r, None, False),
    "max_all": lambda r: F.Extreme(r, None, True),
    "min_10": lambda r: F.Extreme(r, 10, False),
    "max_3": lambda r: F.Extreme(r, 3, True),
    "max_1": lambda r: F.Extreme(r, 1, True),
    "log": lambda r: F.Elementwise(r, F.safe_log),
    "median_9": lambda r: F.Ordered(r, 9, "median"),
    "median_4": lambda r: F.Ordered(r, 4, "median"),
    "median_1": lambda r: F.Ordered(r, 1, "median"),
    "relimp_10": lambda r: F.RelImprovement(r, 10),
    "relimp_frac": lambda r: F.RelImprovement(r, 10, 0.25),
    "relimp_1": lambda r: F.RelImprovement(r, 1),
}
# The classes whose values a reader sees during a run (the others hand a run on only when unread).
WITH_READERS = {"ema", "ema_long", "log", "median_9", "median_4", "median_1"}


def points(items: list[tuple[float, float, float]]) -> F.Points:
    return F.Points([p[0] for p in items], [p[1] for p in items], [p[2] for p in items])


def _feed(name: str, rising: bool, reader: bool, history, prefix, run, mode: str) -> F.Stream:
    s = FACTORIES[name](rising)
    if reader:  # a reader fed eagerly and a lazy readers' log
        s.children += [Reader(), F.Log()]
    for p in history:
        s.push(*p)
    if mode == "push":
        for p in run:
            s.push(*p)
        return s
    saved = F.K
    F.K = K if mode == "kernel" else None
    try:
        s.push_many(points(prefix + run), len(prefix))
    finally:
        F.K = saved
    return s


def _check(name: str, rising: bool, history, prefix, run) -> None:
    for reader in ((False, True) if name in WITH_READERS else (False,)):
        py = _feed(name, rising, reader, history, prefix, run, "python")
        native = _feed(name, rising, reader, history, prefix, run, "kernel")
        assert _state(native) == _state(py), (name, reader)
        assert _key(native.get()) == _key(py.get())
        one = _feed(name, rising, reader, history, prefix, run, "push")  # the reference: point by point
        assert _key(one.get()) == _key(py.get())
        if reader:
            assert _key(one.children[0].got) == _key(py.children[0].got)
            assert _key(one.children[1]) == _key(py.children[1])


@needs_kernels
@pytest.mark.parametrize("name", sorted(FACTORIES))
@settings(max_examples=120, deadline=None)
@given(data=runs(), rising=st.booleans())
def test_kernel_equals_python_loop(name, data, rising):
    _check(name, rising, *data)


@needs_kernels
@pytest.mark.parametrize("name", ["relimp_frac", "relimp_10", "median_9", "ema", "max_all", "min_10"])
def test_long_runs(name):
    """Thousands of points in runs of odd lengths: rel_improvement's blocks grow past one point
    (a window over 512), medians with many ties."""
    import random

    rng = random.Random(7)
    pts = [(float(i), rng.choice([rng.random(), 0.5, -0.0, 0.0, math.nan, 1.0 / (i + 1)]), 0.0)
           for i in range(6000)]
    for rising in (False, True):
        states = {}
        for mode in ("kernel", "python"):
            s = FACTORIES[name](rising)
            if name in WITH_READERS:
                s.children += [Reader(), F.Log()]
            saved = F.K
            F.K = K if mode == "kernel" else None
            try:
                i = 0
                for size in [1, 7, 300, 2, 999, 41] * 40:
                    if i >= len(pts):
                        break
                    s.push_many(points(pts[: i + size]), i)
                    i += size
            finally:
                F.K = saved
            states[mode] = (_state(s), _key(s.get()))
        assert states["kernel"] == states["python"]


@needs_kernels
def test_declines_points_that_are_not_floats():
    e = F.Ema(False, 3.0)
    e.push(0.0, 1.0, 0.0)
    before = _state(e)
    assert K.ema([1] * 5, [2.0] * 5, 0, e.value, e.last_step, e.n, False) is NotImplemented
    assert K.medians([2.0], 0, deque([1]), [1]) is NotImplemented
    assert K.relimp([1.0, "x"], 0, deque(), deque(), (0, None, None, 0, 1), False, 10, 0.0) is NotImplemented
    assert K.best([1.0], [1.0, 2.0], 0, None, 0.0, False) is NotImplemented  # columns of unequal length
    assert _state(e) == before
    # int steps (a parser's own counter) take the Python loop with the same result
    e.push_many(points([(float(i), 2.0, 0.0) for i in range(3)] + [(i, 3.0, 0.0) for i in range(3, 9)]), 0)
    ref = F.Ema(False, 3.0)
    ref.push(0.0, 1.0, 0.0)
    for i in range(3):
        ref.push(float(i), 2.0, 0.0)
    for i in range(3, 9):
        ref.push(i, 3.0, 0.0)
    assert _key(e.get()) == _key(ref.get())


@needs_kernels
@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_sliding_medians_are_the_sorted_windows(n, data):
    """guard.py's C medians: each window's median as a stable sort of the window picks it (the
    stream's own element, zero signs included)."""
    import numpy as np

    finite = st.one_of(st.sampled_from([0.0, -0.0, 1.0, 2.5, -2.5, 1e-300]), st.floats(-1e6, 1e6))
    a = np.array(data.draw(st.lists(finite, min_size=n + 1, max_size=n + 90)), dtype=float)
    got = np.frombuffer(K.sliding_medians(a, n), dtype=np.float64)
    assert got.tobytes() == F.window_medians(np, a, n, stable=True).tobytes()
    assert K.sliding_medians(a[: n], n) is NotImplemented  # no window past the first
