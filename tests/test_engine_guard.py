"""Guards (engine/guard.py) never claim "not true" at a line where the condition is true.

Each condition is compiled as the engine compiles it and fed point by point; the guard is computed
over the same run of lines from the state before it. Where the guard says the condition is not true,
the compiled condition must be false or missing; and the guard must say so somewhere (else the
test proves nothing).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from losswatch.engine import guard as G
from losswatch.engine.compile import Compiler
from losswatch.engine.engine import RunState
from losswatch.engine.lang import parse

CONDITIONS = [
    "loss > 1.5 * median(loss, 50) and zscore(log(loss), 50) > 6",
    "loss > 1.2 * median(loss, 7)",
    "nonfinite(loss) > 0 or nonfinite(val_loss) > 0",
    "median(loss, 6) - loss < -0.3 or lr * 2 >= 0.9",
    "-loss < -1.8 and lr < 0.5",
    "loss > val_loss",
    "(loss > 2 or lr > 0.7) and not (lr > 0.99)",
    "zscore(log(loss), 8) > 1.5",
    "zscore(ln(loss), 9) < -1 or loss > 3",
    "zscore(loss, 6) > 1 and lr > 0.2",
    "loss > 1.5 * median(loss, 50) and (zscore(log(loss), 50) > 6"
    " or (loss > 10 * median(loss, 50) and loss > median(loss, 50) + 6 * mad(loss, 50)))",
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("text", CONDITIONS)
def test_guard_never_hides_a_true_condition(text, seed):
    rng = random.Random(seed)
    comp = Compiler()
    node = parse(text)
    cond = comp.scalar(comp.compile(node, {}))
    plan = G.plan(node, {}, lambda n: comp.compile(n, {}).stream)
    rs = RunState(comp.specs, 0)
    if "val_loss" in rs.bases and seed % 2:
        rs.bases["val_loss"].push(0.0, 1.0, 0.0)
    step = 0.0
    proved = 0

    def line() -> tuple[float, float]:
        x = rng.lognormvariate(0, 0.2 if rng.random() < 0.9 else 1.0)
        return round(x, rng.choice((1, 4))), rng.random()

    for _ in range(60):
        run = [line() for _ in range(rng.randint(1, 80))]
        cols = {"loss": np.array([x for x, _ in run])}
        if "lr" in rs.bases:
            cols["lr"] = np.array([y for _, y in run])
        nt = G.not_true(plan, G.Run(np, cols, rs.streams))
        nt = np.broadcast_to(np.asarray(nt, dtype=bool), (len(run),))
        for (x, y), sure in zip(run, nt, strict=True):
            step += 1
            rs.bases["loss"].push(step, x, 0.0)
            if "lr" in rs.bases:
                rs.bases["lr"].push(step, y, 0.0)
            v = cond(rs.streams, 0.0)
            if sure:
                proved += 1
                assert not (v is not None and v), (text, x, y)
    if plan is not None and text != "loss > val_loss":
        assert proved


@pytest.mark.parametrize("expr", ["zscore(log(loss), 8)", "zscore(loss, 5)", "zscore(ln(loss), 50)", "zscore(loss, 6)"])
def test_guard_zscores_are_the_streams_own(expr):
    """The guard's z-scores over a run are bit for bit what the stream answers line by line (ties,
    flat windows under the MAD floor, odd and even windows)."""
    rng = random.Random(3)
    comp = Compiler()
    node = parse(expr + " > 0")
    cond = comp.compile(node.left, {})
    plan = G.plan(node, {}, lambda n: comp.compile(n, {}).stream)
    assert plan is not None and plan[2][0] == "zscore"
    rs = RunState(comp.specs, 0)
    read = comp.scalar(cond)
    step = 0.0
    compared = 0
    for _ in range(40):
        run = [rng.choice((1.0, 2.0, 0.5, round(rng.lognormvariate(0, 0.3), rng.choice((1, 3, 9)))))
               for _ in range(rng.randint(1, 70))]
        got = G.value(plan[2], G.Run(np, {"loss": np.array(run)}, rs.streams))
        for k, x in enumerate(run):
            step += 1
            rs.bases["loss"].push(step, x, 0.0)
            if got is not G.UNKNOWN:
                want = read(rs.streams, 0.0)
                assert want is not None
                assert np.float64(want).tobytes() == got[k].tobytes(), (expr, k, want, got[k])
                compared += 1
    assert compared > 500
