"""Text events that are not numbers but matter: OOM, tracebacks, fp16 overflow, NCCL errors, an
evaluation that got no results at all (`event.eval_empty`: mmdet's "The testing results of the whole
dataset is empty", detectron2's "Did not receive valid predictions"; a diverged or dead model
detects nothing, so its mAP lines are missing rather than 0).

They become samples (`event.oom` = 1 at the line that said it) so rules treat them like any metric.
Scanned on every block whatever the format, with one combined regex as a cheap pre-filter.
Patterns are anchored to the phrasing frameworks really print, so that `-Wno-strict-overflow`
compiler flags, fairseq's `oom=0.000` counter or the word "information" do not count.
"""

from __future__ import annotations

import re

from losswatch.ingest import rowscan
from losswatch.ingest.textscan import line_numbers, trigger_lines

# (metric, pattern). Order matters only for readability; each line yields at most one event per metric.
EVENT_PATTERNS: list[tuple[str, str]] = [
    ("event.oom", r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|RESOURCE_EXHAUSTED: OOM"
                  r"|ResourceExhaustedError: OOM|\bOOM when allocating|Out of memory while trying to allocate"
                  r"|cudaErrorMemoryAllocation|HIP out of memory|MPS backend out of memory"
                  r"|Killed process \d+ .*out of memory|out of memory \(OOM\)"),
    # A traceback starts a line, possibly after a torchrun/SLURM rank prefix ("[rank0]: ", "0: ").
    ("event.traceback", r"^(?:\[rank\d+\]:\s*|\d+:\s*)?Traceback \(most recent call last\):"),
    ("event.overflow", r"Gradient overflow\.\s+Skipping step|OVERFLOW! Rank \d+ Skipping step"
                       r"|overflow detected, (?:ignoring gradient, )?setting loss scale to"
                       r"|Loss scaler reducing loss scale|found inf or nan in gradients"
                       r"|Skipping step, loss scaler \d+ reducing|fp16 dynamic loss scale overflow"
                       r"|Grad overflow on iteration \d+"),
    ("event.min_loss_scale", r"Current loss scale already at minimum|minimum loss scale reached"
                             r"|Minimum loss scale reached"),
    ("event.nccl_error", r"NCCL error|ncclInternalError|Watchdog caught collective operation timeout"),
    ("event.killed", r"CANCELLED AT|\bKilled\b$|Segmentation fault"),
    ("event.eval_empty", r"[Tt]esting results of (?:the )?[\w .-]{1,40}? (?:is|are) empty"
                         r"|Did not receive valid predictions|No predictions from the model"),
]

# Literal substrings that every match of a metric's pattern contains. A block is searched with
# `str.find` for these (fast, C speed) and only the lines holding one are matched with the regex:
# one alternation regex run over every character of a big block was the slowest part of ingest.
TRIGGERS: dict[str, tuple[str, ...]] = {
    "event.oom": ("out of memory", "OutOfMemoryError", "OOM", "Out of memory", "cudaErrorMemoryAllocation"),
    "event.traceback": ("Traceback (most recent call last):",),
    "event.overflow": ("overflow", "OVERFLOW!", "Loss scaler reducing", "found inf or nan", "Skipping step, loss scaler"),
    "event.min_loss_scale": ("loss scale already at minimum", "inimum loss scale reached"),
    "event.nccl_error": ("NCCL error", "ncclInternalError", "Watchdog caught"),
    "event.killed": ("CANCELLED AT", "Killed", "Segmentation fault"),
    "event.eval_empty": ("esting results of", "predictions"),
}

_PATTERNS = {m: re.compile(p, re.MULTILINE) for m, p in EVENT_PATTERNS}
_ORDER = {m: i for i, (m, _) in enumerate(EVENT_PATTERNS)}
_ALL_TRIGGERS = [(t, m) for m, ts in TRIGGERS.items() for t in ts]
# Every trigger, flat: a line holding none of these holds no event.
LITERALS = tuple(t for t, _ in _ALL_TRIGGERS)


# An ASCII block is first searched as bytes with every byte that no trigger holds dropped (digits,
# most punctuation: 45-60 % of a training log): every trigger in the block is still there whole,
# and the searches run over half the bytes. Only a block where one is found is scanned as text.
_KEEP = frozenset(b"\n".join(t.encode() for t in LITERALS))
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_BYTE_LITERALS = tuple(t.encode() for t in LITERALS)
_UTF16_OK = all(t.isascii() for t in LITERALS) and 0 not in _KEEP
_PREFILTER_MIN = 4096  # below this the text scan is as cheap as the byte copy


def _may_hold_event(block: str) -> bool:
    """False only where no trigger is in the block."""
    if len(block) < _PREFILTER_MIN:
        return True
    if rowscan.available():
        return rowscan.contains_any(block, _BYTE_LITERALS)
    if block.isascii():
        data = block.encode("ascii")
    elif _UTF16_OK:  # (a tqdm bar's '█'): as UTF-16 an ASCII char is its byte and a NUL, which is dropped
        try:
            data = block.encode("utf-16-le")
        except UnicodeEncodeError:  # a lone surrogate
            return True
    else:
        return True
    kept = data.translate(None, _DROP)
    return any(t in kept for t in _BYTE_LITERALS)


def scan_events(block: str, first_line: int) -> list[tuple[int, str]]:
    """(line_no, metric) for each event in a block of logical lines, in line order."""
    if not _may_hold_event(block):
        return []
    hits: set[tuple[int, str]] = set()  # (offset of the line start, metric)
    for trigger, metric in _ALL_TRIGGERS:
        for start, end in trigger_lines(block, trigger):
            if (start, metric) not in hits and _PATTERNS[metric].search(block, start, end):
                hits.add((start, metric))
    if not hits:
        return []
    ordered = sorted(hits, key=lambda h: (h[0], _ORDER[h[1]]))
    return list(zip(line_numbers(block, first_line, [s for s, _ in ordered]), [m for _, m in ordered],
                    strict=True))
