"""Metric rows of one run: name, last value, best value and its step, trend arrow, sparkline.

Drawn as one widget (not a widget per row): a run with a hundred metrics is one render of the
visible rows. The sparkline covers the whole run from the store's overview buckets, so it keeps
the shape of a long run. Up/down moves the cursor; Enter opens the plot of that metric.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from losswatch.monitor import Run
from losswatch.tui import series_view as sv

NAME_W = 16  # at 80 columns; wider terminals give names up to 30
NUM_W = 10
STEP_W = 8


class MetricTable(Widget, can_focus=True):
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("enter", "open", "Plot"),
    ]

    cursor = reactive(0)

    class Opened(Message):
        """The user asked for the plot of a metric."""

        def __init__(self, run: str, metric: str) -> None:
            super().__init__()
            self.run = run
            self.metric = metric

    def __init__(self, run: Run, **kw) -> None:
        super().__init__(**kw)
        self.run = run
        self._names: list[str] = []
        self._top = 0
        self._name_w = NAME_W

    def names(self) -> list[str]:
        self._names = sv.metric_order(self.run.store.metrics())
        return self._names

    def current(self) -> str | None:
        names = self._names or self.names()
        return names[self.cursor] if 0 <= self.cursor < len(names) else None

    def action_cursor(self, delta: int) -> None:
        n = len(self.names())
        if n:
            self.cursor = max(0, min(n - 1, self.cursor + delta))

    def action_open(self) -> None:
        name = self.current()
        if name is not None:
            self.post_message(self.Opened(self.run.name, name))

    def on_click(self, event) -> None:
        """A click selects a row; a double click opens its plot."""
        i = self._top + event.y - 1
        if 0 <= i < len(self._names):
            self.cursor = i
            if getattr(event, "chain", 1) >= 2:
                self.action_open()

    def data_changed(self) -> None:
        self.refresh()

    def render(self) -> Text:
        names = self.names()
        width = self.size.width
        rows = max(1, self.size.height - 1)
        cur = min(self.cursor, max(0, len(names) - 1))
        if cur < self._top:
            self._top = cur
        elif cur >= self._top + rows:
            self._top = cur - rows + 1
        self._name_w = name_w = max(NAME_W, min(30, width // 5, max((len(n) for n in names), default=0)))
        spark_w = max(0, width - name_w - 2 * NUM_W - STEP_W - 7)
        out = Text(no_wrap=True, overflow="crop")
        head = (f"{'metric':<{name_w}} {'last':>{NUM_W}} {'best':>{NUM_W}} {'@step':>{STEP_W}}   "
                f"{'whole run' if spark_w >= 9 else ''}")
        out.append(head[:width], style="bold dim")
        if not names:
            out.append("\n" + "waiting for metrics…", style="dim italic")
            return out
        for i in range(self._top, min(len(names), self._top + rows)):
            s = self.run.store.get(names[i])
            if s is None or s.last is None:
                continue
            out.append("\n")
            self._row(out, s, spark_w, selected=(i == cur and self.has_focus))
        return out

    def _row(self, out: Text, s, spark_w: int, selected: bool) -> None:
        base = "reverse" if selected else ""
        w = self._name_w
        name = s.name if len(s.name) <= w else s.name[: w // 2 - 1] + "…" + s.name[-(w - w // 2):]
        out.append(f"{name:<{w}} ", style=base or "bold")
        last = s.last.value
        last_style = "bold red" if not math.isfinite(last) else ""
        out.append(f"{sv.fmt(last):>{NUM_W}} ", style=f"{base} {last_style}".strip())
        b = sv.best(s)
        out.append(f"{sv.fmt(b[0]) if b else '':>{NUM_W}} ", style=base or "green")
        out.append(f"{sv.fmt(b[1]) if b else '':>{STEP_W}} ", style=base or "dim")
        d = sv.direction(s.name)
        tr = sv.trend(s)
        if not math.isfinite(last):
            out.append("× ", style="bold red")
        else:
            arrow = "↑" if tr > 0 else "↓" if tr < 0 else "→"
            good = d * tr
            out.append(f"{arrow} ", style="green" if good > 0 else "red" if good < 0 else "dim")
        if spark_w > 0:
            text, bad = sv.series_spark(s, spark_w)
            line = Text(text, style="cyan")
            for i in bad:
                line.stylize("bold red", i, i + 1)
            out.append_text(line)
