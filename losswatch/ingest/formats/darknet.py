"""Darknet / YOLO (pjreddie and AlexeyAB) training output.

One line per iteration: ` N: loss, avg avg loss, rate rate, t seconds, k images, h hours left`.
The running average ("avg loss") is the loss; the first number, the batch's own loss, is `loss_raw`;
"rate" is the lr and "seconds" the step time. "-1.000000 hours left" is an ETA and "images" a
counter: neither is a metric. AlexeyAB's mAP lines ("mean_average_precision (mAP@0.50) = X") give
`val.map` at the last iteration.
"""

from __future__ import annotations

import re
from itertools import compress, repeat
from operator import add, contains

from losswatch.ingest import rowscan
from losswatch.ingest.formats._text import NUM, emit_rows, floats, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

ITER_RE = re.compile(
    r"[ \t]*(\d+)(?:/\d+)?: ?(" + NUM + r"), (" + NUM + r") avg(?: loss)?, (" + NUM + r") rate"
    r"(?:, (" + NUM + r") seconds)?"
)
# The same, for a '\n'-joined run of candidate lines: a line that is not an iteration line (a " avg"
# in other text) makes the counts differ and the block is read line by line instead.
ITER_LINES_RE = re.compile("^" + ITER_RE.pattern + "[^\n]*$", re.MULTILINE)
MAP_RE = re.compile(r"mean_average_precision \(mAP@[\d.]+\) = (" + NUM + r")")
LAYER_RE = re.compile(r"^\s*\d+ (?:conv|yolo|route|shortcut|max|upsample)\b")
# The usual iteration line, for the native scanner: what ITER_LINES_RE reads with every group there.
R = rowscan
TEMPLATE = (R.WS, R.INT, ": ", R.NUM, ", ", R.NUM, " avg loss, ", R.NUM, " rate, ", R.NUM, " seconds", R.REST)
METRICS = ("loss_raw", "loss", "lr", "step_time")
RAW_NAMES = ("loss", "avg loss", "rate", "seconds")


class DarknetFormat(FormatParser):
    name = "darknet"
    description = "Darknet/YOLO: ' N: loss, avg avg loss, rate rate, t seconds, ...'"
    priority = 10

    def __init__(self) -> None:
        self.step = 0.0

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        head = lines[:2000]
        if any(" avg" in ln and " rate" in ln and ITER_RE.match(ln) for ln in head):
            return 1.0
        if sum(1 for ln in head if LAYER_RE.match(ln)) >= 5:
            return 0.4
        return 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        has_map = "mean_average_precision" in block
        if " avg" not in block and not has_map:
            return
        if not has_map and self._scan(block, first_line, out):
            return
        lines = block.split("\n")
        if not has_map:  # the usual block: all iteration lines matched by one findall
            cand = list(compress(range(len(lines)), map(contains, lines, repeat(" avg"))))
            rows = ITER_LINES_RE.findall("\n".join([lines[i] for i in cand]))
            if len(rows) == len(cand):
                self._flush(rows, list(map(add, cand, repeat(first_line))), out)
                return
        rows = []
        row_lines: list[int] = []
        match = ITER_RE.match
        for i, line in enumerate(lines):
            if " avg" in line:
                m = match(line)
                if m is not None:
                    rows.append(m.groups())
                    row_lines.append(first_line + i)
            elif has_map and "mean_average_precision" in line:
                self._flush(rows, row_lines, out)
                rows, row_lines = [], []
                m = MAP_RE.search(line)
                v = num(m.group(1)) if m else None
                if v is not None:
                    out.name("val.map", "mAP")
                    out.add("val.map", self.step, v, first_line + i)
        self._flush(rows, row_lines, out)

    def _scan(self, block: str, first_line: int, out: SampleBatch) -> bool:
        """The usual block in one native pass (what `_flush` makes of ITER_LINES_RE's rows); False
        when that cannot be had (see rowscan)."""
        rows = rowscan.scan(block, " avg", TEMPLATE, by_prefix=False, first_line=first_line)
        if rows is None:
            return False
        if rows.lines:
            vals = rows.values
            steps = vals[0::5]
            del vals[0::5]
            emit_rows(out, METRICS, steps, [], rows.lines, values=vals)
            for metric, raw in zip(METRICS, RAW_NAMES, strict=True):
                out.name(metric, raw)
            self.step = steps[-1]
        return True

    def _flush(self, rows: list[tuple], row_lines: list[int], out: SampleBatch) -> None:
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        steps = floats(cols[0])
        k = 3 if cols[4].count(None) == len(rows) else 4
        emit_rows(out, METRICS[:k], steps, [floats(c) for c in cols[1:1 + k]], row_lines)
        for metric, raw in zip(METRICS[:k], RAW_NAMES, strict=False):
            out.name(metric, raw)
        self.step = steps[-1]
