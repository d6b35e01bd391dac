"""Calibration of the default rule pack: which rules fire on labelled runs, how late, and on healthy ones.

Labelled runs: the synthetic pathologies in tests/fixtures/calibration (labels.json, made by
make_runs.py there); the CPU framework runs and the real corpus (../shared/corpus) labelled in
tests/fixtures/calibration_labels.yaml when present (a few corpus labels below otherwise). Each log is fed
in blocks of 50 lines as `tail` would see it (10 s of wall time per line), then time passes for the run's
`silence_s` (so the stall rule can fire). An expected rule catches its pathology with a firing at or
after the labelled onset; one that fired only before it is reported as early (negative delay) and
counts as missed. Writes docs/calibration.md (or prints with --stdout).

    python3 bench/calibrate.py [--stdout]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.engine import build_engine  # noqa: E402
from losswatch.events import AlertChanged, SamplesAdded  # noqa: E402
from losswatch.model import severity_rank  # noqa: E402
from losswatch.monitor import Monitor  # noqa: E402

SYNTH = ROOT / "tests" / "fixtures" / "calibration"
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_LABELS = FIXTURES / "calibration_labels.yaml"  # framework fixtures + corpus (fixtures branch)
CORPUS = ROOT.parent / "shared" / "corpus"

# Fallback corpus labels when calibration_labels.yaml is not there: rules that must fire; [] = healthy.
CORPUS_LABELS: dict[str, list[str]] = {
    "caffe/sphereface_stuck-87.3365_issue-excerpt.log": ["softmax_saturated"],
    "caffe/ssd-tbs_nan-at-iter40.log": ["nonfinite_loss"],
    "detectron2/cdfsod_eval-oom_wrapped.log": ["oom"],
    "fairseq/issue515_fp16-overflow-cascade_excerpt.log": ["loss_scale_collapse"],
    "keras/dlwp-cats-dogs-convnet_overfit.log": ["overfitting"],
    "mmdet/faster-rcnn-tct_lrx10_diverge-nan.log": ["nonfinite_loss"],
    "llmc/modded-nanogpt_llmc_main.log": [],
    "modded_nanogpt/muon_6200steps.log": [],
    "hf_trainer_state/tinyllama-lora-sft_trainer_state.log": [],
    "ultralytics_csv/yolov5-lego_results.log": [],
}


BLOCK = 50  # lines fed at a time


@dataclass
class Expect:
    rule: str
    onset: float | None = None
    live_only: bool = False


@dataclass
class RunResult:
    name: str
    group: str
    path: Path
    healthy: bool
    expect: list[Expect]
    allow: list[str]
    silence_s: float = 30.0
    fired: dict[str, tuple[float, int, str]] = field(default_factory=dict)  # rule -> its first (step, line, severity)
    firings: dict[str, list[tuple[float, int, str]]] = field(default_factory=dict)  # rule -> every firing, in order
    fmt: str = ""

    def catch(self, e: Expect) -> tuple[float, int, str] | None:
        """The firing that catches this expectation: the first one at or after its onset (any, without
        an onset). A firing before the onset is *early*: it did not see this pathology."""
        for f in self.firings.get(e.rule) or ([self.fired[e.rule]] if e.rule in self.fired else []):
            if e.onset is None or f[0] >= e.onset:
                return f
        return None

    def early(self, e: Expect) -> list[tuple[float, int, str]]:
        """Firings of an expected rule before the labelled onset (not catches)."""
        if e.onset is None:
            return []
        return [f for f in self.firings.get(e.rule, []) if f[0] < e.onset]

    def caught_by(self) -> list[str]:
        return [e.rule for e in self.expect if self.catch(e) is not None]

    def false_alarms(self) -> list[str]:
        ok = {e.rule for e in self.expect} | set(self.allow)
        return [r for r, (_, _, sev) in self.fired.items() if severity_rank(sev) >= 1 and r not in ok]


def replay(path: Path, silence_s: float,
           firings: dict[str, list[tuple[float, int, str]]] | None = None) -> tuple[dict[str, tuple[float, int, str]], str]:
    """Feed one log as `tail` would: each rule's first firing (step, line, severity) and the format;
    every firing of each rule, in order, is appended to `firings` when given."""
    monitor = Monitor(engine=build_engine([], [], True))
    fired: dict[str, tuple[float, int, str]] = {}

    def on_event(ev) -> None:
        if isinstance(ev, AlertChanged) and ev.alert.state == "firing":
            f = (ev.alert.step, ev.alert.line, ev.alert.severity)
            fired.setdefault(ev.alert.rule, f)
            if firings is not None:
                firings.setdefault(ev.alert.rule, []).append(f)

    monitor.subscribe(on_event)
    last_data = [0.0]  # wall time of the last block that carried samples: silence counts from there
    monitor.subscribe(lambda ev: last_data.__setitem__(0, ev.batch.wall_time) if isinstance(ev, SamplesAdded) else None)
    run = monitor.add_run(str(path))
    t = 1_000_000.0
    with open(path, "rb") as f:
        lines = f.readlines()
    for i in range(0, len(lines), BLOCK):  # blocks of lines: alerts do not depend on the chunking
        monitor.feed(run, b"".join(lines[i:i + BLOCK]), wall_time=t)
        t += 10.0 * BLOCK
    monitor.finish(run, wall_time=t)
    monitor.tick(last_data[0] + silence_s)
    return fired, run.format_name or "?"


def _run(group: str, name: str, path: Path, lab: dict) -> RunResult:
    expect = [Expect(e["rule"], e.get("onset_step"), bool(e.get("live_only"))) for e in lab.get("expect") or []]
    silence = float(lab.get("silence_s", 3600 if any(e.live_only for e in expect) else 30))
    return RunResult(name, group, path, bool(lab.get("healthy")), expect, list(lab.get("allow") or []), silence)


def labelled_runs() -> list[RunResult]:
    runs: list[RunResult] = []
    if (SYNTH / "labels.json").is_file():
        for name, lab in json.loads((SYNTH / "labels.json").read_text()).items():
            runs.append(_run("synthetic", name, SYNTH / name, lab))
    if SHARED_LABELS.is_file():
        doc = yaml.safe_load(SHARED_LABELS.read_text())
        for lab in doc.get("runs", []):
            if "fixture" in lab:
                group, name, path = "frameworks", lab["fixture"], FIXTURES / lab["fixture"]
            else:
                group, name, path = "corpus", lab["corpus"], CORPUS / lab["corpus"]
            runs.append(_run(group, name, path, lab))
    elif CORPUS.is_dir():
        for name, rules in CORPUS_LABELS.items():
            lab = {"healthy": not rules, "expect": [{"rule": r} for r in rules]}
            runs.append(_run("corpus", name, CORPUS / name, lab))
    return [r for r in runs if r.path.is_file()]


def collect() -> list[RunResult]:
    runs = labelled_runs()
    for r in runs:
        r.fired, r.fmt = replay(r.path, r.silence_s, r.firings)
    return runs


def _step(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def render(results: list[RunResult]) -> str:
    out: list[str] = []
    w = out.append
    w("# Calibration of the default rule pack\n")
    w("Generated by `python3 bench/calibrate.py` — do not edit by hand. Each log is fed as `tail` sees a")
    w("growing file (blocks of 50 lines, 10 s of wall time per line), then time passes for the run's silence (3600 s where")
    w("the job hangs, else 30 s) so that the stall rule can fire. Labels: synthetic runs from")
    w("`tests/fixtures/calibration/labels.json`, framework runs and the real corpus from")
    w("`tests/fixtures/calibration_labels.yaml` (when present). A pathology is *caught* when one of its")
    w("expected rules fires at or after the labelled onset (any firing where there is no onset); a firing")
    w("before the onset is *early* (shown with a negative delay, marked early) and is no catch: it did not")
    w("see that pathology. A *false alarm* is a warning or critical alert that is neither expected nor")
    w("allowed for that run (info alerts never count). Delay = step of the catching firing − onset step, in")
    w("the log's own steps (iterations, epochs, ...).\n")
    sick = [r for r in results if not r.healthy and r.expect]
    healthy = [r for r in results if r.healthy]
    caught = [r for r in sick if r.caught_by()]
    all_exp = sum(len(r.expect) for r in sick)
    all_hit = sum(len(r.caught_by()) for r in sick)
    noisy = [r for r in healthy if r.false_alarms()]
    fa = sum(len(r.false_alarms()) for r in results)
    early_only = [(r, e) for r in sick for e in r.expect if r.catch(e) is None and r.early(e)]
    w(f"**Pathologies caught: {len(caught)}/{len(sick)} runs ({all_hit}/{all_exp} expected rule firings). "
      f"Expected rules that fired only before the onset (early, not caught): {len(early_only)}. "
      f"Healthy runs with a warning or critical alert: {len(noisy)}/{len(healthy)}. "
      f"False alarms on all runs: {fa}.**\n")
    for group in ("synthetic", "frameworks", "corpus"):
        rows = [r for r in results if r.group == group]
        if not rows:
            continue
        w(f"## {group.capitalize()} runs\n")
        w("| run | format | expected | fired (step, delay) | false alarms | other alerts |")
        w("|---|---|---|---|---|---|")
        for r in rows:
            exp = "healthy" if r.healthy else (", ".join(e.rule for e in r.expect) or "(nothing required)")
            cells = []
            for e in r.expect:
                hit, early = r.catch(e), r.early(e)
                ahead = ", ".join(f"@{_step(f[0])}, {_step(f[0] - e.onset)} early" for f in early[:1])  # type: ignore[operator]
                if hit is not None:
                    d = f", +{_step(hit[0] - e.onset)}" if e.onset is not None else ""
                    cells.append(f"{e.rule} @{_step(hit[0])}{d}" + (f" (first {ahead})" if early else ""))
                elif early:
                    cells.append(f"**{e.rule} MISSED** (fired only early: {ahead})")
                else:
                    cells.append(f"**{e.rule} MISSED**")
            fired = "; ".join(cells) or "–"
            bad = r.false_alarms()
            fa_cell = "**" + ", ".join(f"{b} @{_step(r.fired[b][0])}" for b in bad) + "**" if bad else "–"
            exp_rules = {e.rule for e in r.expect}
            others = ", ".join(f"{k} ({v[2]})" for k, v in r.fired.items() if k not in exp_rules and k not in bad)
            w(f"| `{r.name}` | {r.fmt} | {exp} | {fired} | {fa_cell} | {others or '–'} |")
        w("")
    w("## Per rule\n")
    w("| rule | runs where it must fire | fired (at or after the onset) | only early | mean delay (steps) | false alarms "
      "| on healthy runs (any severity) |")
    w("|---|---|---|---|---|---|---|")
    rules = sorted({e.rule for r in results for e in r.expect} | {x for r in results for x in r.fired})
    for rule in rules:
        should = [(r, e) for r in results for e in r.expect if e.rule == rule]
        did = [(r, e) for r, e in should if r.catch(e) is not None]
        delays = [r.catch(e)[0] - e.onset for r, e in did if e.onset is not None]  # type: ignore[index,operator]
        mean = _step(round(sum(delays) / len(delays), 1)) if delays else "–"
        false = [r for r in results if rule in r.false_alarms()]
        on_h = [r for r in healthy if rule in r.fired]
        only_early = [(r, e) for r, e in should if r.catch(e) is None and r.early(e)]
        w(f"| `{rule}` | {len(should)} | {len(did)} | {len(only_early)} | {mean} | {len(false)} | {len(on_h)} |")
    by_sev: dict[str, int] = defaultdict(int)
    for r in healthy:
        for _, (_, _, sev) in r.fired.items():
            by_sev[sev] += 1
    w(f"\nAlerts on healthy runs by severity: {dict(by_sev) or 'none'}.\n")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdout", action="store_true")
    args = ap.parse_args()
    text = render(collect())
    if args.stdout:
        sys.stdout.write(text)
    else:
        (ROOT / "docs" / "calibration.md").write_text(text)
        print(next(line for line in text.splitlines() if line.startswith("**")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
