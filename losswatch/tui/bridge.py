"""The one place where core events become Textual messages.

The `Monitor` calls the bridge from the thread that feeds it (the live loop, a job's output pump).
The bridge only records what changed, under a lock, and wakes the app with a single `CoreUpdate`
when none is pending; the app drains it at most a few times per second. Samples are reduced to
"which metrics of which run changed" (widgets read the values from the store), so the cost of a
burst does not grow with its size. Alerts, actions and run changes are rare and kept in order.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from textual.message import Message

from losswatch.events import ActionDone, AlertChanged, Event, RunChanged, SamplesAdded
from losswatch.tui.messages import ActionUpdate, AlertUpdate, CoreUpdate, RunUpdate, SamplesChanged


class Bridge:
    """Monitor subscriber (any thread) → coalesced Textual messages (UI thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, set[str]] = {}
        self._counts: dict[str, int] = {}
        self._ordered: list[Message] = []
        self._woken = False
        self._wake: Callable[[], object] | None = None
        self.events = 0

    def attach(self, post: Callable[[Message], object]) -> None:
        """Start waking `post` (the app's thread-safe `post_message`); wakes at once if data waits."""
        with self._lock:
            self._wake = lambda: post(CoreUpdate())
            pending = bool(self._metrics or self._ordered)
            self._woken = pending
        if pending:
            post(CoreUpdate())

    def detach(self) -> None:
        with self._lock:
            self._wake = None

    def __call__(self, ev: Event) -> None:
        with self._lock:
            self.events += 1
            if isinstance(ev, SamplesAdded):
                b = ev.batch
                self._metrics.setdefault(ev.run, set()).update(b.metrics)
                self._counts[ev.run] = self._counts.get(ev.run, 0) + len(b)
            elif isinstance(ev, AlertChanged):
                a = ev.alert
                self._ordered.append(AlertUpdate(dataclasses.replace(a, actions=list(a.actions))))
            elif isinstance(ev, ActionDone):
                self._ordered.append(ActionUpdate(ev.result))
            elif isinstance(ev, RunChanged):
                self._ordered.append(RunUpdate(ev.run, ev.kind, dict(ev.detail)))
            else:
                return
            if self._woken or self._wake is None:
                return
            self._woken = True
            wake = self._wake
        wake()

    def pending(self) -> bool:
        with self._lock:
            return bool(self._metrics or self._ordered)

    def drain(self) -> list[Message]:
        """Everything since the last drain: samples per run first, then the ordered events."""
        with self._lock:
            metrics, counts, ordered = self._metrics, self._counts, self._ordered
            self._metrics, self._counts, self._ordered = {}, {}, []
            self._woken = False
        out: list[Message] = [SamplesChanged(run, frozenset(m), counts.get(run, 0)) for run, m in metrics.items()]
        out.extend(ordered)
        return out
