"""A real plot of one metric (textual-plotext): raw and EMA-smoothed, train and val together,
log-Y, step or wall-time axis, and markers at the steps where alerts fired.

Smoothing and log-Y are the app's view settings (shared with the keys and the command palette);
the screen redraws when they change or when new samples arrive for its run.
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from losswatch.monitor import Run
from losswatch.store import Series
from losswatch.tui import series_view as sv

MAX_POINTS = 2000


def plot_points(s: Series, wall: bool = False, t0: float = 0.0) -> tuple[list[float], list[float]]:
    """(x, y) for plotting: the exact points when few, else the whole-run overview buckets."""
    if s.count <= MAX_POINTS and len(s.values) == s.count:
        n = min(len(s.steps), len(s.values), len(s.times))
        xs = [t - t0 for t in s.times[:n]] if wall else list(s.steps[:n])
        return xs, list(s.values[:n])
    ov = s.overview
    ys = list(ov.lasts)
    xs = list(ov.steps)[: len(ys)]
    return xs, ys[: len(xs)]


class PlotScreen(Screen):
    BINDINGS = [
        Binding("escape,q,enter", "app.pop_screen", "Back"),
        Binding("x", "toggle_axis", "Step/time axis"),
    ]

    def __init__(self, run: Run, metric: str, alert_steps: list[tuple[float, str]]) -> None:
        super().__init__()
        self.run = run
        self.metric = metric
        self.alert_steps = alert_steps
        self.wall = False

    def compose(self) -> ComposeResult:
        yield Static(id="plot-title")
        yield PlotextPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self.replot()

    def action_toggle_axis(self) -> None:
        self.wall = not self.wall
        self.replot()

    def data_changed(self) -> None:
        self.replot()

    def span(self) -> int:
        """The EMA time constant: the app's setting, else about 1/30 of the run's steps."""
        chosen = getattr(self.app, "smoothing", None)
        if chosen is not None:
            return chosen
        s = self.run.store.get(self.metric)
        if s is None or s.first is None or s.last is None or not math.isfinite(s.last.step - s.first.step):
            return 0
        target = (s.last.step - s.first.step) / 30
        from losswatch.tui.app import SMOOTHING_STEPS

        return min(SMOOTHING_STEPS, key=lambda k: abs(k - target))

    def replot(self) -> None:
        app = self.app
        span = self.span()
        log_y = getattr(app, "log_y", False)
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        store = self.run.store
        names = [self.metric]
        other = sv.partner(self.metric, store.metrics())
        if other:
            names.append(other)
        colors = [("cyan", "blue"), ("orange", "red")]
        notes = []
        for name, (raw_c, smooth_c) in zip(names, colors, strict=False):
            s = store.get(name)
            if s is None:
                continue
            xs, ys = plot_points(s, self.wall, self.run.started)
            keep = [(x, y) for x, y in zip(xs, ys, strict=False)
                    if math.isfinite(y) and math.isfinite(x) and (y > 0 or not log_y)]
            bad = [x for x, y in zip(xs, ys, strict=False) if not math.isfinite(y)]
            if bad:
                notes.append(f"{name}: {len(bad)} non-finite from {sv.fmt(bad[0])}")
            if not keep:
                continue
            kx, ky = [p[0] for p in keep], [p[1] for p in keep]
            if span > 0 and len(ky) > 2 and not self.wall:
                plt.plot(kx, ky, color=raw_c, marker="braille", label=f"{name} raw")
                plt.plot(kx, sv.step_ema(kx, ky, span), color=smooth_c, marker="braille", label=f"{name} ema")
            else:
                plt.plot(kx, ky, color=raw_c, marker="braille", label=name)
            for x in bad[:1]:
                plt.vline(x, "magenta")
        if not self.wall:
            for step, _rule in self.alert_steps:
                plt.vline(step, "red")
        plt.yscale("log" if log_y else "linear")
        plt.xlabel("wall time (s)" if self.wall else "step")
        title = (f"{self.metric}" + (f" + {other}" if other else "") +
                 f"   {f'EMA {span} steps' if span else 'raw'}   {'log' if log_y else 'linear'} y")
        if self.alert_steps:
            title += "   alerts: " + ", ".join(f"{r}@{sv.fmt(s)}" for s, r in self.alert_steps[:4])
        if notes:
            title += "   " + "; ".join(notes)
        self.query_one("#plot-title", Static).update(title)
        plot.refresh()
