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

# Substrings one of which every pattern above contains (tests check it). Blocks are searched for
# them with `str.find` (fast, in C); only the lines holding one are matched against the patterns,
# so a block without events costs a few substring scans, and a common word costs little.
_HINTS = ("of memory", "OutOfMemory", "RESOURCE_EXHAUSTED", "OOM when", "MemoryAllocation", "Traceback",
          "overflow", "OVERFLOW", "oss scale", "inf or nan", "NCCL", "ncclInternal", "Watchdog caught",
          "CANCELLED AT", "Killed", "Segmentation fault")
_COMBINED = re.compile("|".join(f"(?P<g{i}>{p})" for i, (_, p) in enumerate(EVENT_PATTERNS)), re.MULTILINE)
_METRICS = [m for m, _ in EVENT_PATTERNS]


def _candidate_lines(block: str) -> list[int]:
    """Start offsets of the lines holding a hint, in order."""
    starts: set[int] = set()
    for h in _HINTS:
        i = block.find(h)
        while i >= 0:
            start = block.rfind("\n", 0, i) + 1
            starts.add(start)
            end = block.find("\n", i)
            if end < 0:
                break
            i = block.find(h, end)
    return sorted(starts)


def scan_events(block: str, first_line: int) -> list[tuple[int, str]]:
    """(line_no, metric) for each event in a block of logical lines, in line order."""
    starts = _candidate_lines(block)
    if not starts:
        return []
    found: list[tuple[int, str]] = []
    line_no = first_line
    last = 0
    for start in starts:
        line_no += block.count("\n", last, start)
        last = start
        end = block.find("\n", start)
        line = block[start:] if end < 0 else block[start:end]
        seen: set[str] = set()
        for m in _COMBINED.finditer(line):
            metric = _METRICS[int(m.lastgroup[1:])]
            if metric not in seen:
                seen.add(metric)
                found.append((line_no, metric))
    return found
