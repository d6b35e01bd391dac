"""Lazy streams, the thinned-rule skipping and the other engine shortcuts change the cost, never a value.

Each shortcut is checked against the plain way: every stream fed eagerly point by point (what a
lazy stream must equal whenever it is read, however its catch-up runs were cut), and an engine
without lazy streams nor skipping (the same alerts, at the same steps and lines).
"""

from __future__ import annotations

import math
import random

import pytest

from bench import gen_logs
from losswatch.commands.common import read_whole
from losswatch.engine import build_engine
from losswatch.engine import engine as E
from losswatch.engine import functions as F
from losswatch.engine.compile import Compiler
from losswatch.engine.engine import THIN_FULL, RunState, next_eval
from losswatch.engine.lang import parse
from losswatch.monitor import Monitor

# Every series function, alone and read through another one (a lazy stream feeding lazy streams).
EXPRESSIONS = [
    "first(loss)", "count(loss)", "count(loss, 7)", "nonfinite(loss, 3)", "mean(loss, 5)", "std(loss, 5)",
    "min(loss, 3)", "max(loss, 12)", "min(loss)", "max(loss)", "median(loss, 9)", "mad(loss, 6)",
    "zscore(log(loss), 8)", "quantile(loss, 7, 0.9)", "ema(loss, 10)", "slope(loss, 6)", "rise(loss, 6)",
    "rel_improvement(loss, 4)", "rel_improvement(loss, 3, 0.25)", "best(loss)", "best_step(loss)",
    "rebound(loss)", "interval(loss, 5)", "step(loss)", "lag(loss, 4)", "abs(loss)", "exp(loss)",
    "best(median(loss, 9))", "best_step(median(loss, 9))", "lag(median(loss, 9), 5)",
    "max(median(loss, 9), 7)", "rel_improvement(median(loss, 9), 10, 0.25)", "min(ema(loss, 20))",
    "max(median(loss, 4))", "median(ema(loss, 3), 5)", "zscore(median(loss, 3), 6)", "mad(ema(loss, 5), 4)",
    "max(zscore(loss, 5), 4)", "min(quantile(loss, 5, 0.9), 3)",
]


def _points(rng: random.Random, n: int) -> list[tuple[float, float, float]]:
    out = []
    step = 0.0
    for i in range(n):
        step += rng.choice((1.0, 1.0, 2.0, 10.0, 0.0))
        r = rng.random()
        if r < 0.04:
            x = rng.choice((math.nan, math.inf, -math.inf))
        elif r < 0.08:
            x = rng.choice((0.0, -0.0, 1.0))
        else:
            x = round(rng.lognormvariate(0, 1), rng.choice((1, 3, 8)))
        t = math.nan if rng.random() < 0.03 else float(i) + rng.random()
        out.append((step, x, t))
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return repr(float(a)) == repr(float(b))


@pytest.mark.parametrize("seed", range(12))
def test_lazy_streams_answer_what_eager_ones_do(seed):
    rng = random.Random(seed)
    comp = Compiler()
    for text in EXPRESSIONS:
        comp.compile(parse(text), {})
    derived = {i for i, sp in enumerate(comp.specs) if sp.factory is not None}
    eager = RunState(comp.specs, 0)
    lazy = RunState(comp.specs, 0, derived)
    n = 2500 if seed < 2 else 600
    for k, (step, x, t) in enumerate(_points(rng, n)):
        eager.bases["loss"].push(step, x, t)
        lazy.bases["loss"].push(step, x, t)
        if rng.random() < (0.5 if k < 50 else 0.03):  # reads after runs of 1 to a few hundred points
            lazy.clock = k
            for i in rng.sample(range(len(comp.specs)), rng.randint(1, len(comp.specs))):
                assert _same(lazy.reads[i].get(), eager.streams[i].get()), (comp.specs[i].key, k)
        if rng.random() < 0.01:
            for log in lazy.logs:
                log.trim()
        still = [i for i in derived if isinstance(lazy.reads[i], E.LazyRead)]
        if still and rng.random() < 0.002:
            lazy.make_eager(rng.choice(still))
    lazy.clock = n
    for i in range(len(comp.specs)):
        assert _same(lazy.reads[i].get(), eager.streams[i].get()), comp.specs[i].key


def test_next_eval_matches_the_thinning_rule():
    evaluated = [n for n in range(1, 120_000) if not (n > THIN_FULL and n % -(-n // THIN_FULL))]
    got, m = [], 1
    while m < 120_000:
        got.append(m)
        m = next_eval(m)
    assert got == evaluated


def _traced(cond, rule_id: str, trace: list):
    def f(st, now):
        trace.append((rule_id, max(s.line for s in st if type(s) is F.Base)))
        return cond(st, now)
    return f


def _alerts(path: str, plain: bool, monkeypatch, fast: bool = False) -> tuple[list[tuple], list[tuple]]:
    """The alert changes, and which rule was evaluated at which line, in order."""
    with monkeypatch.context() as mp:
        if plain:
            mp.setattr(E.Engine, "_plan_lazy", lambda self: set())
        engine = build_engine([], [], True)
        m = Monitor(engine=engine)
    engine.SKIP_THINNED = not plain
    engine.FAST = fast
    trace: list[tuple] = []
    for r in engine.rules:
        r.cond = _traced(r.cond, r.rule.id, trace)
    got: list = []
    m.subscribe(lambda ev: got.append(ev.alert) if type(ev).__name__ == "AlertChanged" else None)
    run = m.add_run(path)
    read_whole(m, run, path)
    return [(a.rule, a.state, a.step, a.line, repr(a.value), a.message) for a in got], trace


@pytest.mark.parametrize("fmt", ["hf_stdout", "darknet", "keras"])
def test_engine_shortcuts_keep_every_alert(fmt, tmp_path, monkeypatch):
    """A log long enough for thinning, lazy catch-up, log trimming and eager switching to all happen."""
    path = tmp_path / f"{fmt}.log"
    data = getattr(gen_logs, fmt)(30_000)
    lines = data.split(b"\n")  # a diverging stretch and a NaN, so that rules fire and resolve
    for k in range(12_000, 12_400):
        lines[k] = lines[k].replace(b"0.", b"9.", 1)
    lines[20_000] = lines[20_000].replace(b"0.", b"nan 0.", 1)
    path.write_bytes(b"\n".join(lines))
    short, short_trace = _alerts(str(path), False, monkeypatch)
    plain, plain_trace = _alerts(str(path), True, monkeypatch)
    assert short == plain
    assert short_trace == plain_trace
    assert short  # the comparison means something
    # runs of lines taken in one go (guards) skip evaluations, and keep every alert
    taken = []
    waited = []  # tries refused because an alert was pending or firing (tried again later)
    skip = E.Engine._skip

    def counted(self, *a):
        got = skip(self, *a)
        taken.append(got[0])
        waited.append(got[1] == E.WAIT)
        return got
    monkeypatch.setattr(E.Engine, "_skip", counted)
    monkeypatch.setattr(E, "FAST_MIN", 2)  # short runs too: more run boundaries to get right
    fast, fast_trace = _alerts(str(path), False, monkeypatch, fast=True)
    assert fast == plain
    if fmt != "keras":  # Keras: every line also brings val_loss, whose rules have no guard
        assert sum(taken) > 0 and len(fast_trace) < len(plain_trace)
    if fmt == "hf_stdout":  # loss_spike fires inside a batch: runs are tried again after it
        assert any(waited)


@pytest.mark.parametrize("when", ["greatest(median(loss, 5), 1) > 2", "least(median(loss, 5), 9) > 2",
                                  "default(median(loss, 5), 0) > 2", "median(loss, 5) > 2 and mad(loss, 7) > 1"])
def test_windows_read_at_every_evaluation_are_not_lazy(when, tmp_path):
    """A window a per-line rule reads at every evaluation (also inside greatest/least/default, and on
    the left of `and`) is fed point by point; only the right of `and` may wait to be read."""
    rules = tmp_path / "r.yaml"
    rules.write_text(f"version: 1\nrules:\n  - id: r\n    when: \"{when}\"\n    severity: info\n")
    engine = build_engine([str(rules)], [], False)
    median = next(i for i, sp in enumerate(engine.specs) if sp.factory is not None and sp.metric == "loss"
                  and engine.specs[i].source is not None and "Ordered" in repr(sp.factory(False)))
    assert median in engine.rules[0].first
    assert median not in engine._lazy
