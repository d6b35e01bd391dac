"""modded-nanogpt: "step:N/M train_loss:X train_time:…ms step_avg:…ms" and "step:N/M val_loss:X …".

train_time and step_avg are timings ('step_avg:nanms' during the first steps is an undefined
average, not a NaN loss): they are not read.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

LINE_RE = re.compile(r"^step:(\d+)/\d+ (train_loss|val_loss):(" + NUM + r")(?= |$)", re.MULTILINE)
METRIC = {"train_loss": "loss", "val_loss": "val_loss"}


class ModdedNanoGPTFormat(FormatParser):
    name = "modded_nanogpt"
    description = "modded-nanogpt: 'step:N/M train_loss:X train_time:…ms step_avg:…ms'"
    priority = 10

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = sum(1 for ln in lines[:500] if ln.startswith("step:") and LINE_RE.match(ln))
        return 1.0 if hits >= 2 else 0.5 * hits

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        pos = 0
        line = first_line
        for m in LINE_RE.finditer(block):
            line += block.count("\n", pos, m.start())
            pos = m.start()
            v = num(m.group(3))
            if v is None:
                continue
            metric = METRIC[m.group(2)]
            out.name(metric, m.group(2))
            out.add(metric, float(m.group(1)), v, line)
