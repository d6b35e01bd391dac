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
