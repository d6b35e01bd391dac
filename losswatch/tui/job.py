"""What the TUI needs to know about the job being watched, and how it asks the core to stop it.

The action layer owns the job (which process, its start time, the escalation, the audit log); the
TUI only shows `JobInfo` and calls `stop()`. `stop()` may block while the escalation waits, so the
app calls it from a worker thread, never from the UI thread.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class JobInfo:
    pid: int | None
    cmdline: list[str] = field(default_factory=list)
    escalation: str = ""  # e.g. "SIGINT, wait 10s, SIGTERM, wait 10s, SIGKILL (process group)"
    state: str = "running"  # running | exited 0 | stopped | unknown ...
    problem: str = ""  # why the job cannot be stopped (ambiguous target, not found), "" when it can


class JobControl(Protocol):
    def info(self, refresh: bool = False) -> JobInfo:
        """What to show; `refresh` looks the job up again (before a stop), else it may be cached."""
        ...

    def stop(self) -> str:
        """Stop the job through the action layer (escalation, audit); returns what was done."""
        ...


class ActionJobControl:
    """`JobControl` over the action layer: the target from its finder, the stop through its stopper.

    The stop is the same escalation, audit and pid-reuse safety as a rule's `stop` action; its
    results reach the screen as `ActionDone` events like any action's. Finding the writer of a log
    scans /proc, so the target is looked up when needed, not on every redraw.
    """

    RETRY = 30.0  # seconds between lookups while no job is found

    def __init__(self, dispatcher: Callable[[], Any], run: str, post: Callable[[Callable[[], object]], None],
                 emit: Callable[[Any], None]) -> None:
        self._dispatcher = dispatcher  # looked up when used: `run`/`demo` set it once the job started
        self.run = run
        self.post = post
        self.emit = emit
        self._target: Any = None
        self._problem = ""
        self._tried = -math.inf

    @property
    def dispatcher(self) -> Any:
        d = self._dispatcher()
        return d if d is not None and hasattr(d, "finder") and hasattr(d, "stopper") else None

    def _resolve(self, force: bool = False) -> Any:
        from losswatch.act.target import TargetError

        if self.dispatcher is None:
            self._problem = "no action layer here (a replay): nothing to stop"
            return None
        if self._target is not None and not force:
            return self._target
        if not force and time.monotonic() - self._tried < self.RETRY:
            return None
        self._tried = time.monotonic()
        try:
            self._target = self.dispatcher.finder.resolve(self.run)
            self._problem = ""
        except TargetError as e:
            self._target, self._problem = None, str(e)
        return self._target

    def escalation(self) -> str:
        plan = self.dispatcher.stopper.policy.describe()
        if "exec" in plan:
            return f"run `{plan['exec']}`, wait {plan['wait']:g} s"
        steps = [re.sub(r"^(\w+)\+([\d.]+)s$", r"\1, wait \2 s", st) for st in plan["steps"]]
        where = "tree" if plan.get("scope") == "tree" else "group"
        return " → ".join(steps) + f" (the job's process {where})"

    def info(self, refresh: bool = False) -> JobInfo:
        t = self._resolve(force=refresh)
        if t is None:
            state = "no job" if self.dispatcher is not None else ""
            return JobInfo(None, state=state, problem=self._problem or "no job found yet")
        outcome = self.dispatcher.stopper.outcome(t)
        state = "running" if t.alive() else "exited"
        if outcome:
            state = outcome if outcome != "stopping" or state == "running" else "exited"
        return JobInfo(t.pid, list(t.cmdline), self.escalation(), state if state != "stopping" else "stopping")

    def stop(self) -> str:
        from losswatch.events import ActionDone
        from losswatch.model import Alert

        t = self._resolve(force=True)
        if t is None:
            return f"not stopped: {self._problem}"
        alert = Alert("manual", "critical", self.run, "firing", math.nan, 0, math.nan,
                      "stop asked from the screen", actions=["stop"], wall_time=time.time())
        result = self.dispatcher.stopper.stop(t, alert)
        self.post(lambda: self.emit(ActionDone(result)))
        return f"stop {result.result}: pid {t.pid}"
