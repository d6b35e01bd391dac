"""The class count a log states becomes `meta.classes`, and `initial_loss_off` compares the first loss with ln C."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from losswatch.engine import build_engine, shipped_rule_files
from losswatch.ingest.meta import META_PATTERNS, TRIGGERS, scan_meta
from losswatch.ingest.reader import LogReader
from losswatch.model import SampleBatch
from tests.regex_triggers import holds_one_of


@pytest.mark.parametrize("line, count", [
    ("Found 2000 files belonging to 10 classes.", 10),
    ("Found 50000 images belonging to 100 classes.", 100),
    ("found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)", 65),
    ("defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)", 50304),
    ("   Number of classes: 10", 10),
    ("2024-05-01 12:00:00 INFO num_classes = 7", 7),
    ("[rank0]: n_classes: 3.", 3),
    ("num_labels=2", 2),
])
def test_stated_class_counts(line, count):
    assert scan_meta(f"step=1 loss=2\n{line}\nstep=2 loss=1", 5) == [(6, "meta.classes", float(count))]


@pytest.mark.parametrize("line", [
    "            num_classes=80,",                      # mmdet config echo (a detector)
    "bbox_head=dict(type='Shared2FCBBoxHead', num_classes=80)",
    "    NUM_CLASSES: 80",                              # detectron2 YAML dump (a detector)
    "classes=80",                                       # darknet cfg (a detector)
    "Overriding model.yaml nc=80 with nc=1",            # YOLOv5
    '  "vocab_size": 30522,',                           # a Hugging Face config dump
    "num_classes = 10 and lr = 0.1",
    "evaluating classes 1-10",
])
def test_what_is_not_a_class_count(line):
    assert scan_meta(line, 1) == []


def test_every_pattern_holds_a_trigger():
    """The str.find pre-filter never hides a statement its patterns would match: every match of every
    alternative holds a trigger."""
    for _, pat in META_PATTERNS:
        assert holds_one_of(pat, TRIGGERS), pat
    assert not holds_one_of(META_PATTERNS[-1][1].replace("num_labels)", "num_labels|num_categories)"), TRIGGERS)


def test_reader_puts_the_count_at_its_line_and_the_step_last_seen():
    r = LogReader("kv")
    b = r.feed(b"step=1 loss=2.5\nFound 2000 files belonging to 10 classes.\nstep=2 loss=2.1\n", wall_time=0.0)
    b.extend(r.finish(wall_time=0.0))
    rows = [(m, s, v, ln) for m, s, v, ln in zip(b.metrics, b.steps, b.values, b.lines, strict=True)]
    assert ("meta.classes", 1.0, 10.0, 2) in rows
    assert [m for m, *_ in rows].index("meta.classes") == 1  # in line order, between the two losses


def test_real_log_states_its_classes(corpus: Path):
    """zms-cifar10 prints "Number of classes: 10"; its first loss (1.30, an epoch average) is below ln 10."""
    text = (corpus / "lightning_tqdm" / "zms-cifar10-exp4_190ep.log").read_text(errors="replace")
    assert scan_meta(text, 1) == [(11, "meta.classes", 10.0)]


def _engine_with_classes(tmp_path: Path, classes: int):
    """The shipped initial_loss_off with vars.classes set, as a user overrides it."""
    text = Path(shipped_rule_files()[0]).read_text()
    start = text.index("  - id: initial_loss_off")
    end = text.index("\n  # ---", start)
    rule = text[start:end].replace("vars: {classes: 0}", f"vars: {{classes: {classes}}}")
    p = tmp_path / "mine.yaml"
    p.write_text("version: 1\nrules:\n" + rule + "\n")
    return build_engine([str(p)], [], False)


def _feed(engine, rows):
    out = []
    for i, (metric, step, value) in enumerate(rows):
        b = SampleBatch(0.0)
        b.add(metric, step, value, i + 1)
        out += engine.process("r", None, b)
    return [a for a in out if a.rule == "initial_loss_off" and a.state == "firing"]


def test_vars_classes_wins_over_the_stated_count(tmp_path):
    rows = [("meta.classes", 0.0, 10.0), ("loss", 1.0, 6.0), ("loss", 2.0, 3.0)]
    # the log says 10 classes: 6.0 is more than 2 ln 10 = 4.6 → fires, naming C and ln C
    fired = _feed(_engine_with_classes(tmp_path, 0), rows)
    assert len(fired) == 1 and fired[0].step == 1.0
    assert "ln(10)" in fired[0].message and f"{math.log(10):.4g}" in fired[0].message
    # the user says 100 classes (the log's 10 is something else): 6.0 is within ln 100 = 4.6 of 4.6
    assert _feed(_engine_with_classes(tmp_path, 100), rows) == []
    # the user says 2 classes and the log states nothing: 6.0 > 2 ln 2
    assert len(_feed(_engine_with_classes(tmp_path, 2), rows[1:])) == 1


def test_only_the_head_of_a_log_is_scanned_by_line_number():
    """A block straddling HEAD_LINES keeps the statements above it: the same in any chunking."""
    from losswatch.ingest.meta import HEAD_LINES

    block = "num_classes: 10\nx\nnum_classes: 20"
    assert scan_meta(block, HEAD_LINES - 1) == [(HEAD_LINES - 1, "meta.classes", 10.0)]
    assert scan_meta(block, HEAD_LINES + 1) == []
