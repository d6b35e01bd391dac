"""The default pack on the labelled synthetic runs: every pathology caught, no false alarm, healthy runs quiet.

The full table (with the framework runs and the real corpus) is docs/calibration.md, made by
bench/calibrate.py; this test holds the synthetic part of it so that a rule change that breaks it fails.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "bench" / "calibrate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_pathologies_caught_and_healthy_runs_quiet():
    cal = _calibrate()
    runs = [r for r in cal.labelled_runs() if r.group == "synthetic"]
    assert len(runs) >= 15
    for r in runs:
        r.fired, r.fmt = cal.replay(r.path, r.silence_s)
    for r in runs:
        if r.healthy:
            assert not [x for x, v in r.fired.items() if v[2] != "info"], (r.name, r.fired)
        else:
            assert r.caught_by(), (r.name, r.fired)
            assert not r.false_alarms(), (r.name, r.false_alarms())


def test_framework_runs_every_expected_rule_fires_and_healthy_runs_quiet():
    """The real CPU framework runs: every expected rule fires (not only one per run), no false alarm."""
    cal = _calibrate()
    runs = [r for r in cal.labelled_runs() if r.group == "frameworks"]
    assert runs, "tests/fixtures/calibration_labels.yaml labels no framework run"  # committed: never skip
    for r in runs:
        r.fired, r.fmt = cal.replay(r.path, r.silence_s)
    for r in runs:
        if r.healthy:
            assert not [x for x, v in r.fired.items() if v[2] != "info"], (r.name, r.fired)
        missed = [e.rule for e in r.expect if not e.live_only and e.rule not in r.fired]
        assert not missed, (r.name, missed, r.fired)
        assert not r.false_alarms(), (r.name, r.false_alarms())
    by_name = {r.name: r for r in runs}
    # the class count the script states makes initial_loss_off fire at the first loss
    assert by_name["frameworks/torch_bad_init.log"].fired["initial_loss_off"][0] == 0
    # the saturated softmax pinned at 12.1557 for 7 epochs is flat, though the run is 8 epochs long
    assert "avg_loss_flat" in by_name["frameworks/keras_softmax_saturated.log"].fired


def test_darknet_burn_in_is_no_plateau(corpus):
    """avg_loss_flat fired at iter 61 of the darknet excerpt (lr printed 0.000000, the avg loss bumping
    1843 -> 2313 during burn-in); the loss then falls 4x more, so that was no plateau."""
    cal = _calibrate()
    fired, fmt = cal.replay(corpus / "darknet" / "yolov4-coco_nutanix_plateau.log", 30)
    assert fmt == "darknet"
    assert "avg_loss_flat" not in fired or fired["avg_loss_flat"][0] >= 400, fired


def _kv_log(path: Path, nan_at: tuple[int, ...]) -> Path:
    """A falling loss with NaN at the given steps (each a firing of nonfinite_loss, resolved in between)."""
    path.write_text("".join(f"step={i} loss={'nan' if i in nan_at else f'{1 / (1 + i * 0.01):.4f}'}\n"
                            for i in range(200)))
    return path


def _result(cal, path: Path, onset: float):
    r = cal.RunResult(path.name, "synthetic", path, False, [cal.Expect("nonfinite_loss", onset)], [])
    r.fired, r.fmt = cal.replay(path, 30, r.firings)
    return r


def test_a_firing_before_the_onset_is_early_not_a_catch(tmp_path):
    """Labelled onset 100: a NaN at step 20 alone is no catch (reported early, -80); with a second NaN
    at step 150 the run is caught by that one (+50), the early one still shown."""
    cal = _calibrate()
    only_early = _result(cal, _kv_log(tmp_path / "early.log", (20,)), 100)
    assert only_early.fired["nonfinite_loss"][0] == 20
    assert only_early.caught_by() == [] and [f[0] for f in only_early.early(only_early.expect[0])] == [20]
    both = _result(cal, _kv_log(tmp_path / "both.log", (20, 150)), 100)
    assert [f[0] for f in both.firings["nonfinite_loss"]] == [20, 150]
    assert both.caught_by() == ["nonfinite_loss"] and both.catch(both.expect[0])[0] == 150
    on_time = _result(cal, _kv_log(tmp_path / "on_time.log", (100,)), 100)
    assert on_time.caught_by() == ["nonfinite_loss"] and on_time.early(on_time.expect[0]) == []

    text = cal.render([only_early, both, on_time])
    assert "**Pathologies caught: 2/3 runs (2/3 expected rule firings). Expected rules that fired only before " \
           "the onset (early, not caught): 1." in text
    row = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `") and ".log" in line}
    assert "**nonfinite_loss MISSED** (fired only early: @20, -80 early)" in row["early.log"]
    assert "nonfinite_loss @150, +50 (first @20, -80 early)" in row["both.log"]
    assert "nonfinite_loss @100, +0 |" in row["on_time.log"]
    per_rule = next(line for line in text.splitlines() if line.startswith("| `nonfinite_loss`"))
    assert per_rule.split("|")[2:6] == [" 3 ", " 2 ", " 1 ", " 25 "]  # must, fired, only early, mean delay (50+0)/2
