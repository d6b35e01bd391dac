"""What the screen shows of a series, computed from the store without changing it.

Pure functions (no Textual): the whole-run shape for a sparkline from the store's overview buckets,
best value and trend, steps per second, EMA smoothing for the plot, and which metrics belong
together (train with val). Kept apart from the widgets so they are easy to test.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

from losswatch.store import Series

BARS = "▁▂▃▄▅▆▇█"
NONFINITE_MARK = "×"

_LOWER_BETTER = ("loss", "err", "ppl", "perplexity", "nll", "wer", "cer", "mse", "mae", "rmse", "l1", "l2")
_HIGHER_BETTER = ("acc", "map", "f1", "auc", "bleu", "rouge", "iou", "srcc", "plcc", "recall", "precision",
                  "hella", "score", "psnr", "ssim", "dice", "mrr", "ndcg", "top1", "top5")


def direction(metric: str) -> int:
    """-1 when lower is better (losses, errors), +1 when higher is better (accuracy, mAP), 0 unknown."""
    low = metric.lower()
    if low.startswith(("lr", "epoch", "gpu", "job.", "event.", "meta.")) or low in ("learning_rate", "loss_scale"):
        return 0
    if any(k in low for k in _LOWER_BETTER):
        return -1
    if any(k in low for k in _HIGHER_BETTER):
        return 1
    return 0


def best(series: Series) -> tuple[float, float] | None:
    """(value, step) of the best value so far, or None when the metric has no better direction."""
    d = direction(series.name)
    p = series.min if d < 0 else series.max if d > 0 else None
    return None if p is None else (p.value, p.step)


def overview_values(series: Series) -> list[float]:
    """The whole run's shape, one value per overview bucket: its bad extreme (the max of a loss,
    the min of an accuracy, else its last value), NaN where the bucket ended on a non-finite value.

    Spikes are what one looks for in a sparkline; a bucket's mean or last would hide them. The
    overview is written by the feeding thread and may swap its arrays while we read, so nothing
    assumes two of its arrays have the same length.
    """
    ov = series.overview
    d = direction(series.name)
    lasts = list(ov.lasts)
    if d == 0:
        return lasts
    ext = list(ov.maxs if d < 0 else ov.mins)
    n = min(len(ext), len(lasts))
    return [lasts[i] if not math.isfinite(lasts[i]) else ext[i] for i in range(n)]


def downsample(values: Sequence[float], width: int, agg: str = "mean") -> list[float]:
    """At most `width` columns over the whole sequence: the mean (or max, min) of each column.

    A column that holds a NaN or ±Inf becomes NaN, so a non-finite value never disappears from the
    picture; the shape of a long run is kept rather than cut to its end.
    """
    n = len(values)
    if width <= 0 or n == 0:
        return []
    if n <= width:  # stretched over the width: a short run fills the row like a long one
        return [v if math.isfinite(v) else math.nan for v in (values[c * n // width] for c in range(width))]
    out = []
    for c in range(width):
        lo = c * n // width
        hi = max(lo + 1, (c + 1) * n // width)
        chunk = values[lo:hi]
        finite = [v for v in chunk if math.isfinite(v)]
        if len(finite) < len(chunk):
            out.append(math.nan)
        elif agg == "max":
            out.append(max(finite))
        elif agg == "min":
            out.append(min(finite))
        else:
            out.append(sum(finite) / len(finite))
    return out


def spark(values: Sequence[float], width: int, agg: str = "mean",
          bounds: tuple[float, float] | None = None) -> tuple[str, list[int]]:
    """Sparkline text over the whole run and the columns that hold a non-finite value.

    Positive series spanning more than two decades are drawn on a log scale, so a loss that starts
    at 4000 and settles at 20 still shows its shape at the bottom.
    """
    cols = downsample(values, width, agg)
    finite = [v for v in cols if math.isfinite(v)]
    if not finite:
        return NONFINITE_MARK * len(cols) if cols else "", list(range(len(cols)))
    lo, hi = bounds if bounds is not None else (min(finite), max(finite))
    use_log = bounds is None and lo > 0 and hi / lo > 100
    if use_log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = hi - lo
    chars = []
    bad = []
    for i, v in enumerate(cols):
        if not math.isfinite(v):
            chars.append(NONFINITE_MARK)
            bad.append(i)
            continue
        x = math.log10(v) if use_log else v
        level = 0 if span <= 0 else int((x - lo) / span * (len(BARS) - 1) + 0.5)
        chars.append(BARS[max(0, min(len(BARS) - 1, level))])
    return "".join(chars), bad


def series_spark(series: Series, width: int) -> tuple[str, list[int]]:
    """The sparkline of a metric row: whole run, bad excursions kept (see `overview_values`)."""
    d = direction(series.name)
    return spark(overview_values(series), width, "max" if d < 0 else "min" if d > 0 else "mean")


def trend(series: Series, window: int = 20) -> int:
    """-1 falling, +1 rising, 0 flat: recent mean against the mean just before it (finite values)."""
    vals = [v for v in series.values[-2 * window:] if math.isfinite(v)]
    if len(vals) < 4:
        return 0
    half = len(vals) // 2
    a = sum(vals[:half]) / half
    b = sum(vals[half:]) / (len(vals) - half)
    scale = max(abs(a), abs(b), 1e-12)
    if abs(b - a) / scale < 0.005:
        return 0
    return 1 if b > a else -1


def steps_per_second(series: Series, window: float = 10.0) -> float | None:
    """Steps per second over the last `window` seconds of wall time, or None when it cannot be told.

    A backlog read at once has (nearly) one wall time for every sample; that is no rate.
    """
    times = series.times
    steps = series.steps
    n = min(len(times), len(steps))
    if n < 2:
        return None
    t1, s1 = times[n - 1], steps[n - 1]
    i = bisect_left(times, t1 - window, 0, n - 1)
    t0, s0 = times[i], steps[i]
    if not (t1 - t0 >= 0.5) or not math.isfinite(s1 - s0):
        return None
    return (s1 - s0) / (t1 - t0)


def step_ema(steps: Sequence[float], values: Sequence[float], span: float) -> list[float]:
    """The rule engine's EMA (step-weighted, time constant `span` steps) over a series, point by point.

    The same smoothing the rules see (`ema(loss, 50)`), so the plot shows what an alert compared.
    Non-finite points leave the average unchanged and are passed through as they are.
    """
    from losswatch.engine.functions import Ema

    if span <= 0:
        return list(values)
    e = Ema(False, span)
    out = []
    for step, v in zip(steps, values, strict=False):
        e.push(step, v, math.nan)
        out.append(v if not math.isfinite(v) or e.value is None else e.value)
    return out


def partner(metric: str, names: Sequence[str]) -> str | None:
    """The validation series that goes with a training one (loss ↔ val_loss, train.x ↔ val.x)."""
    candidates = []
    if metric.startswith("val_"):
        candidates = [metric[4:], "train_" + metric[4:]]
    elif metric.startswith("val."):
        candidates = ["train." + metric[4:], metric[4:]]
    elif metric.startswith("train."):
        candidates = ["val." + metric[6:], "val_" + metric[6:], "eval." + metric[6:]]
    elif metric.startswith("train_"):
        candidates = ["val_" + metric[6:]]
    else:
        candidates = ["val_" + metric, "val." + metric, "eval_" + metric]
    for c in candidates:
        if c in names and c != metric:
            return c
    return None


_ORDER = ("loss", "val_loss", "acc", "val_acc", "lr", "grad_norm", "loss_scale", "epoch", "step_time",
          "throughput")


def metric_order(names: Sequence[str]) -> list[str]:
    """Metrics in the order rows are shown: canonical ones first, then the rest as the log named them.

    GPU, job and event series are shown elsewhere (GPU panel, header), not as metric rows.
    """
    shown = [n for n in names if not n.startswith(("gpu", "job.", "event.", "meta."))]
    first = [n for n in _ORDER if n in shown]
    return first + [n for n in shown if n not in _ORDER]


def fmt(x: float | None, width: int = 0) -> str:
    """A number in at most ~9 characters (nan/inf written as such)."""
    if x is None:
        return "—"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e7:
        return str(int(x))
    a = abs(x)
    if a >= 1e5 or a < 1e-3:
        return f"{x:.3e}"
    return f"{x:.5g}"


def fmt_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
