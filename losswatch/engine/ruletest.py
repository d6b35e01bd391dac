"""Rule unit tests written as YAML (promtool-style): input series or a small log, expected alerts.

```yaml
rule_files: [my_rules.yaml]   # relative to this file (optional)
default_rules: true           # also load the shipped packs (default: true)
tests:
  - name: NaN fires at once
    series:                   # one log line per index; the step is the index (or `steps:`)
      loss: "2.3 2.1 1.9 nan"   # numbers, nan/inf, `_` = no sample, `a+bxN` = a, a+b, ... (N+1 values), `axN`
    expect:                   # exactly the alerts that fire (only these rules when `only:` is given)
      - {rule: nonfinite_loss, step: 3, severity: critical}
    firing_at:                # once the alerts up to this step are applied, exactly these are firing
      - {step: 3, rules: [nonfinite_loss]}
  - name: from a log
    log: |
      step=0 loss=2.30
    format: kv                # optional: detected otherwise
    expect: []
```
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from losswatch.engine import Engine, load_rules
from losswatch.engine.rulefile import Marked, MarkedList, Where, load_yaml
from losswatch.errors import UsageError
from losswatch.events import AlertChanged
from losswatch.model import Alert, SampleBatch, canonical_name, parse_number
from losswatch.monitor import Monitor

TEST_KEYS = {"name", "series", "steps", "log", "format", "expect", "firing_at", "only", "rules_disabled"}


@dataclass
class CaseResult:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    fired: list[Alert] = field(default_factory=list)


def expand_series(text, where: Where) -> list[float | None]:
    """Values of a `series:` entry; None where the metric has no sample at that step."""
    if isinstance(text, list):
        tokens = [str(x) for x in text]
    elif isinstance(text, (int, float)) and not isinstance(text, bool):
        tokens = [str(text)]
    elif isinstance(text, str):
        tokens = text.split()
    else:
        raise where.error("a series is a string of values such as \"1 0.9 0.8 nan\" or \"1+-0.1x5\"")
    out: list[float | None] = []
    for tok in tokens:
        if tok == "_":
            out.append(None)
            continue
        if "x" in tok and not tok.lower().startswith(("nan", "inf", "-inf")):
            head, _, times = tok.rpartition("x")
            try:
                n = int(times)
            except ValueError:
                raise where.error(f"bad series token {tok!r}: expected `a+bxN` or `axN`") from None
            if n < 0 or n > 1_000_000:
                raise where.error(f"bad repeat count in {tok!r}")
            a, b = head, "0"
            plus = head.find("+", 1)
            if plus > 0 and head[plus - 1] not in "eE":
                a, b = head[:plus], head[plus + 1:]
            va, vb = parse_number(a), parse_number(b)
            if va is None or vb is None:
                raise where.error(f"bad series token {tok!r}: expected `a+bxN` or `axN`")
            if b == "0":
                out.extend([va] * n)
            else:
                out.extend(va + vb * k for k in range(n + 1))
            continue
        v = parse_number(tok)
        if v is None:
            raise where.error(f"bad series value {tok!r}: expected a number, nan, inf or _")
        out.append(v)
    return out


def _feed_series(monitor: Monitor, name: str, case: Marked) -> None:
    series = case["series"]
    if not isinstance(series, Marked):
        raise case.value_where["series"].error("`series` must map metric names to values")
    cols = {canonical_name(k): expand_series(v, series.value_where[k]) for k, v in series.items()}
    n = max((len(v) for v in cols.values()), default=0)
    steps = list(range(n))
    if "steps" in case:
        steps = [s for s in expand_series(case["steps"], case.value_where["steps"]) if s is not None]
        if len(steps) < n:
            raise case.value_where["steps"].error(f"`steps` has {len(steps)} values for {n} lines")
    run = monitor.add_run(name)
    for i in range(n):
        batch = SampleBatch(wall_time=float(i))
        for metric, vals in cols.items():
            if i < len(vals) and vals[i] is not None:
                batch.add(metric, float(steps[i]), vals[i], i + 1)
        monitor.add_samples(run, batch)


def _feed_log(monitor: Monitor, name: str, case: Marked) -> None:
    text = case["log"]
    if not isinstance(text, str):
        raise case.value_where["log"].error("`log` must be the text of a log")
    fmt = case.get("format")
    if fmt is not None:
        from losswatch.ingest import formats

        try:
            formats.get_format(fmt)
        except KeyError as e:
            raise case.value_where["format"].error(e.args[0]) from None
    run = monitor.add_run(name, fmt)
    monitor.feed(run, text.encode(), wall_time=0.0)
    monitor.finish(run, wall_time=0.0)


def _num(x) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x)
    return parse_number(str(x))


def run_case(engine: Engine, case: Marked, index: int) -> CaseResult:
    name = str(case.get("name", f"test {index + 1}"))
    for k in case:
        if k not in TEST_KEYS:
            raise case.key_where[k].error(f"unknown key `{k}` in a test; expected one of {', '.join(sorted(TEST_KEYS))}")
    if ("series" in case) == ("log" in case):
        raise case.where.error("a test needs exactly one of `series` or `log`")
    only = case.get("only")
    if only is not None and not (isinstance(only, list) and all(isinstance(x, str) for x in only)):
        raise case.value_where["only"].error("`only` must be a list of rule ids")
    known = {r.rule.id for r in engine.rules}
    for rid in only or []:
        if rid not in known:
            raise case.value_where["only"].error(f"no rule `{rid}` is loaded")
    monitor = Monitor(engine=engine)
    events: list = []
    firing: set[str] = set()

    def on_event(ev) -> None:
        if isinstance(ev, AlertChanged) and ev.alert.state in ("firing", "resolved"):
            events.append(("alert", ev.alert))

    monitor.subscribe(on_event)
    run_name = f"<test {index + 1}>"
    if "series" in case:
        _feed_series(monitor, run_name, case)
    else:
        _feed_log(monitor, run_name, case)
    engine.runs.pop(run_name, None)

    def wanted(rule: str) -> bool:
        return only is None or rule in only

    fired = [a for kind, a in events if kind == "alert" and a.state == "firing" and wanted(a.rule)]
    result = CaseResult(name, True, fired=fired)
    if "expect" in case:
        exp = case["expect"] or []
        if not isinstance(exp, list):
            raise case.value_where["expect"].error("`expect` must be a list of {rule, step}")
        want: list[tuple[str, float | None, str | None]] = []
        for j, e in enumerate(exp):
            w = exp.item_where[j] if isinstance(exp, MarkedList) else case.where
            if not isinstance(e, dict) or "rule" not in e:
                raise w.error("each expected alert needs at least `rule` (and usually `step`)")
            if e["rule"] not in known:
                raise w.error(f"no rule `{e['rule']}` is loaded")
            want.append((e["rule"], _num(e.get("step")), e.get("severity")))
        got = [(a.rule, a.step, a.severity) for a in fired]
        unmatched = list(got)
        for rule, step, sev in want:
            hit = next((g for g in unmatched if g[0] == rule and (step is None or g[1] == step)
                        and (sev is None or g[2] == sev)), None)
            if hit is None:
                result.problems.append(f"expected {rule} firing at step {_show(step)}"
                                       + (f" ({sev})" if sev else "") + "; it did not")
            else:
                unmatched.remove(hit)
        for rule, step, _ in unmatched:
            result.problems.append(f"unexpected {rule} firing at step {_show(step)}")
    if "firing_at" in case:
        checks = case["firing_at"] or []
        if not isinstance(checks, list):
            raise case.value_where["firing_at"].error("`firing_at` must be a list of {step, rules}")
        for j, chk in enumerate(checks):
            w = checks.item_where[j] if isinstance(checks, MarkedList) else case.where
            if not isinstance(chk, dict) or "step" not in chk:
                raise w.error("each firing_at entry needs `step` and `rules`")
            step = _num(chk["step"])
            if step is None:
                raise w.error("`step` must be a number")
            rules = set(chk.get("rules") or [])
            firing.clear()
            for _, x in (e for e in events if e[0] == "alert"):
                if x.step > step:
                    break
                if x.state == "firing":
                    firing.add(x.rule)
                else:
                    firing.discard(x.rule)
            now = {r for r in firing if wanted(r)}
            if now != rules:
                result.problems.append(f"at step {_show(step)} firing {sorted(now) or 'nothing'}, "
                                       f"expected {sorted(rules) or 'nothing'}")
    result.ok = not result.problems
    return result


def _show(step: float | None) -> str:
    if step is None:
        return "any"
    return str(int(step)) if step == int(step) and math.isfinite(step) else str(step)


def run_test_file(path: str) -> list[CaseResult]:
    """Load a rule-test file and run its cases; UsageError for a malformed file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(e.strerror or str(e), path) from None
    doc = load_yaml(text, path)
    if not isinstance(doc, Marked) or "tests" not in doc:
        raise UsageError("a rule test file is a mapping with `tests:` (and optional `rule_files:`)", path, 1, 1)
    for k in doc:
        if k not in ("rule_files", "default_rules", "tests", "disable"):
            raise doc.key_where[k].error(f"unknown key `{k}`; expected rule_files, default_rules, disable, tests")
    base = os.path.dirname(os.path.abspath(path))
    files = doc.get("rule_files") or []
    if not isinstance(files, list):
        raise doc.value_where["rule_files"].error("`rule_files` must be a list of paths")
    files = [f if os.path.isabs(f) else os.path.join(base, f) for f in files]
    rules, _ = load_rules(files, list(doc.get("disable") or []), bool(doc.get("default_rules", True)))
    tests = doc["tests"]
    if not isinstance(tests, list):
        raise doc.value_where["tests"].error("`tests` must be a list")
    results = []
    for i, case in enumerate(tests):
        if not isinstance(case, Marked):
            raise tests.item_where[i].error("each test is a mapping with `series` or `log` and `expect`")
        results.append(run_case(Engine(rules), case, i))
    return results
