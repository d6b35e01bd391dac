"""`losswatch check PATH...`: read finished logs whole, report metrics and alerts, exit for scripts/CI.

Exit 0: no alert at or above --fail-on; 1: alerts; 2: bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from losswatch.commands.common import (
    add_format_args,
    add_rule_args,
    check_format_args,
    check_readable,
    make_engine,
    read_whole,
    stderr_progress,
)
from losswatch.events import AlertChanged
from losswatch.model import SEVERITIES, Alert, json_number, severity_rank
from losswatch.monitor import Monitor, Run


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="read finished logs and report metrics and alerts")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--fail-on", choices=SEVERITIES, default="warning",
                   help="exit 1 when an alert at or above this severity fired (default: warning)")
    add_format_args(p)
    add_rule_args(p)
    return p


def metrics_summary(run: Run) -> dict[str, dict]:
    out = {}
    for name, s in run.store.series.items():
        if s.first is None or s.last is None:
            continue
        out[name] = {
            "count": s.count,
            "first_step": json_number(s.first.step),
            "last_step": json_number(s.last.step),
            "last": json_number(s.last.value),
            "min": json_number(s.min.value) if s.min else "nan",
            "max": json_number(s.max.value) if s.max else "nan",
            "nonfinite": s.nonfinite,
            "raw_name": s.raw_name,
        }
    return out


def collect_alerts(monitor: Monitor) -> dict[str, list[Alert]]:
    """Fired alerts per run, each updated with the step it resolved at."""
    fired: dict[str, list[Alert]] = {}
    open_by_rule: dict[tuple[str, str], Alert] = {}

    def on_event(ev) -> None:
        if not isinstance(ev, AlertChanged):
            return
        a = ev.alert
        key = (a.run, a.rule)
        if a.state == "firing":
            copy = Alert(**{**a.__dict__, "actions": list(a.actions)})
            fired.setdefault(a.run, []).append(copy)
            open_by_rule[key] = copy
        elif a.state == "resolved" and key in open_by_rule:
            open_by_rule.pop(key).resolved_step = a.step

    monitor.subscribe(on_event)
    return fired


def alert_json(a: Alert) -> dict:
    return {
        "rule": a.rule, "severity": a.severity, "step": json_number(a.step), "line": a.line,
        "value": json_number(a.value), "message": a.message,
        "resolved_step": None if a.resolved_step is None else json_number(a.resolved_step),
    }


def run(args: argparse.Namespace) -> int:
    check_format_args(args)
    for path in args.paths:
        check_readable(path)
    monitor = Monitor(engine=make_engine(args))
    fired = collect_alerts(monitor)
    worst = -1
    for path in args.paths:
        r = monitor.add_run(path, args.format_name)
        read_whole(monitor, r, path, stderr_progress(path))
        alerts = fired.get(path, [])
        for a in alerts:
            worst = max(worst, severity_rank(a.severity))
        if args.json:
            obj = {"path": path, "format": r.format_name, "lines": r.reader.lines_read,
                   "metrics": metrics_summary(r), "alerts": [alert_json(a) for a in alerts]}
            sys.stdout.write(json.dumps(obj) + "\n")
        else:
            print_text(r, alerts)
    return 1 if worst >= severity_rank(args.fail_on) else 0


def _fmt(x: float) -> str:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return f"{x:.6g}"


def print_text(r: Run, alerts: list[Alert]) -> None:
    print(f"{r.name}: {r.format_name}, {r.reader.lines_read} lines")
    for name, s in sorted(r.store.series.items()):
        if s.first is None or s.last is None:
            continue
        raw = f" ({s.raw_name})" if s.raw_name != name else ""
        rng = f"min {_fmt(s.min.value)} max {_fmt(s.max.value)}" if s.min and s.max else "no finite value"
        nf = f", {s.nonfinite} non-finite" if s.nonfinite else ""
        print(f"  {name}{raw}: {s.count} values, steps {_fmt(s.first.step)}..{_fmt(s.last.step)}, "
              f"last {_fmt(s.last.value)}, {rng}{nf}")
    if not alerts:
        print("  no alerts")
    for a in alerts:
        res = f" (resolved at step {_fmt(a.resolved_step)})" if a.resolved_step is not None else ""
        print(f"  [{a.severity}] {a.rule} at step {_fmt(a.step)} (line {a.line}): {a.message}{res}")
        if a.advice:
            print(f"      {a.advice}")
