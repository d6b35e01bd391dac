"""Window statistics against a direct (numpy) computation, on random data with NaNs mixed in."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from losswatch.engine import functions as F


def _series(n=400, seed=1, nan_every=37):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        v = rng.gauss(3, 1) * (10 if rng.random() < 0.02 else 1)
        if nan_every and i % nan_every == 5:
            v = float("nan") if i % 2 else float("inf")
        out.append(v)
    return out


def _finite_window(xs, i, n):
    w = np.array(xs[max(0, i - n + 1): i + 1])
    return w[np.isfinite(w)], len(xs[max(0, i - n + 1): i + 1])


@pytest.mark.parametrize("kind", ["mean", "std"])
def test_moments(kind):
    xs = _series()
    s = F.Moments(False, 20, kind)
    for i, x in enumerate(xs):
        s.push(i, x, 0)
        fin, size = _finite_window(xs, i, 20)
        got = s.get()
        if size < 20:
            assert got is None
            continue
        want = fin.mean() if kind == "mean" else fin.std(ddof=1)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("kind", ["median", "mad"])
def test_ordered(kind):
    xs = _series()
    s = F.Ordered(False, 25, kind)
    fin_hist = []
    for i, x in enumerate(xs):
        s.push(i, x, 0)
        if math.isfinite(x):
            fin_hist.append(x)
        got = s.get()
        if not fin_hist:
            assert got is None
            continue
        w = np.array(fin_hist[-25:])  # a partial window while fewer than 25 points
        med = np.median(w)
        want = med if kind == "median" else np.median(np.abs(w - med))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("n", [4, 5, 6, 7, 50, 51])
def test_mad_even_and_odd_windows(n):
    rng = random.Random(n)
    for _ in range(200):
        a = sorted(rng.gauss(0, 1) for _ in range(n))
        med = F.sorted_median(a)
        assert F.sorted_mad(a, med) == pytest.approx(np.median(np.abs(np.array(a) - med)), abs=1e-12)


def test_zscore_against_window_before_the_point():
    xs = _series(nan_every=0)
    s = F.Ordered(False, 30, "zscore")
    for i, x in enumerate(xs):
        s.push(i, x, 0)
        got = s.get()
        if i < 20:  # a z-score needs min(n, 20) points of history
            assert got is None
            continue
        w = np.array(xs[max(0, i - 30):i])
        med = np.median(w)
        mad = np.median(np.abs(w - med))
        assert got == pytest.approx((x - med) / (1.4826 * mad), rel=1e-9)


@pytest.mark.parametrize("is_max", [False, True])
def test_extreme_window_and_whole_run(is_max):
    xs = _series()
    s = F.Extreme(False, 15, is_max)
    r = F.Extreme(False, None, is_max)
    for i, x in enumerate(xs):
        s.push(i, x, 0)
        r.push(i, x, 0)
        fin, size = _finite_window(xs, i, 15)
        if size >= 15 and len(fin):
            assert s.get() == (fin.max() if is_max else fin.min())
        allf = np.array([v for v in xs[: i + 1] if math.isfinite(v)])
        if len(allf):
            assert r.get() == (allf.max() if is_max else allf.min())


def test_ema_is_step_weighted():
    """Logging every 10 steps or every step gives the same EMA curve (up to sampling)."""
    a, b = F.Ema(False, 50), F.Ema(False, 50)
    for step in range(0, 1000):
        x = 1.0 if step < 500 else 2.0
        a.push(step, x, 0)
        if step % 10 == 0:
            b.push(step, x, 0)
    assert a.get() == pytest.approx(b.get(), rel=0.02)
    assert a.get() == pytest.approx(2 - math.exp(-499 / 50), rel=1e-3)


def test_slope_is_robust_to_one_outlier():
    s = F.Slope(False, 40)
    xs, ys = [], []
    for i in range(40):
        y = 5.0 - 0.01 * i * 10 + (1000 if i == 30 else 0)
        s.push(i * 10, y, 0)
        xs.append(i * 10)
        ys.append(y)
    assert s.get() == pytest.approx(-0.01, rel=0.1)
    assert np.polyfit(xs, ys, 1)[0] > 0  # least squares is dragged the wrong way by the outlier


@pytest.mark.parametrize("rising", [False, True])
def test_rel_improvement_and_best_follow_direction(rising):
    sign = 1 if rising else -1
    r = F.RelImprovement(rising, 10)
    b = F.Best(rising)
    vals = [10 + sign * 0.1 * i for i in range(20)] + [10 + sign * 1.9] * 30
    for i, v in enumerate(vals):
        r.push(i, v, 0)
        b.push(i, v, 0)
        if i == 19:
            assert r.get() == pytest.approx(1.0 / (10 + sign * 0.9))
    assert r.get() == pytest.approx(0.0)
    assert b.get() == pytest.approx(10 + sign * 1.9)


def test_rel_improvement_window_grows_with_frac():
    r = F.RelImprovement(False, 10, 0.5)
    for i in range(1000):
        r.push(i, 10.0 - i * 0.001, 0)
    # window = 500 points: best before it is at i=499, best inside at i=999
    assert r.get() == pytest.approx((10 - 0.499 - (10 - 0.999)) / (10 - 0.499), rel=1e-9)


def test_rebound_ignores_warmup_and_sees_a_rise_after_decay():
    r = F.Rebound(False)
    for i in range(100):
        r.push(i, 1e-3 * i / 100, 0)
        assert r.get() == 1.0
    for i in range(100):
        r.push(100 + i, 1e-3 * (1 - i / 100) + 1e-6, 0)
    assert r.get() == pytest.approx(1.0)
    r.push(300, 5e-4, 0)
    assert r.get() > 2
    r.push(301, 3e-2, 0)  # far above the old peak: still a rise after decay
    assert r.get() > 100


def test_magic_values():
    assert F.chance_classes(2.3026, 0.01) == 10
    assert F.chance_classes(0.6931, 0.01) == 2
    assert F.chance_classes(10.8249, 0.001) == 50257
    assert F.chance_classes(1.6, 0.001) == 0
    assert F.saturation(87.3365, 1e-4) == pytest.approx(87.336545)
    assert F.saturation(14.5063, 1e-4) > 0  # 0.9 * -ln(1e-7): 10 classes, one always predicted
    assert F.saturation(50.0, 1e-4) == 50.0
    assert F.saturation(0.0, 1e-4) > 0
    assert F.saturation(2.3, 1e-4) == 0
    assert F.saturation(float("nan"), 1e-4) == 0


@pytest.mark.parametrize("name", ["loss", "val_loss", "train.box_loss", "ppl", "val_error"])
def test_falling_metrics(name):
    assert not F.rises(name)


@pytest.mark.parametrize("name", ["acc", "val_acc", "metrics.map50_95", "eval_rouge1", "bleu", "detection_eval",
                                  "val_srcc", "coco.bbox_map"])
def test_rising_metrics(name):
    assert F.rises(name)


def test_rel_improvement_memory_is_bounded_and_close_to_exact():
    rng = random.Random(3)
    r = F.RelImprovement(False, 60, 0.25)
    xs = []
    for i in range(200_000):
        x = 5 * math.exp(-i / 50_000) + rng.gauss(0, 0.05)
        xs.append(x)
        r.push(i, x, 0)
    assert len(r.blocks) < 600
    size = int(0.25 * len(xs))
    old, win = min(xs[:-size]), min(xs[-size:])
    assert r.get() == pytest.approx((old - win) / old, rel=0.02)


def test_slope_and_rise_use_a_partial_window_while_filling():
    s = F.Slope(False, 50)
    for i in range(3):
        s.push(i, 1.0 + i, 0)
    assert s.get() is None and s.rise() is None
    for i in range(3, 10):
        s.push(i, 1.0 + i, 0)
    assert s.get() == pytest.approx(1.0)
    assert s.rise() == pytest.approx(5.0)  # medians of 1..5 and 6..10
    for i in range(10, 200):
        s.push(i, 1.0 + i, 0)
    assert len(s.old) + len(s.new) == 50
    assert s.get() == pytest.approx(1.0) and s.rise() == pytest.approx(25.0)
