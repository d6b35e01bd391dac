"""What the rows and plots show of a series: shape kept over a long run, NaN kept, best, trend."""

from __future__ import annotations

import math

from losswatch.model import SampleBatch
from losswatch.store import Series, Store
from losswatch.tui import series_view as sv


def _series(name: str, values: list[float], times: list[float] | None = None) -> Series:
    s = Series(name)
    for i, v in enumerate(values):
        s.add(float(i), v, i + 1, times[i] if times else 100.0)
    return s


def test_downsample_keeps_a_spike_of_a_long_run_and_covers_all_of_it():
    values = [1.0] * 100_000
    values[50_000] = 1e6  # one spike in the middle of a long run
    values[-1] = 5.0
    s = _series("loss", values)
    text, bad = sv.series_spark(s, 40)
    assert len(text) == 40 and not bad
    assert "█" in text[15:25]  # the spike is drawn near the middle, not cut away
    assert text[-1] != "▁"  # the end of the run is there too


def test_nonfinite_values_stay_visible():
    s = _series("loss", [1.0, 0.9, math.nan, 0.8] + [0.7] * 10)
    text, bad = sv.series_spark(s, 14)
    assert bad == [2] and text[2] == sv.NONFINITE_MARK
    wide, bad = sv.series_spark(s, 28)  # a short run is stretched over the row, NaN included
    assert len(wide) == 28 and bad == [4, 5]
    cols = sv.downsample([1.0, math.inf, 1.0, 1.0], 2)
    assert math.isnan(cols[0]) and cols[1] == 1.0


def test_spark_uses_log_scale_for_positive_series_over_decades():
    text, _ = sv.spark([4000, 400, 40, 20, 20, 20], 6)
    assert text[2] != text[3] or text[1] != text[2]  # shape visible below the first value
    assert text[0] == "█" and text[-1] == "▁"


def test_best_follows_the_direction_of_the_metric():
    loss = _series("val_loss", [3.0, 1.0, 2.0])
    acc = _series("val_acc", [0.1, 0.9, 0.5])
    lr = _series("lr", [1.0, 2.0])
    assert sv.best(loss) == (1.0, 1.0)
    assert sv.best(acc) == (0.9, 1.0)
    assert sv.best(lr) is None


def test_trend_and_rate():
    falling = _series("loss", [10 - i * 0.1 for i in range(40)])
    rising = _series("loss", [1 + i * 0.1 for i in range(40)])
    flat = _series("loss", [1.0] * 40)
    assert (sv.trend(falling), sv.trend(rising), sv.trend(flat)) == (-1, 1, 0)
    backlog = _series("loss", [1.0] * 50)  # read at once: one wall time, no rate
    assert sv.steps_per_second(backlog) is None
    live = _series("loss", [1.0] * 21, times=[1000.0 + i * 0.5 for i in range(21)])
    assert abs(sv.steps_per_second(live) - 2.0) < 1e-9


def test_plot_smoothing_is_the_engines_step_weighted_ema():
    steps = [0.0, 10.0, 20.0, 30.0]
    out = sv.step_ema(steps, [1.0, 1.0, math.nan, 3.0], 10)
    assert out[0] == 1.0 and out[1] == 1.0 and math.isnan(out[2])
    assert abs(out[3] - (1.0 + (1 - math.exp(-20 / 10)) * 2.0)) < 1e-12  # Δstep 20 since the last finite
    assert sv.step_ema(steps, [1.0, 2.0, 3.0, 4.0], 0) == [1.0, 2.0, 3.0, 4.0]
    # a log every 10 steps and one every step give about the same curve (time constant in steps)
    sparse = sv.step_ema([float(s) for s in range(0, 200, 10)], [float(s) for s in range(0, 200, 10)], 50)
    dense = sv.step_ema([float(s) for s in range(200)], [float(s) for s in range(200)], 50)
    assert abs(sparse[-1] - dense[190]) < 6


def test_partner_and_order():
    names = ["lr", "loss", "val_loss", "gpu0.util", "event.oom", "train.box_loss", "val.box_loss"]
    assert sv.partner("loss", names) == "val_loss"
    assert sv.partner("val_loss", names) == "loss"
    assert sv.partner("train.box_loss", names) == "val.box_loss"
    assert sv.metric_order(names) == ["loss", "val_loss", "lr", "train.box_loss", "val.box_loss"]


def test_store_overview_feeds_the_sparkline_after_many_halvings():
    store = Store(recent=100)
    b = SampleBatch(1.0)
    for i in range(20_000):
        b.add("loss", float(i), 1.0 / (1 + i), i + 1)
    store.add_batch(b)
    s = store.get("loss")
    vals = sv.overview_values(s)
    assert len(vals) <= 2 * 1024 and len(s.values) <= 200
    text, _ = sv.series_spark(s, 30)
    assert text[0] == "█" and text[-1] == "▁"
