"""The log lines around the line that made an alert fire (read from the file, off the UI thread)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from losswatch.model import Alert
from losswatch.tui import series_view as sv
from losswatch.tui.log_lines import lines_around


class ContextScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "app.pop_screen", "Back")]

    def __init__(self, alert: Alert, path: str) -> None:
        super().__init__()
        self.alert = alert
        self.path = path

    def compose(self) -> ComposeResult:
        a = self.alert
        with Vertical(id="context-box"):
            yield Label(f"{a.rule} ({a.severity}) {a.state} at step {sv.fmt(a.step)}, line {a.line}",
                        id="context-title")
            yield Static(a.message + (f"\n→ {a.advice}" if a.advice else ""), id="context-message")
            yield Static("reading…", id="context-lines")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        lines = lines_around(self.path, self.alert.line)
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, (no, line) in enumerate(lines):
            if i:
                text.append("\n")
            style = "bold reverse" if no == self.alert.line else ""
            text.append(f"{no:>7} ", style="dim")
            text.append(line, style=style)
        if not lines:
            text.append(f"(line {self.alert.line} of {self.path} cannot be read)", style="dim")
        self.app.call_from_thread(self.query_one("#context-lines", Static).update, text)
