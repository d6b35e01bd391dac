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
    # every prefix of the first 25 lines (where detection decides), then 25 longer ones
    ks = sorted(set(range(1, min(len(lines), 25) + 1)) | set(range(1, len(lines) + 1, max(1, len(lines) // 25))))
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


def _run(corpus, name):
    from losswatch.commands.common import read_whole
    from losswatch.monitor import Monitor

    m = Monitor()
    run = m.add_run(name)
    read_whole(m, run, str(corpus / name))
    return run.store


def test_fp16_loss_scale_facts(corpus, truth):
    """The loss-scale cascades the truth describes: how many times it fell, and where it ended."""
    ds = "deepspeed/hellodeepspeed-bert_fp16-overflow.log"
    info = truth[ds]["events"]["fp16_overflow"]
    s = _run(corpus, ds).get("loss_scale")
    assert s.count == info["loss_scale_decreases"] and s.last.value == info["loss_scale_last"]
    assert s.max.value == info["loss_scale_first"] / 2  # the first overflow halves the attempted scale

    meg = "megatron/bigscience_meg-gpt2-n8_fp16-lossscale-skips.log"
    info = truth[meg]["events"]["fp16_overflow"]
    store = _run(corpus, meg)
    assert sum(store.get("skipped_iterations").values) == info["skipped_iterations_total"]
    scales = list(store.get("loss_scale").values)
    assert sum(b < a for a, b in zip(scales, scales[1:], strict=False)) == info["loss_scale_decreases"]

    fs = "fairseq/issue515_fp16-overflow-cascade_excerpt.log"
    info = truth[fs]["events"]["fp16_overflow"]
    assert _run(corpus, fs).get("overflow_loss_scale").count == info["loss_scale_decreases"]


def test_detr_runs_are_both_kept(corpus, truth):
    name = "detr_jsonl/detr-custom_log.log"
    s = _run(corpus, name).get("loss")
    runs = truth[name]["runs"]
    steps = list(s.steps)
    assert len(steps) == sum(r["train_loss"]["count"] for r in runs)
    resets = [i for i in range(1, len(steps)) if steps[i] < steps[i - 1]]
    assert resets == [runs[0]["train_loss"]["count"]]  # the epoch counter restarts where run 2 begins


@pytest.mark.parametrize("fmt", sorted(MINE))
def test_parsers_survive_any_corpus_text(corpus, fmt):
    """Every structured parser reads every corpus log (other families, truncated lines) without an
    exception: a format forced with --format on the wrong log yields few samples, never a crash."""
    rng = random.Random(fmt)
    lines = []
    for path in sorted(corpus.glob("*/*.log")):
        lines += _lines(path)[:300]
    mangled = [ln[: rng.randint(0, len(ln))] if rng.random() < 0.3 else ln for ln in lines]
    cls = formats.get_format(fmt)
    parser = cls()
    from losswatch.model import SampleBatch

    out = SampleBatch()
    parser.parse("\n".join(mangled), 1, out)
    assert len(out.metrics) == len(out.steps) == len(out.values) == len(out.lines)
    assert all(isinstance(v, float) for v in out.values) and all(isinstance(s, float) for s in out.steps)
