"""Karpathy's nanoGPT `train.py`: "iter N: loss X, time Tms, mfu M%" and
"step N: train loss X, val loss Y" (the periodic estimate over eval batches).

The estimate's train loss is not the per-iteration loss: it is kept as `train_loss_eval`.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

ITER_RE = re.compile(r"^iter (\d+): loss (" + NUM + r"), time (" + NUM + r")ms(?:, mfu (" + NUM + r")%)?")
EVAL_RE = re.compile(r"^step (\d+): train loss (" + NUM + r"), val loss (" + NUM + r")")


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
        for i, line in enumerate(block.split("\n")):
            if line.startswith("iter "):
                m = ITER_RE.match(line)
                if m:
                    step = float(m.group(1))
                    for metric, raw, val in (("loss", "loss", m.group(2)), ("time_ms", "time", m.group(3)),
                                             ("mfu", "mfu", m.group(4))):
                        v = num(val) if val is not None else None
                        if v is not None:
                            out.name(metric, raw)
                            out.add(metric, step, v, first_line + i)
            elif line.startswith("step "):
                m = EVAL_RE.match(line)
                if m:
                    step = float(m.group(1))
                    for metric, raw, val in (("train_loss_eval", "train loss", m.group(2)),
                                             ("val_loss", "val loss", m.group(3))):
                        v = num(val)
                        if v is not None:
                            out.name(metric, raw)
                            out.add(metric, step, v, first_line + i)
