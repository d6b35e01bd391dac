"""Generic fallback: `key: value`, `key=value` and `key value` pairs anywhere in a line.

For logs of no known family. A line's step is a `step`/`iter`/`iteration`/`global_step` key when
there is one, else a per-metric counter. Only names that look like metrics are read: timings,
ETAs, dates and progress counters are left alone.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import add

from losswatch.ingest import rowscan
from losswatch.ingest.formats._text import drop_columns, emit_rows, merge_rows
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


def _skipped(low: str) -> bool:
    """A key (lowercased) that is not a metric: a timing, ETA, date, counter, or a sentence's tail."""
    return bool(SKIP_KEYS.search(low.replace(" ", "_")) or (" " in low and PHRASE_TAIL.match(low)))


class KeyValueFormat(FormatParser):
    name = "kv"
    description = "generic `key: value` / `key=value` pairs (fallback for other logs)"
    priority = -100

    def __init__(self) -> None:
        self.counter = StepCounter()
        self._last_record: str | None = None  # the last line read with a step key and pairs
        self._plan: _RecordPlan | None = None

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
        if rowscan.available() and self._scan(block, first_line, out):
            return
        for i, line in enumerate(block.split("\n")):
            self._line(line, first_line + i, out)

    def _line(self, line: str, line_no: int, out: SampleBatch) -> None:
        if "=" not in line and ":" not in line:
            return
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
            if _skipped(low):
                continue
            v = parse_number(m.group("val"))
            if v is not None:
                pairs.append((key, v))
        if pairs:
            self._last_record = line if step is not None else self._last_record
        for key, v in pairs:
            metric = canonical_name(key)
            out.name(metric, key)
            out.add(metric, step if step is not None else self.counter(metric), v, line_no)

    # -- the native path: the usual record line as a template ---------------------------------------

    def _scan(self, block: str, first_line: int, out: SampleBatch) -> bool:
        """The lines of the usual record's exact shape in one native pass, the others by `_line`, in
        line order. False (nothing done) where there is no usual shape yet or the block has another."""
        plan = self._plan
        if plan is None:
            plan = self._plan = _RecordPlan.of(self._last_record) if self._last_record is not None else None
            if plan is None:
                return False
        rows = rowscan.scan(block, plan.select, plan.template, marker="", strict=False)
        if rows is None:
            return False
        others = [(i, t) for i, t in zip(rows.other_lines, rows.other_texts, strict=True) if "=" in t or ":" in t]
        if len(rows.lines) < len(others):  # not the usual shape (any more): learn it again
            self._plan = None
            self._last_record = None
            return False
        vals = rows.values
        steps = vals[plan.step_col::plan.width]
        drop_columns(vals, plan.width, plan.drop_desc)
        line_nos = list(map(add, rows.lines, repeat(first_line)))
        k = len(plan.metrics)

        def emit(a: int, b: int) -> None:
            for metric, raw in zip(plan.metrics, plan.raws, strict=True):
                out.name(metric, raw)
            emit_rows(out, plan.metrics, steps[a:b], [], line_nos[a:b], values=vals[k * a:k * b])

        merge_rows(rows.lines, others, emit, lambda i, text: self._line(text, first_line + i, out))
        return True


class _RecordPlan:
    """The usual record line of a kv log as a rowscan template: its text with each pair's value a number
    slot. A line of exactly that text (numbers aside) has the same pairs at the same places: the keys,
    separators and the characters around each value are the same, so PAIR_RE finds the same matches
    (see rowscan for why the numbers read the same)."""

    def __init__(self, select: str, template: tuple, metrics: tuple[str, ...], raws: tuple[str, ...],
                 step_col: int, drop: list[int], width: int) -> None:
        self.select = select
        self.template = template
        self.metrics = metrics
        self.raws = raws
        self.step_col = step_col
        self.drop_desc = sorted(drop, reverse=True)
        self.width = width

    @classmethod
    def of(cls, line: str) -> _RecordPlan | None:
        """The plan of a record line (one with a step key), None where it cannot be a template."""
        if not line.isascii():
            return None
        items: list = []
        metrics, raws, drop = [], [], []
        step_col = -1
        pos = 0
        for col, m in enumerate(PAIR_RE.finditer(line)):
            val = m.group("val")
            if not rowscan.NUM_RE.fullmatch(val):
                return None  # a value the number slot would not read the same way (1,000; nan)
            items += [line[pos:m.start("val")], rowscan.NUM]
            pos = m.end("val")
            key = m.group("key")
            low = key.lower()
            if low in STEP_KEYS:
                step_col = col
                drop.append(col)
            elif _skipped(low):
                drop.append(col)
            else:
                metrics.append(canonical_name(key))
                raws.append(key)
        if step_col < 0 or not metrics or not items[0]:
            return None
        items.append(line[pos:])
        template = tuple(x for x in items if x != "")
        return cls(items[0], template, tuple(metrics), tuple(raws), step_col, drop, len(metrics) + len(drop))
