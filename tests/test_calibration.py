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
