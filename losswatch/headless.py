"""Headless faces: print the core's events as JSON lines (for scripts) or as plain text."""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from typing import TextIO

from losswatch.events import ActionDone, AlertChanged, Event, RunChanged, SamplesAdded
from losswatch.model import json_number


def iso(t: float) -> str:
    if math.isnan(t):
        t = _dt.datetime.now().timestamp()
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


def event_json(ev: Event, samples: bool = False) -> list[dict]:
    """The contract JSON objects for one event (none for events not printed)."""
    if isinstance(ev, AlertChanged):
        a = ev.alert
        if a.state == "pending":
            return []
        return [{"event": "alert", "state": a.state, "rule": a.rule, "severity": a.severity, "run": a.run,
                 "step": json_number(a.step), "value": json_number(a.value), "message": a.message,
                 "advice": a.advice, "line": a.line, "time": iso(a.wall_time)}]
    if isinstance(ev, ActionDone):
        r = ev.result
        return [{"event": "action", "action": r.action, "rule": r.rule, "run": r.run, "target": r.target,
                 "result": r.result, **({"detail": r.detail} if r.detail else {}), "time": iso(r.wall_time)}]
    if isinstance(ev, RunChanged):
        return [{"event": "run", "run": ev.run, "kind": ev.kind, **ev.detail}]
    if isinstance(ev, SamplesAdded) and samples:
        b = ev.batch
        t = iso(b.wall_time)
        return [{"event": "sample", "run": ev.run, "metric": m, "step": json_number(s), "value": json_number(v),
                 "line": ln, "time": t} for m, s, v, ln in zip(b.metrics, b.steps, b.values, b.lines, strict=True)]
    return []


class JsonPrinter:
    """One JSON object per line per event on a stream (stdout by default), flushed at once."""

    def __init__(self, stream: TextIO | None = None, samples: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.samples = samples

    def __call__(self, ev: Event) -> None:
        objs = event_json(ev, self.samples)
        if objs:
            self.stream.write("".join(json.dumps(o) + "\n" for o in objs))
            self.stream.flush()


class TextPrinter:
    """Human-readable alerts and actions."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, AlertChanged) and ev.alert.state != "pending":
            a = ev.alert
            self.stream.write(f"[{a.severity}] {a.rule} {a.state} at step {json_number(a.step)}: {a.message}\n")
            if a.state == "firing" and a.advice:
                self.stream.write(f"    {a.advice}\n")
        elif isinstance(ev, ActionDone):
            r = ev.result
            self.stream.write(f"-> {r.action} ({r.rule}): {r.result} {r.target}\n")
        elif isinstance(ev, RunChanged):
            self.stream.write(f"{ev.run}: {ev.kind} {ev.detail or ''}\n")
        self.stream.flush()
