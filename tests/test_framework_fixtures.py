"""Logs printed by real frameworks (tests/fixtures/frameworks) parse to exactly the series they logged.

Each fixture has a sidecar `<name>.truth.json` written by the training process itself (framework
callbacks, logger hooks, the loop's own variables; see make_fixtures.py). Here each fixture is read
whole through the same path as `losswatch check` and its loss/val_loss/lr/grad_norm series are compared
with the truth point by point: count, steps, non-finite values, first/last, every value to the
precision the framework printed it with. Also: the calibration labels cover every fixture and corpus
log, name only known rules, and their onsets point at the samples they claim.

The last section holds the tests of the fixtures made by make_keras.py, make_lightning.py and
make_hf.py (hf_trainer.log, hf_trainer_state.json, keras3.log, lightning_tqdm.log, lightning_rich.log
with hf/keras/lightning.truth.json), written with the text-format parsers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from losswatch.commands.common import read_whole
from losswatch.ingest.reader import LogReader
from losswatch.monitor import Monitor, Run

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FRAMEWORKS = FIXTURES / "frameworks"
LABELS = FIXTURES / "calibration_labels.yaml"
CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


@dataclass(frozen=True)
class Spec:
    """How a fixture's file relates to its truth: expected format, series map, printed precision."""

    format: str
    series: dict[str, str]  # losswatch metric -> truth metric
    rel: float  # relative tolerance of a printed value
    abs_: float = 0.0  # absolute tolerance (fixed-decimal printing)
    steps_from: str | None = None  # truth list giving the log's step, when it is not the truth's step
    collapse: bool = False  # progress-bar console: a frame redrawn for the same step counts once
    last_only: bool = False  # a bar redrawn on new lines every few batches: only the final values are certain
    events: dict[str, str] = field(default_factory=dict)  # losswatch event metric -> truth metric


KERAS = Spec("keras", {"loss": "loss", "val_loss": "val_loss", "lr": "learning_rate"}, rel=5e-4, abs_=5e-5)
LIGHTNING_BAR = Spec("lightning", {"loss": "train_loss", "val_loss": "val_loss"}, rel=5e-3, collapse=True)
LIGHTNING_RICH = Spec("lightning", {"loss": "train_loss", "val_loss": "val_loss"}, rel=0.0, abs_=5e-4,
                      last_only=True)  # rich prints metrics with 3 decimals
LIGHTNING_CSV = Spec("csv", {"loss": "train_loss", "val_loss": "val_loss", "lr": "lr-Adam"}, rel=1e-7)
HF_STDOUT = Spec("hf_trainer", {"loss": "loss", "val_loss": "eval_loss", "lr": "learning_rate",
                                "grad_norm": "grad_norm"}, rel=5e-4, steps_from="epoch")
HF_STATE = Spec("hf_trainer_state", {"loss": "loss", "val_loss": "eval_loss", "lr": "learning_rate",
                                     "grad_norm": "grad_norm"}, rel=1e-12)
NANOGPT = Spec("nanogpt", {"loss": "loss", "val_loss": "val_loss"}, rel=0.0, abs_=5e-5)
NANOGPT_FP16 = Spec("nanogpt", {"loss": "loss", "val_loss": "val_loss"}, rel=0.0, abs_=5e-5,
                    events={"event.overflow": "overflow"})
BUILD_NANOGPT = Spec("build_nanogpt", {"loss": "loss", "grad_norm": "grad_norm", "lr": "lr"}, rel=5e-5,
                     abs_=5e-5)

SPECS: dict[str, Spec] = {
    "keras_healthy.log": KERAS,
    "keras_healthy_pipe.log": KERAS,
    "keras_lr_nan.log": KERAS,
    "keras_overfit.log": KERAS,
    "keras_softmax_saturated.log": KERAS,
    "lightning_healthy.log": LIGHTNING_BAR,
    "lightning_healthy_pipe.log": LIGHTNING_BAR,
    "lightning_healthy_rich.log": LIGHTNING_RICH,
    "lightning_healthy_iterable.log": LIGHTNING_BAR,
    "lightning_lr_spike.log": LIGHTNING_BAR,
    "lightning_healthy_metrics.csv": LIGHTNING_CSV,
    "lightning_lr_spike_metrics.csv": LIGHTNING_CSV,
    "hf_healthy.log": HF_STDOUT,
    "hf_healthy_pipe.log": HF_STDOUT,
    "hf_lr_low.log": HF_STDOUT,
    "hf_lr_nan.log": HF_STDOUT,
    "hf_healthy_trainer_state.json": HF_STATE,
    "hf_lr_low_trainer_state.json": HF_STATE,
    "hf_lr_nan_trainer_state.json": HF_STATE,
    "torch_healthy.log": NANOGPT,
    "torch_lr_nan.log": NANOGPT,
    "torch_shuffled_labels.log": NANOGPT,
    "torch_overfit.log": NANOGPT,
    "torch_bad_init.log": NANOGPT,
    "torch_stall.log": NANOGPT,
    "torch_fp16.log": NANOGPT_FP16,
    "torch_fp16_scale_collapse.log": NANOGPT_FP16,
    "torch_dead_relu.log": BUILD_NANOGPT,
}

# Known parser faults on these real logs (reported to the parsers' authors): strict xfails, so the day a
# parser is fixed the test says so, and the mark goes. None at present.
KNOWN_FAULTS: dict[tuple[str, str], str] = {}


def _truth(name: str) -> dict:
    stem = name.rsplit(".", 1)[0]
    return json.loads((FRAMEWORKS / f"{stem}.truth.json").read_text())


def _read(name: str, format_name: str | None = None) -> Run:
    m = Monitor()
    run = m.add_run(name, format_name)
    read_whole(m, run, str(FRAMEWORKS / name))
    return run


_RUNS: dict[str, Run] = {}


def _run(name: str) -> Run:
    if name not in _RUNS:
        _RUNS[name] = _read(name)
    return _RUNS[name]


def _value(v) -> float:
    return float(v)  # "nan"/"inf"/"-inf" strings included


def _close(got: float, want: float, spec: Spec) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return math.isclose(got, want, rel_tol=spec.rel, abs_tol=spec.abs_ or 1e-300)


def _expected(truth: dict, metric: str, spec: Spec) -> list[tuple[float, float]]:
    t = truth["metrics"][metric]
    steps = t[spec.steps_from] if spec.steps_from else [p[0] for p in t["points"]]
    pts = [(float(s), _value(p[1])) for s, p in zip(steps, t["points"], strict=True)]
    if spec.collapse:
        pts = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
    return pts


def _got(run: Run, metric: str, spec: Spec) -> list[tuple[float, float]]:
    s = run.store.get(metric)
    pts = [(st, v) for st, v, _ in s.points()] if s is not None else []
    if spec.collapse:  # a redrawn frame of the same step and value is one point
        pts = [p for i, p in enumerate(pts) if i == 0 or not (p[0] == pts[i - 1][0] and p[1] == pts[i - 1][1])]
    return pts


def _cases() -> list:
    out = []
    for name, spec in SPECS.items():
        for key in ("format", *spec.series, *spec.events):
            marks = []
            if (name, key) in KNOWN_FAULTS:
                marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FAULTS[(name, key)])]
            out.append(pytest.param(name, key, marks=marks, id=f"{name}:{key}"))
    return out


def _fixture_files() -> set[str]:
    return {p.name for p in FRAMEWORKS.iterdir()
            if p.suffix in (".log", ".csv", ".json") and not p.name.endswith(".truth.json")}


def test_every_fixture_has_a_spec_and_a_truth():
    """Every fixture of make_fixtures.py (those with a `<stem>.truth.json`) has a spec here, and back."""
    files = _fixture_files()
    own = {n for n in files if (FRAMEWORKS / f"{n.rsplit('.', 1)[0]}.truth.json").exists()}
    assert own == set(SPECS)
    for name in own:
        t = _truth(name)
        assert t["file"] == name.rsplit(".", 1)[0]
        assert t["healthy"] or (t["pathology"] and t["onset_step"] is not None), name
        for metric, m in t["metrics"].items():
            assert m["count"] == len(m["points"]), f"{name} {metric}"
    for name in files:
        assert (FRAMEWORKS / name).stat().st_size < 60_000, f"{name} is over 60 KB"


@pytest.mark.parametrize("name,key", _cases())
def test_fixture_series_match_truth(name: str, key: str):
    spec = SPECS[name]
    truth = _truth(name)
    run = _run(name)
    if key == "format":
        assert run.format_name == spec.format, f"{name} detected as {run.format_name}"
        return
    if key in spec.events:
        s = run.store.get(key)
        want = truth["metrics"][spec.events[key]]["count"]
        assert s is not None and s.count == want, f"{name}: {key} count {s.count if s else 0}, want {want}"
        return
    tm = spec.series[key]
    if tm not in truth["metrics"]:  # this run did not log that metric (no lr scheduler, ...)
        assert key not in run.store, f"{name}: {key} read, but the run never logged {tm}"
        return
    want = _expected(truth, tm, spec)
    got = _got(run, key, spec)
    label = f"{name} {key}<-{tm}"
    if spec.last_only:
        assert got, f"{label}: no samples"
        assert got[-1][0] == want[-1][0] and _close(got[-1][1], want[-1][1], spec), \
            f"{label}: last {got[-1]}, want {want[-1]}"
        return
    assert len(got) == len(want), f"{label}: count {len(got)}, want {len(want)}"
    assert sum(not math.isfinite(v) for _, v in got) == sum(not math.isfinite(v) for _, v in want), \
        f"{label}: non-finite count"
    got_steps, want_steps = [s for s, _ in got], [s for s, _ in want]
    assert all(math.isclose(a, b, rel_tol=1e-3) for a, b in zip(got_steps, want_steps, strict=True)), \
        f"{label}: steps {got_steps[:6]}..., want {want_steps[:6]}..."
    assert _close(got[0][1], want[0][1], spec), f"{label}: first {got[0][1]}, want {want[0][1]}"
    assert _close(got[-1][1], want[-1][1], spec), f"{label}: last {got[-1][1]}, want {want[-1][1]}"
    bad = [(s, g, w) for (s, g), (_, w) in zip(got, want, strict=True) if not _close(g, w, spec)]
    assert not bad, f"{label}: values differ at (step, got, want) {bad[:5]}"


# --- calibration labels ----------------------------------------------------------------------------

RULE_IDS = {
    "nonfinite_loss", "diverging", "loss_spike", "lr_too_high", "avg_loss_flat", "stuck_at_chance",
    "softmax_saturated", "initial_loss_off", "overfitting", "data_problem", "both_rising", "grad_explosion",
    "vanishing_gradient", "loss_scale_collapse", "oom", "crashed", "stalled", "lr_sanity",
    # rules of the shipped pack beyond the list
    "val_spike", "fp16_overflow",
}


@pytest.fixture(scope="module")
def labels() -> list[dict]:
    doc = yaml.safe_load(LABELS.read_text())
    assert doc["version"] == 1
    return doc["runs"]


def test_labels_are_well_formed(labels):
    seen = set()
    for r in labels:
        key = r.get("fixture") or r.get("corpus")
        assert key and ("fixture" in r) != ("corpus" in r), r
        assert key not in seen, f"{key} labelled twice"
        seen.add(key)
        assert set(r) <= {"fixture", "corpus", "healthy", "pathology", "expect", "allow", "note"}, key
        if r.get("healthy"):
            assert not r.get("expect") and "pathology" not in r, key
        else:
            assert r.get("pathology") and "expect" in r, key
        for e in r.get("expect") or []:
            assert e["rule"] in RULE_IDS, f"{key}: unknown rule {e['rule']}"
            assert set(e) <= {"rule", "onset_step", "onset_line", "live_only"}, key
            assert "onset_step" in e or "onset_line" in e, key
        for rule in r.get("allow") or []:
            assert rule in RULE_IDS, f"{key}: unknown rule {rule}"


def test_labels_cover_every_fixture(labels):
    labelled = {r["fixture"] for r in labels if "fixture" in r}
    assert labelled == {f"frameworks/{n}" for n in _fixture_files()}


def test_labels_cover_every_corpus_log(labels):
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not here")
    logs = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.log")}
    assert {r["corpus"] for r in labels if "corpus" in r} == logs
    for r in labels:
        if "corpus" in r:
            n = len((CORPUS / r["corpus"]).read_bytes().split(b"\n"))
            for e in r.get("expect") or []:
                assert e.get("onset_line", 1) <= n, r["corpus"]


def test_fixture_label_onsets_point_at_samples(labels):
    """A fixture's labelled onset (step, line) is a sample the parser really reads there."""
    for r in labels:
        name = r.get("fixture", "").removeprefix("frameworks/")
        if name not in SPECS or not r.get("expect"):
            continue
        run = _read(name, SPECS[name].format)
        at_line = {}
        for metric in run.store.metrics():
            for step, _, line in run.store.get(metric).points():
                at_line.setdefault(line, set()).add(step)
        for e in r["expect"]:
            if "onset_line" not in e:
                continue
            steps = at_line.get(e["onset_line"], set())
            assert e["onset_step"] in steps, f"{name} {e['rule']}: line {e['onset_line']} has steps {steps}"
        truth = _truth(name)
        assert not truth["healthy"], f"{name} is labelled with a pathology but its truth says healthy"


# --- fixtures of make_keras.py / make_lightning.py / make_hf.py ------------------------------------

DIR = FRAMEWORKS


def read(name: str):
    reader = LogReader()
    data = (DIR / name).read_bytes()
    got = list(reader.feed(data, 0.0)) + list(reader.finish(0.0))
    return reader.format_name, got


def series(samples, metric):
    return [(s.step, s.value) for s in samples if s.metric == metric]


def close(a, b, rel):
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=rel) for x, y in zip(a, b, strict=True))


def test_hf_trainer_console_matches_log_history():
    truth = json.loads((DIR / "hf.truth.json").read_text())
    fmt, got = read("hf_trainer.log")
    assert fmt == "hf_trainer"
    train = [e for e in truth if "loss" in e]
    evals = [e for e in truth if "eval_loss" in e]
    loss, val = series(got, "loss"), series(got, "val_loss")
    # the console rounds to 4 significant digits and prints the epoch, not the step
    assert close([v for _, v in loss], [e["loss"] for e in train], 1e-3)
    assert close([s for s, _ in loss], [e["epoch"] for e in train], 1e-3)
    assert close([v for _, v in series(got, "lr")], [e["learning_rate"] for e in train], 1e-3)
    assert close([v for _, v in val], [e["eval_loss"] for e in evals], 1e-3)
    assert "train_loss" not in {s.metric for s in got}  # the run summary is not a point


def test_hf_trainer_state_matches_log_history():
    truth = json.loads((DIR / "hf.truth.json").read_text())
    fmt, got = read("hf_trainer_state.json")
    assert fmt == "hf_trainer_state"
    state = json.loads((DIR / "hf_trainer_state.json").read_text())["log_history"]
    train = [e for e in state if "loss" in e]
    assert series(got, "loss") == [(e["step"], e["loss"]) for e in train]
    assert series(got, "grad_norm") == [(e["step"], e["grad_norm"]) for e in train]
    assert series(got, "val_loss") == [(e["step"], e["eval_loss"]) for e in state if "eval_loss" in e]
    assert train == [e for e in truth if "loss" in e][:len(train)]


def test_lightning_rich_bar_last_state():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    fmt, got = read("lightning_rich.log")
    assert fmt == "lightning"
    (step, v), = series(got, "loss")
    assert step == truth["train_loss"][-1][0] and math.isclose(v, truth["train_loss"][-1][1], rel_tol=5e-3)
    (step, v), = series(got, "val_loss")
    assert step == truth["val_loss"][-1][0] and math.isclose(v, truth["val_loss"][-1][1], rel_tol=5e-3)


def test_lightning_tqdm_train_loss_per_epoch():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    fmt, got = read("lightning_tqdm.log")
    assert fmt == "lightning"
    loss = series(got, "loss")
    assert [s for s, _ in loss] == [e for e, _ in truth["train_loss"]]
    assert close([v for _, v in loss], [v for _, v in truth["train_loss"]], 5e-3)


def test_lightning_tqdm_val_loss_per_epoch():
    truth = json.loads((DIR / "lightning.truth.json").read_text())
    _, got = read("lightning_tqdm.log")
    val = series(got, "val_loss")
    assert [s for s, _ in val] == [e for e, _ in truth["val_loss"]]
    assert close([v for _, v in val], [v for _, v in truth["val_loss"]], 5e-3)


def test_keras3_fit_matches_history():
    truth = json.loads((DIR / "keras.truth.json").read_text())
    fmt, got = read("keras3.log")
    assert fmt == "keras"
    epochs = list(range(1, len(truth["loss"]) + 1))
    for metric, key in (("loss", "loss"), ("val_loss", "val_loss"), ("acc", "accuracy"), ("val_acc", "val_accuracy")):
        s = series(got, metric)
        assert [st for st, _ in s] == epochs, metric  # one point per epoch, though some bars print twice
        assert close([v for _, v in s], truth[key], 5e-4), metric  # printed with 4 decimals
    assert {m for m in {x.metric for x in got} if m.startswith("test.")} == {"test.loss", "test.acc"}  # evaluate()


def test_lightning_rich_metrics_wrapped_onto_the_next_line():
    """RichProgressBar in a 120-column terminal: the final bar's val_* are on the indented next line."""
    _, got = read("lightning_healthy_rich.log")
    truth = _truth("lightning_healthy_rich.log")["metrics"]
    val = [(s.step, s.value, s.line_no) for s in got if s.metric == "val_loss"]
    assert val[-1][:2] == (7.0, 0.036) and val[-1][2] == 59
    assert math.isclose(val[-1][1], truth["val_loss"]["last"], abs_tol=5e-4)
    acc = [(s.step, s.value) for s in got if s.metric == "val_acc"]
    assert acc[-1] == (7.0, 0.984)
    # an indented line after a bar that is not final, or after any other line, is not the bar's
    reader = LogReader("lightning")
    text = ("Epoch 2/7  ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 5/40 0:00:00 • 0:00:00 9.9it/s v_num: 0.000 train_loss: 0.5\n"
            "                                  val_loss: 9.000 val_acc: 0.100\n"
            "some other line\n"
            "                                  val_loss: 8.000\n"
            "Epoch 2/7  ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 40/40 0:00:00 • 0:00:00 9.9it/s v_num: 0.000 train_loss: 0.4\n"
            "                                  val_loss: 0.700 val_acc: 0.800\n")
    samples = [(s.metric, s.step, s.value, s.line_no) for s in reader.feed(text.encode(), 0.0)]
    assert samples == [("loss", 2.0, 0.4, 5), ("val_loss", 2.0, 0.7, 6), ("val_acc", 2.0, 0.8, 6)]
