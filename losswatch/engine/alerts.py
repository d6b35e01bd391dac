"""The alert state machine of one rule for one run: inactive → pending → firing → resolved.

Prometheus semantics, counted in training terms: `for` is how long the condition must hold (steps of
the log, evaluations, or wall seconds) before firing; `keep_firing_for` how long it must be false
before resolving. A missing value (no data, window not full) changes nothing: missing data never
resolves an alert, and never fires one.
"""

from __future__ import annotations

import math

from losswatch.engine.rulefile import Duration


def _elapsed(d: Duration, start_step: float, start_t: float, evals: int, step: float, t: float) -> bool:
    if d.amount == 0:
        return True
    if d.unit == "steps":
        return step - start_step >= d.amount
    if d.unit == "evals":
        return evals >= d.amount
    return t == t and start_t == start_t and t - start_t >= d.amount


class AlertState:
    __slots__ = ("state", "start_step", "start_t", "evals", "false_step", "false_t", "false_evals",
                 "fired_step", "fired_line", "fired_message", "fired_advice", "fired_value")

    def __init__(self) -> None:
        self.state = "inactive"
        self.start_step = math.nan
        self.start_t = math.nan
        self.evals = 0
        self.false_step = math.nan
        self.false_t = math.nan
        self.false_evals = 0
        self.fired_step = math.nan
        self.fired_line = 0
        self.fired_message = ""  # a resolved alert repeats what it said when it fired
        self.fired_advice = ""
        self.fired_value = math.nan

    def update(self, cond: bool, step: float, t: float, for_: Duration, keep: Duration) -> str | None:
        """Apply one evaluation; return the new state when it changed ("pending"/"firing"/"resolved")."""
        if cond:
            if self.state == "inactive":
                self.start_step, self.start_t, self.evals = step, t, 1
                if _elapsed(for_, step, t, 1, step, t):
                    self.state = "firing"
                    return "firing"
                self.state = "pending"
                return "pending"
            if self.state == "pending":
                self.evals += 1
                if _elapsed(for_, self.start_step, self.start_t, self.evals, step, t):
                    self.state = "firing"
                    return "firing"
                return None
            # firing: the condition holds again, forget any resolve countdown
            self.false_evals = 0
            self.false_step = math.nan
            return None
        if self.state == "pending":
            self.state = "inactive"
            return None
        if self.state == "firing":
            if self.false_evals == 0:
                self.false_step, self.false_t = step, t
            self.false_evals += 1
            if keep.amount == 0 or _elapsed(keep, self.false_step, self.false_t, self.false_evals, step, t):
                self.state = "inactive"
                self.false_evals = 0
                return "resolved"
        return None
