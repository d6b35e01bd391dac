"""BasicSR / pyiqa logger lines: "[name..][epoch:  1, iter:   1,000, lr:(2.999e-05,)] [eta: …, time (data): …]
l_mos: 2.6e-03 l_metric: 1.5e-01 train_metrics/srcc: 8.1e-01".

The step is the iter (printed with thousands separators). Each loss term keeps its own name
(`l_mos`, `l_pix`, …): these logs print no total, and none is made up. The lr tuple gives `lr`
(and `lr.g1`, … for further param groups). Validation results ("Validation <set>" then
"# srcc: X	Best: …") become `val.<set>.<metric>` at the last iter.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, canonical_name, clean_name

HEAD_RE = re.compile(r"\[epoch:\s*(\d+), iter:\s*([\d,]+), lr:\(([^)]*)\)\]")
PAIR_RE = re.compile(r"(?:^|\s)([A-Za-z_][\w/.\-]*): (" + NUM + r")(?=\s|$)")
VAL_SET_RE = re.compile(r"INFO: Validation (\S+)\s*$")
VAL_RE = re.compile(r"^\s*# ([\w/.\-]+): (" + NUM + r")(?=\s|$)")
START_RE = re.compile(r"INFO: Start training from epoch: \d+, iter: \d+")


class BasicSRFormat(FormatParser):
    name = "basicsr"
    description = "BasicSR/pyiqa: '[epoch: N, iter: 1,000, lr:(…,)] … l_pix: …'"
    priority = 10

    def __init__(self) -> None:
        self.step = 0.0
        self.val_set = ""

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        start = False
        for ln in lines[:2000]:
            if "[epoch:" in ln and HEAD_RE.search(ln):
                return 1.0
            if not start and START_RE.search(ln):
                start = True
        return 0.45 if start else 0.0

    def _add(self, out: SampleBatch, metric: str, raw: str, val: str, line: int) -> None:
        v = num(val)
        if v is not None:
            out.name(metric, raw)
            out.add(metric, self.step, v, line)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            ln = first_line + i
            if "[epoch:" in line:
                m = HEAD_RE.search(line)
                if not m:
                    continue
                self.step = float(m.group(2).replace(",", ""))
                self._add(out, "epoch", "epoch", m.group(1), ln)
                for g, lr in enumerate(x for x in m.group(3).split(",") if x.strip()):
                    self._add(out, "lr" if g == 0 else f"lr.g{g}", "lr", lr.strip(), ln)
                rest = line[m.end():]
                close = rest.find("]") if rest.lstrip().startswith("[") else -1
                for key, val in PAIR_RE.findall(rest[close + 1:]):
                    self._add(out, canonical_name(key), key, val, ln)
            elif "# " in line:
                m = VAL_RE.match(line)
                if m:
                    prefix = f"val.{clean_name(self.val_set)}." if self.val_set else "val."
                    self._add(out, prefix + clean_name(m.group(1)), m.group(1), m.group(2), ln)
            elif "Validation " in line:
                m = VAL_SET_RE.search(line)
                if m:
                    self.val_set = m.group(1)
