"""Every Textual message the TUI's parts exchange: small values, made in one place (the bridge).

`CoreUpdate` is the only message posted from the core's thread; it carries nothing and replaces
an earlier one still queued, so a burst of a million lines is one wake-up, not a million. The
others are posted by the app to its widgets, in the UI thread, after the bridge has been drained.
"""

from __future__ import annotations

from textual.message import Message

from losswatch.model import ActionResult, Alert


class CoreUpdate(Message):
    """Something happened in the core; drain the bridge (coalesced: at most one queued)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CoreUpdate)


class SamplesChanged(Message):
    """New samples for a run since the last refresh (the metrics touched and how many samples)."""

    def __init__(self, run: str, metrics: frozenset[str], count: int) -> None:
        super().__init__()
        self.run = run
        self.metrics = metrics
        self.count = count


class AlertUpdate(Message):
    """An alert changed state (pending, firing, resolved); `alert` is a copy taken when it did."""

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert


class ActionUpdate(Message):
    """An action ran (notify, stop, ...) or was refused; what it did."""

    def __init__(self, result: ActionResult) -> None:
        super().__init__()
        self.result = result


class RunUpdate(Message):
    """Something about a run's source changed: format detected, file rotated, job exited, ..."""

    def __init__(self, run: str, kind: str, detail: dict) -> None:
        super().__init__()
        self.run = run
        self.kind = kind
        self.detail = detail
