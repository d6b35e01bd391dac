"""Generic fallback: `key: value`, `key=value` and `key value` pairs anywhere in a line.

For logs of no known family. A line's step is a `step`/`iter`/`iteration`/`global_step` key when
there is one, else a per-metric counter. Only names that look like metrics are read: timings,
ETAs, dates and progress counters are left alone.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, parse_number

NUM = r"[-+]?(?:\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|NaN|Inf|INF|NAN|Infinity)"
PAIR_RE = re.compile(
    r"(?<![\w/.-])(?P<key>[A-Za-z][\w/.\-]*(?: [A-Za-z][\w\-]*)?)\s*(?:=|:)\s*(?P<val>" + NUM + r")(?![\w.:/])"
)
STEP_KEYS = {"step", "iter", "iteration", "global_step", "it", "steps", "num_updates", "s"}
SKIP_KEYS = re.compile(r"(?:^|_)(?:time|eta|elapsed|date|sec|secs|seconds|ms|pid|tid|rank|port|line|mem|memory)$")
# "Number of classes: 10", "Size of the dataset: 50000": two words starting with a function word are
# the tail of a sentence stating a fact, not a metric's name (a class count is read as meta.classes).
PHRASE_TAIL = re.compile(r"^(?:of|in|to|for|the|a|an|per|with|on|at|by|from) ", re.IGNORECASE)


class KeyValueFormat(FormatParser):
    name = "kv"
    description = "generic `key: value` / `key=value` pairs (fallback for other logs)"
    priority = -100

    def __init__(self) -> None:
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        """Weak evidence, except for lines that clearly are training records (a step key and a loss).

        Ten such records are enough to decide, so a live job printing `step=N loss=X` is followed at once
        instead of after 2000 lines; a known family still wins because its own detector scores higher.
        """
        hits = records = 0
        for ln in lines[:500]:
            if "loss" not in ln.lower():
                continue
            keys = [m.group("key").lower() for m in PAIR_RE.finditer(ln)]
            if not keys:
                continue
            hits += 1
            if any(k in STEP_KEYS for k in keys) and any("loss" in k for k in keys):
                records += 1
        if records >= 10:
            return 0.5
        return min(0.3, 0.05 * hits)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "=" not in line and ":" not in line:
                continue
            pairs = []
            step = None
            for m in PAIR_RE.finditer(line):
                key = m.group("key")
                low = key.lower()
                if low in STEP_KEYS:
                    v = parse_number(m.group("val"))
                    if v is not None:
                        step = v
                    continue
                if SKIP_KEYS.search(low.replace(" ", "_")) or (" " in low and PHRASE_TAIL.match(low)):
                    continue
                v = parse_number(m.group("val"))
                if v is not None:
                    pairs.append((key, v))
            line_no = first_line + i
            for key, v in pairs:
                metric = canonical_name(key)
                out.name(metric, key)
                out.add(metric, step if step is not None else self.counter(metric), v, line_no)
