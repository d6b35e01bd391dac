"""Text events that are not numbers but matter: OOM, tracebacks, fp16 overflow, NCCL errors.

They become samples (`event.oom` = 1 at the line that said it) so rules treat them like any metric.
Scanned on every block whatever the format, with one combined regex as a cheap pre-filter.
Patterns are anchored to the phrasing frameworks really print, so that `-Wno-strict-overflow`
compiler flags, fairseq's `oom=0.000` counter or the word "information" do not count.
"""

from __future__ import annotations

import re

# (metric, pattern). Order matters only for readability; each line yields at most one event per metric.
EVENT_PATTERNS: list[tuple[str, str]] = [
    ("event.oom", r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|RESOURCE_EXHAUSTED: OOM"
                  r"|\bOOM when allocating|Out of memory while trying to allocate|cudaErrorMemoryAllocation"
                  r"|Killed process \d+ .*out of memory|out of memory \(OOM\)"),
    ("event.traceback", r"^Traceback \(most recent call last\):"),
    ("event.overflow", r"Gradient overflow\.\s+Skipping step|OVERFLOW! Rank \d+ Skipping step"
                       r"|overflow detected, setting loss scale to|Loss scaler reducing loss scale"
                       r"|found inf or nan in gradients|Skipping step, loss scaler \d+ reducing"),
    ("event.min_loss_scale", r"Current loss scale already at minimum|minimum loss scale reached"
                             r"|Minimum loss scale reached"),
    ("event.nccl_error", r"NCCL error|ncclInternalError|Watchdog caught collective operation timeout"),
    ("event.killed", r"CANCELLED AT|\bKilled\b$|Segmentation fault"),
]

# Substrings one of which every pattern above contains: a block with none of them has no event, and
# `in` (a fast substring search in C) rejects it far faster than the combined regex would.
_HINTS = ("emory", "OOM", "Traceback", "verflow", "VERFLOW", "oss scale", "inf or nan", "Skipping step",
          "NCCL", "nccl", "Watchdog", "CANCELLED", "Killed", "Segmentation")
_COMBINED = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(EVENT_PATTERNS)), re.MULTILINE)
_METRICS = [m for m, _ in EVENT_PATTERNS]


def scan_events(block: str, first_line: int) -> list[tuple[int, str]]:
    """(line_no, metric) for each event in a block of logical lines, in line order."""
    if not any(h in block for h in _HINTS):
        return []
    found: list[tuple[int, str]] = []
    last_pos = 0
    line_no = first_line
    seen: set[tuple[int, str]] = set()
    for m in _COMBINED.finditer(block):
        line_no += block.count("\n", last_pos, m.start())
        last_pos = m.start()
        metric = _METRICS[int(m.lastgroup[1:])]
        key = (line_no, metric)
        if key not in seen:
            seen.add(key)
            found.append(key)
    return found
