"""Alerts of one run: firing ones first (severity colours), then resolved; summary and advice.

Up/down selects an alert, Enter shows the log lines around the step that fired it, `m` mutes the
selected alert's rule for a while (the app asks the core to silence it where the core can).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from losswatch.model import Alert
from losswatch.tui import series_view as sv

SEVERITY_STYLE = {"critical": "bold white on red", "warning": "bold black on yellow", "info": "bold white on blue"}
SEVERITY_TAG = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}


class AlertsPanel(Widget, can_focus=True):
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("enter", "open", "Log lines"),
    ]

    cursor = reactive(0)

    class Opened(Message):
        """The user asked for the log lines around an alert."""

        def __init__(self, alert: Alert) -> None:
            super().__init__()
            self.alert = alert

    def __init__(self, run: str, **kw) -> None:
        super().__init__(**kw)
        self.run = run
        # latest state per rule, in the order rules first fired
        self.alerts: dict[str, Alert] = {}
        self.muted: dict[str, float] = {}
        self.fired: list[tuple[float, str]] = []  # (step, rule) of every firing, for plot markers
        self._top = 0

    def add(self, alert: Alert) -> None:
        if alert.state == "pending" and alert.rule not in self.alerts:
            return
        if alert.state == "pending":
            return  # a pending re-evaluation never hides what is firing or resolved
        if alert.state == "firing":
            self.fired.append((alert.step, alert.rule))
        self.alerts[alert.rule] = alert
        self.set_class(any(a.state == "firing" for a in self.alerts.values()), "-firing")
        self.refresh(layout=True)

    def ordered(self) -> list[Alert]:
        rank = {"critical": 0, "warning": 1, "info": 2}
        alerts = list(self.alerts.values())
        return sorted(alerts, key=lambda a: (a.state != "firing", rank.get(a.severity, 3)))

    def current(self) -> Alert | None:
        alerts = self.ordered()
        return alerts[min(self.cursor, len(alerts) - 1)] if alerts else None

    def mute(self, rule: str, seconds: float) -> None:
        self.muted[rule] = time.time() + seconds
        self.refresh()

    def is_muted(self, rule: str) -> bool:
        return self.muted.get(rule, 0) > time.time()

    def action_cursor(self, delta: int) -> None:
        n = len(self.alerts)
        if n:
            self.cursor = max(0, min(n - 1, self.cursor + delta))

    def action_open(self) -> None:
        a = self.current()
        if a is not None:
            self.post_message(self.Opened(a))

    def on_click(self, event) -> None:
        """A click selects an alert; a double click shows its log lines."""
        i = self._top + event.y
        if 0 <= i < len(self.alerts):
            self.cursor = i
            if getattr(event, "chain", 1) >= 2:
                self.action_open()

    def get_content_height(self, container, viewport, width: int) -> int:
        firing = [a for a in self.alerts.values() if a.state == "firing"]
        return max(1, len(self.alerts) + (1 if firing else 0))

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        alerts = self.ordered()
        if not alerts:
            out.append("no alerts", style="dim")
            return out
        cur = min(self.cursor, len(alerts) - 1)
        now = time.time()
        first_firing = next((a for a in alerts if a.state == "firing"), None)
        rows = max(1, self.size.height - (1 if first_firing is not None else 0))
        top = min(max(0, cur - rows + 1), max(0, len(alerts) - rows))  # keep the cursor in view
        self._top = top
        for i, a in enumerate(alerts):
            if i < top or i >= top + rows:
                continue
            if i > top:
                out.append("\n")
            sel = "reverse " if i == cur and self.has_focus else ""
            if a.state == "firing":
                out.append(f" {SEVERITY_TAG.get(a.severity, a.severity)} ", style=SEVERITY_STYLE.get(a.severity, ""))
            else:
                out.append(" ok   ", style="green")
            out.append(" ")
            out.append(f"{a.rule}", style=sel + ("bold" if a.state == "firing" else "dim"))
            where = f" step {sv.fmt(a.step)}"
            if a.state == "resolved":
                where = f" resolved at step {sv.fmt(a.step)}"
            out.append(where, style="dim")
            out.append(f"  {a.message}", style="" if a.state == "firing" else "dim")
            until = self.muted.get(a.rule, 0)
            if until > now:
                out.append(f"  (muted {int((until - now) // 60) + 1}m)", style="italic dim")
        shown = alerts[cur] if alerts[cur].state == "firing" else first_firing
        if shown is not None and shown.advice:
            out.append("\n")
            out.append(f"  → {shown.advice}", style="italic")
        return out
