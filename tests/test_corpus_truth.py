"""Every real corpus log parses with the true counts, steps, first/last values and non-finite counts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from losswatch.commands.common import read_whole
from losswatch.monitor import Monitor
from tests.expect_structured import STRUCTURED
from tests.expect_text import TEXT

EXPECTATIONS = {**TEXT, **STRUCTURED}

FIELDS = ("count", "first_step", "last_step", "first", "last", "nonfinite", "first_line", "last_line", "min", "max")


def _same(a: float, b: Any) -> bool:
    if b == "nan":
        return isinstance(a, float) and math.isnan(a)
    if b in ("inf", "-inf"):
        return a == float(b)
    return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-12)


def _read(corpus, name):
    m = Monitor()
    run = m.add_run(name)
    read_whole(m, run, str(corpus / name))
    return run


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_corpus_file(corpus, truth, name):
    exp = EXPECTATIONS[name]
    run = _read(corpus, name)
    assert run.format_name == exp.format, f"{name} detected as {run.format_name}"
    t = truth[name]
    for key, want in exp.series.items():
        tv = t.get(key)
        if tv is None:
            tv = t.get("EXTRA", {}).get(key)
        if tv is None:
            for sub in ("components", "lr_groups", "loss_components"):
                tv = (t.get(sub) or {}).get(key) or tv
        if tv is None:  # a named entry of the truth's "accuracy" list (val mAP, train acc, ...)
            tv = next((a for a in t.get("accuracy") or [] if a.get("name") == key), None)
        assert tv, f"no truth for {key} in {name}"
        s = run.store.get(want.metric)
        assert s is not None, f"{name}: no series {want.metric}; have {run.store.metrics()}"
        conv = want.steps or (lambda x: x)
        got = {
            "count": s.count, "nonfinite": s.nonfinite,
            "first": s.first.value, "last": s.last.value,
            "first_step": s.first.step, "last_step": s.last.step,
            "first_line": s.first.line, "last_line": s.last.line,
            "min": s.min.value if s.min else math.nan, "max": s.max.value if s.max else math.nan,
        }
        for f in FIELDS:
            if f in want.skip or tv.get(f) is None:
                continue
            w = tv[f]
            if f in ("first_step", "last_step"):
                w = conv(w)
            if f in ("count", "nonfinite", "first_line", "last_line"):
                assert got[f] == w, f"{name} {key}->{want.metric} {f}: got {got[f]}, want {w}"
            else:
                assert _same(got[f], w), f"{name} {key}->{want.metric} {f}: got {got[f]}, want {w}"
    for ev, metric in exp.events.items():
        info = t["events"].get(ev)
        if not isinstance(info, dict):
            continue
        s = run.store.get(metric)
        n = s.count if s else 0
        assert n == info["count"], f"{name}: {metric} count {n}, want {info['count']}"
        if n and info.get("first_line"):
            assert s.first.line == info["first_line"], f"{name}: first {metric} at line {s.first.line}"
