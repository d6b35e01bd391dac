"""Feeding a corpus log in random chunks gives exactly the samples of feeding it whole (text families)."""

from __future__ import annotations

import math
import random

import pytest

from losswatch.ingest.reader import LogReader
from tests.expect_text import TEXT


def _samples(data: bytes, sizes) -> tuple[str | None, list[tuple], dict]:
    reader = LogReader()
    out = []
    names: dict[str, str] = {}
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        batch = reader.feed(data[pos:pos + size], wall_time=0.0)
        pos += size
        out.extend(batch)
        for k, v in batch.raw_names.items():
            names.setdefault(k, v)
    if pos < len(data):
        batch = reader.feed(data[pos:], wall_time=0.0)
        out.extend(batch)
        for k, v in batch.raw_names.items():
            names.setdefault(k, v)
    batch = reader.finish(wall_time=0.0)
    out.extend(batch)
    for k, v in batch.raw_names.items():
        names.setdefault(k, v)
    key = [(s.metric, s.step, "nan" if math.isnan(s.value) else s.value, s.line_no) for s in out]
    return reader.format_name, key, names


@pytest.mark.parametrize("name", sorted(TEXT))
def test_random_chunks_same_samples(corpus, name):
    data = (corpus / name).read_bytes()
    whole = _samples(data, [len(data)])
    assert whole[1], f"{name}: no samples"
    rng = random.Random(name)
    for _ in range(3):
        sizes = [rng.choice((1, 2, 3, 7, 64, 333, 4096)) for _ in range(len(data))]
        assert _samples(data, sizes) == whole


@pytest.mark.parametrize("name", ["hf_trainer.log", "hf_trainer_state.json", "lightning_tqdm.log", "keras3.log",
                                  "lightning_rich.log", "lightning_healthy.log", "lightning_healthy_pipe.log",
                                  "lightning_healthy_rich.log", "lightning_healthy_iterable.log"])
def test_random_chunks_framework_fixtures(name):
    from tests.conftest import FIXTURES

    data = (FIXTURES / "frameworks" / name).read_bytes()
    whole = _samples(data, [len(data)])
    assert whole[1]
    rng = random.Random(name)
    sizes = [rng.choice((1, 2, 5, 64, 999)) for _ in range(len(data))]
    assert _samples(data, sizes) == whole
