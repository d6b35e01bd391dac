"""The store: batch ingest equals sample-by-sample ingest exactly; memory stays bounded."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from losswatch.model import SampleBatch
from losswatch.store import Overview, Series, Store


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def random_values(rng: random.Random, n: int) -> list[float]:
    pool = [math.nan, math.inf, -math.inf]
    return [rng.choice(pool) if rng.random() < 0.05 else round(rng.gauss(0, 10), 1) for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_batches_equal_one_by_one(seed):
    rng = random.Random(seed)
    n = rng.choice([50, 3000, 20000])
    values = random_values(rng, n)
    recent = rng.choice([7, 100, 5000])
    one = Series("loss", recent=recent)
    one.overview = Overview(buckets=rng.choice([4, 16]))
    many = Series("loss", recent=recent)
    many.overview = Overview(buckets=one.overview.buckets)
    for i, v in enumerate(values):
        one.add(float(i), v, i + 1, 1.0)
    i = 0
    while i < n:
        k = rng.choice([1, 2, 3, 17, 500, 4096])
        chunk = values[i:i + k]
        many.add_many(np.arange(i, i + len(chunk), dtype=np.float64), np.array(chunk),
                      np.arange(i + 1, i + 1 + len(chunk), dtype=np.int64), 1.0)
        i += len(chunk)
    for attr in ("count", "nonfinite"):
        assert getattr(one, attr) == getattr(many, attr)
    for attr in ("first", "last", "min", "max"):
        a, b = getattr(one, attr), getattr(many, attr)
        assert (a is None) == (b is None)
        if a is not None:
            assert a.step == b.step and a.line == b.line and same(a.value, b.value), attr
    assert len(many.values) <= recent + recent // 4 + 4096
    k = min(len(one.values), len(many.values))
    assert list(one.steps[-k:]) == list(many.steps[-k:]) and list(one.lines[-k:]) == list(many.lines[-k:])
    assert all(same(a, b) for a, b in zip(one.values[-k:], many.values[-k:], strict=True))
    assert k >= min(recent, n)
    ov1, ov2 = one.overview, many.overview
    assert ov1.width == ov2.width and list(ov1.steps) == list(ov2.steps)
    for name in ("mins", "maxs", "lasts"):
        assert all(same(a, b) for a, b in zip(getattr(ov1, name), getattr(ov2, name), strict=True)), name
    assert len(ov1.steps) < 2 * ov1.buckets


def test_exact_aggregates_against_the_values_written():
    rng = random.Random(1)
    store = Store(recent=1000)
    expected: dict[str, list[float]] = {"loss": [], "lr": []}
    line = 0
    for _ in range(30):
        b = SampleBatch(0.0)
        for _ in range(rng.randrange(1, 3000)):
            line += 1
            m = rng.choice(["loss", "lr"])
            v = random_values(rng, 1)[0]
            b.add(m, float(line), v, line)
            expected[m].append(v)
        store.add_batch(b)
    for m, vals in expected.items():
        s = store.get(m)
        finite = [v for v in vals if math.isfinite(v)]
        assert s.count == len(vals)
        assert s.nonfinite == len(vals) - len(finite)
        assert s.min.value == min(finite) and s.max.value == max(finite)
        assert same(s.first.value, vals[0]) and same(s.last.value, vals[-1])
        assert len(s.values) <= 1250
        assert all(same(a, b) for a, b in zip(s.values, vals[-len(s.values):], strict=True))
    assert store.samples == sum(len(v) for v in expected.values())


def test_no_finite_value_means_no_min():
    s = Series("loss")
    s.add_many(np.zeros(3), np.array([math.nan] * 3), np.arange(3, dtype=np.int64), 0.0)
    assert s.min is None and s.max is None and s.nonfinite == 3 and math.isnan(s.last.value)
