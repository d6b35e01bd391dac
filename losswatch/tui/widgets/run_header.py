"""One line about a run: name, detected format, step, steps/s, elapsed time, job pid and state."""

from __future__ import annotations

import os
import time

from rich.text import Text
from textual.widget import Widget

from losswatch.monitor import Run
from losswatch.tui import series_view as sv
from losswatch.tui.job import JobControl


def primary_series(run: Run):
    """The series whose step is the run's step: the training loss when there is one."""
    store = run.store
    for name in ("loss", *sv.metric_order(store.metrics())):
        s = store.get(name)
        if s is not None and s.last is not None:
            return s
    return None


class RunHeader(Widget):
    """Refreshed when samples arrive and once a second for the clock (cheap: one line)."""

    DEFAULT_CSS = "RunHeader { height: 1; }"

    def __init__(self, run: Run, job: JobControl | None = None, **kw) -> None:
        super().__init__(**kw)
        self.run = run
        self.job = job
        self.paused = False
        self.source = ""  # what the follower last said, when it is worth showing

    # follower states worth a word in the header (following/format/gpu are shown otherwise)
    SOURCE_TEXT = {"waiting": "waiting for the file", "deleted": "file deleted", "unreadable": "unreadable",
                   "error": "follow error", "polling": "polling", "truncated": "truncated: read again",
                   "rotated": "rotated: new file", "replaced": "replaced: new file"}

    def source_changed(self, kind: str, detail: dict) -> None:
        if kind in ("format", "gpu"):
            return
        text = self.SOURCE_TEXT.get(kind, "")
        if kind == "unreadable" and detail.get("error"):
            text = f"unreadable: {detail['error']}"
        self.source = text

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        run = self.run
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(os.path.basename(run.name) or run.name, style="bold")
        t.append(f"  {run.format_name or 'detecting…'}", style="cyan")
        s = primary_series(run)
        if s is not None:
            t.append(f"  step {sv.fmt(s.last.step)}")
            rate = sv.steps_per_second(s)
            if rate is not None:
                t.append(f"  {rate:.3g} steps/s")
        t.append(f"  {sv.fmt_duration(getattr(self.app, 'clock', time.time)() - run.started)}", style="dim")
        if self.job is not None:
            info = self.job.info()
            if info.pid is None:
                if info.state:
                    t.append(f"  {info.state}", style="dim")
            else:
                style = "green" if info.state == "running" else "bold yellow"
                t.append(f"  pid {info.pid} {info.state}", style=style)
        if self.source:
            t.append(f"  {self.source}", style="yellow")
        if self.paused:
            t.append("  PAUSED", style="bold reverse yellow")
        return t
