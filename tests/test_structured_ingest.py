"""Corpus-wide properties of the structured formats: detection (right, stable, not greedy) and
chunking (a log fed in random pieces gives exactly the samples it gives when fed whole)."""

from __future__ import annotations

import random

import pytest

from losswatch.ingest import formats
from losswatch.ingest.reader import LogReader
from tests.expect_structured import STRUCTURED

MINE = {e.format for e in STRUCTURED.values()} | {"mmdet_json"}


def _lines(path) -> list[str]:
    return path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n").split("\n")


def _samples(data: bytes, cuts: list[int]) -> tuple[str | None, list, dict]:
    r = LogReader()
    got, names = [], {}
    prev = 0
    for c in [*cuts, len(data)]:
        b = r.feed(data[prev:c], wall_time=0.0)
        got += list(b)
        names.update(b.raw_names)
        prev = c
    b = r.finish(wall_time=0.0)
    got += list(b)
    names.update(b.raw_names)
    return r.format_name, got, names


def _key(samples: list) -> list:
    # NaN != NaN: compare values by their repr so that NaN samples match NaN samples
    return [(s.metric, s.step, repr(s.value), s.line_no) for s in samples]


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_random_chunks_same_samples(corpus, name):
    data = (corpus / name).read_bytes()
    fmt, whole, whole_names = _samples(data, [])
    rng = random.Random(name)
    for _ in range(3):
        n = rng.randint(1, 40)
        cuts = sorted(rng.sample(range(1, len(data)), min(n, len(data) - 1)))
        fmt2, got, names = _samples(data, cuts)
        assert fmt2 == fmt == STRUCTURED[name].format
        assert _key(got) == _key(whole), f"{name}: chunked read differs (cuts {cuts[:5]}...)"
        assert names == whole_names


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_detection_is_stable_on_prefixes(corpus, name):
    """While a log grows, detection is either undecided or already the final answer."""
    lines = _lines(corpus / name)[: formats.MAX_UNDECIDED_LINES]
    want = STRUCTURED[name].format
    # every prefix of the first 40 lines (where detection decides), then 40 longer ones
    ks = sorted(set(range(1, min(len(lines), 40) + 1)) | set(range(1, len(lines) + 1, max(1, len(lines) // 40))))
    for k in ks:
        got = formats.detect(lines[:k])
        assert got in (None, want), f"{name}: first {k} lines detected as {got}"
    assert formats.detect(lines, final=True) == want


def test_other_families_not_claimed(corpus, truth):
    """No structured format is even a candidate for the logs of the other families."""
    others = [n for n in sorted(truth) if n not in STRUCTURED]
    assert others
    for name in others:
        lines = _lines(corpus / name)[: formats.MAX_UNDECIDED_LINES]
        claims = [(n, s) for s, _, n in formats.score_formats(lines) if n in MINE and s > 0]
        assert not claims, f"{name} scored by {claims}"
