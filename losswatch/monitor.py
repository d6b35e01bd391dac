"""The core: wires sources → reader → store → rule engine → actions, and emits events to the faces.

One `Monitor` drives `check` (logs read whole), `tail`/`run` (live) and the TUI alike. It never
imports a face; faces subscribe with `subscribe(callback)`. Feeding is single-threaded: sources
(file followers, job output pumps, the GPU sampler) hand their data to `feed`/`add_samples` from one
thread, in order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from losswatch.events import ActionDone, AlertChanged, Event, RunChanged, SamplesAdded
from losswatch.ingest.reader import LogReader
from losswatch.model import ActionResult, Alert, SampleBatch
from losswatch.store import Store


class RuleEngine(Protocol):
    """What the monitor needs from the rule engine (losswatch.engine)."""

    def process(self, run: str, store: Store, batch: SampleBatch) -> list[Alert]: ...

    def tick(self, run: str, store: Store, now: float) -> list[Alert]: ...


class ActionDispatcher(Protocol):
    """What the monitor needs from the action layer (losswatch.act)."""

    def handle(self, alert: Alert) -> list[ActionResult]: ...


class Run:
    """One followed log (or job output) and what was read from it."""

    def __init__(self, name: str, format_name: str | None = None) -> None:
        self.name = name
        self.reader = LogReader(format_name)
        self.store = Store()
        self.started = time.time()
        self.alerts: list[Alert] = []

    @property
    def format_name(self) -> str | None:
        return self.reader.format_name


class Monitor:
    def __init__(self, engine: RuleEngine | None = None, actions: ActionDispatcher | None = None) -> None:
        self.engine = engine
        self.actions = actions
        self.runs: dict[str, Run] = {}
        self._subscribers: list[Callable[[Event], None]] = []

    # -- wiring ------------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        self._subscribers.append(callback)

    def emit(self, event: Event) -> None:
        for cb in self._subscribers:
            cb(event)

    def add_run(self, name: str, format_name: str | None = None) -> Run:
        run = Run(name, format_name)
        self.runs[name] = run
        return run

    # -- data in -----------------------------------------------------------------------------------

    def feed(self, run: Run, data: bytes, wall_time: float | None = None) -> None:
        """Bytes appended to a run's log."""
        had_format = run.format_name
        batch = run.reader.feed(data, wall_time)
        if run.format_name != had_format:
            self.emit(RunChanged(run.name, "format", {"format": run.format_name}))
        self.add_samples(run, batch)

    def finish(self, run: Run, wall_time: float | None = None) -> None:
        """The log is complete (check/replay end): read its last line and decide its format."""
        had_format = run.format_name
        batch = run.reader.finish(wall_time)
        if run.format_name != had_format:
            self.emit(RunChanged(run.name, "format", {"format": run.format_name}))
        self.add_samples(run, batch)

    def restart(self, run: Run, reason: str) -> None:
        """The log was truncated or replaced by a new file: read it again from its start."""
        run.reader.restart()
        self.emit(RunChanged(run.name, reason))

    def add_samples(self, run: Run, batch: SampleBatch) -> None:
        """Samples from any source (log parser, GPU sampler) enter the store, then the rules."""
        if not len(batch):
            return
        run.store.add_batch(batch)
        self.emit(SamplesAdded(run.name, batch))
        if self.engine is not None:
            self._alerts(self.engine.process(run.name, run.store, batch))

    def tick(self, now: float | None = None) -> None:
        """Time passes with no data (stall and wall-time rules)."""
        if self.engine is None:
            return
        now = time.time() if now is None else now
        for run in self.runs.values():
            self._alerts(self.engine.tick(run.name, run.store, now))

    # -- alerts out --------------------------------------------------------------------------------

    def _alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            if math.isnan(alert.wall_time):
                alert.wall_time = time.time()
            run = self.runs.get(alert.run)
            if run is not None:
                run.alerts.append(alert)
            self.emit(AlertChanged(alert))
            if self.actions is not None and alert.state == "firing":
                for result in self.actions.handle(alert):
                    self.emit(ActionDone(result))
