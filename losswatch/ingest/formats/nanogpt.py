"""Karpathy's nanoGPT `train.py`: "iter N: loss X, time Tms, mfu M%" and
"step N: train loss X, val loss Y" (the periodic estimate over eval batches).

The estimate's train loss is not the per-iteration loss: it is kept as `train_loss_eval`.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import add

from losswatch.ingest import rowscan
from losswatch.ingest.formats._text import NUM, emit_rows, merge_rows, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

ITER_RE = re.compile(r"^iter (\d+): loss (" + NUM + r"), time (" + NUM + r")ms(?:, mfu (" + NUM + r")%)?")
EVAL_RE = re.compile(r"^step (\d+): train loss (" + NUM + r"), val loss (" + NUM + r")")
# The usual iteration line with its mfu, for the native scanner (rowscan): what ITER_RE reads with every group.
_R = rowscan
ITER_TEMPLATE = ("iter ", _R.INT, ": loss ", _R.NUM, ", time ", _R.NUM, "ms, mfu ", _R.NUM, "%", _R.REST)
ITER_METRICS = (("loss", "loss"), ("time_ms", "time"), ("mfu", "mfu"))


class NanoGPTFormat(FormatParser):
    name = "nanogpt"
    description = "nanoGPT train.py: 'iter N: loss X, time …ms, mfu …%', 'step N: train loss X, val loss Y'"
    priority = 10

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = sum(1 for ln in lines[:2000] if ITER_RE.match(ln) or EVAL_RE.match(ln))
        return 1.0 if hits >= 2 else 0.5 * hits

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "iter " not in block and "step " not in block:
            return
        if self._scan(block, first_line, out):
            return
        for i, line in enumerate(block.split("\n")):
            self._line(line, first_line + i, out)

    def _line(self, line: str, line_no: int, out: SampleBatch) -> None:
        if line.startswith("iter "):
            m = ITER_RE.match(line)
            if m:
                step = float(m.group(1))
                for (metric, raw), val in zip(ITER_METRICS, m.groups()[1:], strict=True):
                    v = num(val) if val is not None else None
                    if v is not None:
                        out.name(metric, raw)
                        out.add(metric, step, v, line_no)
        elif line.startswith("step "):
            m = EVAL_RE.match(line)
            if m:
                step = float(m.group(1))
                for metric, raw, val in (("train_loss_eval", "train loss", m.group(2)),
                                         ("val_loss", "val loss", m.group(3))):
                    v = num(val)
                    if v is not None:
                        out.name(metric, raw)
                        out.add(metric, step, v, line_no)

    def _scan(self, block: str, first_line: int, out: SampleBatch) -> bool:
        """The usual iteration lines in one native pass, every other line by `_line`, in line order:
        what `_line` gives for each line. False where the scanner is not in use."""
        rows = rowscan.scan(block, "iter ", ITER_TEMPLATE, marker="", strict=False)
        if rows is None:
            return False
        vals = rows.values
        steps = vals[0::4]
        del vals[0::4]
        line_nos = list(map(add, rows.lines, repeat(first_line)))
        metrics = tuple(m for m, _ in ITER_METRICS)

        def emit(a: int, b: int) -> None:
            for metric, raw in ITER_METRICS:
                out.name(metric, raw)
            emit_rows(out, metrics, steps[a:b], [], line_nos[a:b], values=vals[3 * a:3 * b])

        merge_rows(rows.lines, zip(rows.other_lines, rows.other_texts, strict=True), emit,
                   lambda i, text: self._line(text, first_line + i, out))
        return True
