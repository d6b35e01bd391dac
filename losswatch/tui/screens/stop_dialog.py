"""Confirmation before stopping the job: names the pid, the command line and the escalation, and
cancels itself when its countdown runs out (a stop is never the default of doing nothing)."""

from __future__ import annotations

import shlex

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from losswatch.tui.job import JobInfo

COUNTDOWN = 15


class StopDialog(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "confirm", "Stop the job"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(self, info: JobInfo, countdown: int = COUNTDOWN) -> None:
        super().__init__()
        self.info = info
        self.remaining = countdown

    def compose(self) -> ComposeResult:
        info = self.info
        cmd = " ".join(shlex.join(info.cmdline).split()) if info.cmdline else "(command line unknown)"
        if len(cmd) > 160:
            cmd = cmd[:159] + "…"
        with Vertical(id="stop-box"):
            yield Label("Stop the training job?", id="stop-title")
            yield Static(f"pid        {info.pid}\ncommand    {cmd}\nescalation {info.escalation or 'default'}",
                         id="stop-detail")
            yield Static(id="stop-countdown")
            with Horizontal(id="stop-buttons"):
                yield Button("Stop job (y)", variant="error", id="stop-yes")
                yield Button("Cancel (n)", variant="primary", id="stop-no")

    def on_mount(self) -> None:
        self._tick()
        self.set_interval(1.0, self._tick)
        self.query_one("#stop-no", Button).focus()

    def _tick(self) -> None:
        if self.remaining <= 0:
            self.dismiss(False)
            return
        self.query_one("#stop-countdown", Static).update(f"closes without stopping in {self.remaining} s")
        self.remaining -= 1

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "stop-yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
