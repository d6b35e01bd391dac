"""The help screen: what each key does (the same actions are in the footer and the palette)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# losswatch

Follows the training log; rules turn the metrics into alerts; actions (stop, notify) are done by
the core and shown here. **Quitting never stops the job.**

| key | what it does |
|-----|--------------|
| `s` | stop the job (asks first: pid, command line, escalation, countdown) |
| `m` | mute the selected (or latest firing) alert's toasts for 15 minutes (its actions still run) |
| `enter` | metric: open its plot · alert: show the log lines around it |
| `+` / `-` | more / less smoothing in plots (the rules' EMA, time constant in steps) |
| `y` | log-Y in plots |
| `x` | (plot) step or wall-time axis |
| `p` | pause / resume the view (data keeps being read) |
| `r` | reload the rule files |
| `]` / `[` | next / previous run |
| `tab` | move between metrics and alerts |
| `l` `g` `a` | toggle the log, GPU and alerts panes |
| `ctrl+p` | command palette |
| `?` | this help |
| `q` | quit (the job keeps running) |
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)
