"""Calibration of the default rule pack: which rules fire on labelled runs, how late, and on healthy ones.

Labelled runs: the synthetic pathologies in tests/fixtures/calibration (labels.json, made by
make_runs.py there), the real corpus in ../shared/corpus (labels below, from its INDEX.md), and the
CPU framework runs in tests/fixtures/frameworks when present (labels.json there). Each log is fed
line by line as `tail` would see it (10 s of wall time per line), then time passes for the run's
`silence_s` (so the stall rule can fire). Writes docs/calibration.md (or prints with --stdout).

    python3 bench/calibrate.py [--stdout]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from losswatch.engine import build_engine  # noqa: E402
from losswatch.events import AlertChanged  # noqa: E402
from losswatch.model import severity_rank  # noqa: E402
from losswatch.monitor import Monitor  # noqa: E402

SYNTH = ROOT / "tests" / "fixtures" / "calibration"
FRAMEWORKS = ROOT / "tests" / "fixtures" / "frameworks"
CORPUS = ROOT.parent / "shared" / "corpus"

# Real corpus: expected rules (any of them catches the pathology); [] = healthy (no warning allowed);
# None = no clear label (alerts are listed, not scored).
CORPUS_LABELS: dict[str, list[str] | None] = {
    "build_nanogpt/linear-lr_log-txt.log": [],
    "build_nanogpt/no-warmup_slurm.log": None,
    "caffe/sphereface_stuck-87.3365_issue-excerpt.log": ["softmax_saturated"],
    "caffe/ssd-shoppe_resume-plateau.log": ["avg_loss_flat"],
    "caffe/ssd-tbs_nan-at-iter40.log": ["nonfinite_loss"],
    "darknet/yolov4-coco_nutanix_plateau.log": ["avg_loss_flat"],
    "deepspeed/hellodeepspeed-bert_fp16-overflow.log": ["fp16_overflow", "loss_scale_collapse"],
    "detectron2/cdfsod_eval-oom_wrapped.log": ["oom"],
    "detectron2/nyu-ssod_faster-rcnn_log.log": None,
    "detectron2_metrics_json/medical-waste_metrics.log": [],
    "detr_jsonl/detr-custom_log.log": None,
    "fairseq/disco-issue1_valid-loss-spikes_excerpt.log": ["val_spike"],
    "fairseq/issue515_fp16-overflow-cascade_excerpt.log": ["loss_scale_collapse"],
    "hf_trainer_state/cpt-large_trainer_state.log": ["overfitting"],
    "hf_trainer_state/tinyllama-lora-sft_trainer_state.log": [],
    "hf_trainer_stdout/cpt-large_win_console.log": ["overfitting"],
    "jsonl/llamafactory-mistral-translator_trainer_log.log": [],
    "keras/dlwp-cats-dogs-convnet_overfit.log": ["overfitting"],
    "keras/handson-ml2-housing-sgd_explode-then-stuck.log": ["loss_spike", "diverging", "val_spike",
                                                            "avg_loss_flat", "nonfinite_loss"],
    "keras/keras1-issue2941_eta-glued-checkpoint_excerpt.log": None,
    "lightning_csv/opal-v2_version0_metrics.log": [],
    "lightning_tqdm/zms-cifar10-exp4_190ep.log": ["overfitting"],
    "llmc/modded-nanogpt_llmc_main.log": [],
    "megatron/bigscience_meg-gpt2-n8_fp16-lossscale-skips.log": ["fp16_overflow", "loss_spike",
                                                                 "loss_scale_collapse"],
    "mmdet/faster-rcnn-tct_lrx10_diverge-nan.log": ["nonfinite_loss", "diverging"],
    "mmengine/rtmdet-tiny-ear_200ep.log": [],
    "mmengine_scalars_json/rtmdet-tiny-ear_200ep_scalars.log": [],
    "modded_nanogpt/muon_6200steps.log": [],
    "raw_tqdm_cr/pyiqa-svtnet_nohup_cr.log": [],
    "ultralytics_csv/yolov5-lego_results.log": [],
    "ultralytics_csv/yolov8-fire-smoke_results.log": None,
    "yolov5_console/cots-yolov5n6_earlystop-plateau.log": ["avg_loss_flat"],
}


@dataclass
class RunResult:
    name: str
    group: str
    expect: list[str] | None
    onset: float | None
    fired: dict[str, tuple[float, int, str]] = field(default_factory=dict)  # rule -> (step, line, severity)
    fmt: str = ""

    @property
    def healthy(self) -> bool:
        return self.expect == []

    def caught_by(self) -> list[str]:
        return [r for r in (self.expect or []) if r in self.fired]

    def bad_on_healthy(self) -> list[str]:
        return [r for r, (_, _, sev) in self.fired.items() if severity_rank(sev) >= 1]


def replay(path: Path, silence_s: float) -> tuple[dict[str, tuple[float, int, str]], str]:
    monitor = Monitor(engine=build_engine([], [], True))
    fired: dict[str, tuple[float, int, str]] = {}

    def on_event(ev) -> None:
        if isinstance(ev, AlertChanged) and ev.alert.state == "firing" and ev.alert.rule not in fired:
            fired[ev.alert.rule] = (ev.alert.step, ev.alert.line, ev.alert.severity)

    monitor.subscribe(on_event)
    run = monitor.add_run(str(path))
    t = 1_000_000.0
    with open(path, "rb") as f:
        for line in f:
            monitor.feed(run, line, wall_time=t)
            t += 10.0
    monitor.finish(run, wall_time=t)
    monitor.tick(t + silence_s)
    return fired, run.format_name or "?"


def collect() -> list[RunResult]:
    results: list[RunResult] = []
    for group, base in (("synthetic", SYNTH), ("frameworks", FRAMEWORKS)):
        labels_path = base / "labels.json"
        if not labels_path.is_file():
            continue
        labels = json.loads(labels_path.read_text())
        for name, lab in labels.items():
            path = base / name
            if not path.is_file():
                continue
            expect = [] if lab.get("healthy") else list(lab.get("expect", []))
            r = RunResult(name, group, expect, lab.get("onset"))
            r.fired, r.fmt = replay(path, float(lab.get("silence_s", 30)))
            results.append(r)
    if CORPUS.is_dir():
        for name, expect in CORPUS_LABELS.items():
            path = CORPUS / name
            if path.is_file():
                r = RunResult(name, "corpus", expect, None)
                r.fired, r.fmt = replay(path, 30.0)
                results.append(r)
    return results


def _step(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


def render(results: list[RunResult]) -> str:
    out: list[str] = []
    w = out.append
    w("# Calibration of the default rule pack\n")
    w("Generated by `python3 bench/calibrate.py` — do not edit by hand. Each log is fed line by line as")
    w("`tail` sees it (10 s of wall time per line, then the run's silence for the stall rule).")
    w("A pathology is *caught* when one of the rules expected for it fires; a healthy run must raise no")
    w("warning or critical alert (info alerts are allowed and listed). Delay = first firing step − onset step.\n")
    scored = [r for r in results if r.expect is not None]
    sick = [r for r in scored if not r.healthy]
    healthy = [r for r in scored if r.healthy]
    caught = [r for r in sick if r.caught_by()]
    noisy = [r for r in healthy if r.bad_on_healthy()]
    w(f"**Pathologies caught: {len(caught)}/{len(sick)}. Healthy runs with a warning or critical alert: "
      f"{len(noisy)}/{len(healthy)}.**\n")
    w("## Per run\n")
    w("| group | run | format | expected (any of) | caught by | delay (steps) | other alerts |")
    w("|---|---|---|---|---|---|---|")
    for r in results:
        if r.expect is None:
            exp = "(unlabelled)"
        elif r.healthy:
            exp = "healthy"
        else:
            exp = ", ".join(r.expect)
        by = r.caught_by()
        if r.healthy:
            bad = r.bad_on_healthy()
            cb = "**FALSE ALARM: " + ", ".join(bad) + "**" if bad else "ok"
        elif r.expect is None:
            cb = "–"
        else:
            cb = ", ".join(f"{x} @{_step(r.fired[x][0])} (line {r.fired[x][1]})" for x in by) or "**MISSED**"
        delay = "–"
        if by and r.onset is not None:
            delay = _step(min(r.fired[x][0] for x in by) - r.onset)
        others = ", ".join(f"{k} ({v[2]}) @{_step(v[0])}" for k, v in r.fired.items() if k not in by) or "–"
        w(f"| {r.group} | `{r.name}` | {r.fmt} | {exp} | {cb} | {delay} | {others} |")
    w("\n## Per rule\n")
    w("| rule | should fire | did | mean delay (synthetic) | fired on healthy runs | fired elsewhere |")
    w("|---|---|---|---|---|---|")
    rules = sorted({x for r in results for x in (r.expect or [])} | {x for r in results for x in r.fired})
    for rule in rules:
        should = [r for r in sick if rule in (r.expect or [])]
        did = [r for r in should if rule in r.fired]
        delays = [r.fired[rule][0] - r.onset for r in did if r.onset is not None]
        mean = _step(round(sum(delays) / len(delays), 1)) if delays else "–"
        on_healthy = [r for r in healthy if rule in r.fired]
        elsewhere = [r for r in results if rule in r.fired and r not in should and r not in on_healthy]
        w(f"| `{rule}` | {len(should)} | {len(did)} | {mean} | "
          f"{len(on_healthy)}{' (' + ', '.join(r.name for r in on_healthy) + ')' if on_healthy else ''} | "
          f"{len(elsewhere)} |")
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
        print(text.split("\n\n")[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
