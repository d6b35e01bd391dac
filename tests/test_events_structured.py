"""Text events (OOM, traceback, fp16 overflow, minimum loss scale) on real phrasings, and the
look-alikes that must not count."""

from __future__ import annotations

import pytest

from losswatch.ingest.events import scan_events


@pytest.mark.parametrize("line, metric", [
    ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.51 GiB (GPU 0; 23.52 GiB", "event.oom"),
    ("RuntimeError: CUDA error: out of memory", "event.oom"),
    ("tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor", "event.oom"),
    ("torch.OutOfMemoryError: HIP out of memory. Tried to allocate 2.00 GiB", "event.oom"),
    ("Traceback (most recent call last):", "event.traceback"),
    ("[rank0]: Traceback (most recent call last):", "event.traceback"),
    ("[2023-07-24 13:21:32,378] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 Skipping "
     "step. Attempted loss scale: 4294967296, reducing to 2147483648", "event.overflow"),
    ("[deepspeed] fp16 dynamic loss scale overflow! Skipping step. Attempted loss scale: 65536, reducing to 32768",
     "event.overflow"),
    ("| WARNING: overflow detected, setting loss scale to: 0.0625", "event.overflow"),
    ("2021-03-01 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, setting loss "
     "scale to: 64.0", "event.overflow"),
    ("Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 32768.0", "event.overflow"),
    ("Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.", "event.min_loss_scale"),
    ("FloatingPointError: Minimum loss scale reached (0.0001). Your loss is probably exploding.",
     "event.min_loss_scale"),
])
def test_event_phrasings(line, metric):
    assert (1, metric) in scan_events(line, 1)


@pytest.mark.parametrize("line", [
    "gcc -Wno-strict-overflow -Wno-stringop-overflow -fwrapv -O2",
    "| epoch 001:    200 / 1374 loss=14.351, clip=0.000, oom=0.000, loss_scale=0.062, wall=1061",
    "[config.py:964:print]   loss_scale ................... 0",
    "[config.py:964:print]   dynamic_loss_scale_args ...... None",
    "  File \"train.py\", line 3, in <module>  # Traceback (most recent call last): in a comment",
    "|    banana     | 0.000  |  # Avoid Inf/NaN error",
    '{"train_class_error": 98.9, "test_cardinality_error_unscaled": 7.3}',
])
def test_look_alikes_are_not_events(line):
    assert scan_events(line, 1) == []


def test_event_line_numbers_in_a_block():
    block = "step 1\nTraceback (most recent call last):\n  File x\ntorch.cuda.OutOfMemoryError: CUDA out of memory."
    assert scan_events(block, 10) == [(11, "event.traceback"), (13, "event.oom")]


def _reference_scan(block: str, first_line: int) -> list[tuple[int, str]]:
    """The plain way: every pattern on every line (what the trigger pre-filter must equal)."""
    import re

    from losswatch.ingest.events import EVENT_PATTERNS

    pats = [(m, re.compile(p)) for m, p in EVENT_PATTERNS]
    return [(first_line + i, m) for i, ln in enumerate(block.split("\n")) for m, rx in pats if rx.search(ln)]


def test_trigger_prefilter_equals_full_scan(corpus):
    """Every corpus log (all families) gives the same events as the per-line full regex scan."""
    for path in sorted(corpus.glob("*/*.log")):
        text = path.read_bytes().decode("utf-8", "replace").replace("\r\n", "\n")
        assert scan_events(text, 1) == _reference_scan(text, 1), path.name
