"""Darknet / YOLO (pjreddie and AlexeyAB) training output.

One line per iteration: ` N: loss, avg avg loss, rate rate, t seconds, k images, h hours left`.
The running average ("avg loss") is the loss; the first number, the batch's own loss, is `loss_raw`;
"rate" is the lr. "-1.000000 hours left" is an ETA and "images" a counter: neither is a metric.
AlexeyAB's mAP lines ("mean_average_precision (mAP@0.50) = X") give `val.map` at the last iteration.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

ITER_RE = re.compile(
    r"^[ \t]*(\d+)(?:/\d+)?: ?(" + NUM + r"), (" + NUM + r") avg(?: loss)?, (" + NUM + r") rate"
    r"(?:, (" + NUM + r") seconds)?",
    re.MULTILINE,
)
MAP_RE = re.compile(r"mean_average_precision \(mAP@[\d.]+\) = (" + NUM + r")")
LAYER_RE = re.compile(r"^\s*\d+ (?:conv|yolo|route|shortcut|max|upsample)\b")
METRICS = ("loss_raw", "loss", "lr", "step_time")


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
        has_iter = " rate" in block
        has_map = "mean_average_precision" in block
        if not has_iter and not has_map:
            return
        if not has_map:
            self._iters(block, first_line, out)
            return
        # mAP lines are rare: go line by line through blocks that have one.
        for i, line in enumerate(block.split("\n")):
            if "mean_average_precision" in line:
                m = MAP_RE.search(line)
                v = num(m.group(1)) if m else None
                if v is not None:
                    out.name("val.map", "mAP")
                    out.add("val.map", self.step, v, first_line + i)
            elif " rate" in line:
                self._iters(line, first_line + i, out)

    def _iters(self, block: str, first_line: int, out: SampleBatch) -> None:
        ms, ss, vs, ls = out.metrics, out.steps, out.values, out.lines
        pos = 0
        line = first_line
        step = self.step
        named = False
        for m in ITER_RE.finditer(block):
            start = m.start()
            line += block.count("\n", pos, start)
            pos = start
            step = float(m.group(1))
            raw, avg, rate, secs = m.group(2, 3, 4, 5)
            try:
                vals = [float(raw), float(avg), float(rate)]
            except ValueError:
                vals = [num(raw), num(avg), num(rate)]
            if secs is not None:
                vals.append(num(secs))
            n = len(vals)
            ms.extend(METRICS[:n])
            ss.extend((step,) * n)
            vs.extend(vals)
            ls.extend((line,) * n)
            named = True
        self.step = step
        if named:
            for metric, raw_name in zip(METRICS, ("loss", "avg loss", "rate", "seconds"), strict=True):
                out.name(metric, raw_name)
