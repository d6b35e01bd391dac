"""llm.c `main.log`: "s:N trl:X lr:Y norm:Z" (train) and "s:N tel:X" (eval) lines.

trl is the train loss, tel the val loss, norm the grad norm.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

LINE_RE = re.compile(r"^s:(\d+) ((?:\w+:" + NUM + r" ?)+)\s*$", re.MULTILINE)
PAIR_RE = re.compile(r"(\w+):(" + NUM + ")")
NAMES = {"trl": "loss", "tel": "val_loss", "lr": "lr", "norm": "grad_norm"}


class LlmcFormat(FormatParser):
    name = "llmc"
    description = "llm.c main.log: 's:N trl:X lr:Y norm:Z', 's:N tel:X'"
    priority = 10

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = sum(1 for ln in lines[:200] if ln.startswith("s:") and LINE_RE.match(ln))
        return 1.0 if hits >= 2 else 0.5 * hits

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        pos = 0
        line = first_line
        for m in LINE_RE.finditer(block):
            line += block.count("\n", pos, m.start())
            pos = m.start()
            step = float(m.group(1))
            for key, val in PAIR_RE.findall(m.group(2)):
                v = num(val)
                if v is None:
                    continue
                metric = NAMES.get(key, key)
                out.name(metric, key)
                out.add(metric, step, v, line)
