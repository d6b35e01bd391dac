"""Caffe solver output (glog lines between net-construction noise).

- "Iteration N (x iter/s, …), loss = X" → `loss` (the solver's smoothed loss) at step N;
- "Train net output #k: name = X (* w = Y loss)" → the per-batch output under its own name
  (`mbox_loss`, `softmax_loss`; an output called plain "loss" becomes `loss_raw`, "accuracy" `acc`);
- "Iteration N, lr = X" → `lr`;
- "Iteration N, Testing net (#k)" then "Test net output #k: name = X" → `val_loss` for the first
  loss-named test output, `val.<name>` for the others (`val.detection_eval`).
A log that starts mid-iteration (its "Iteration N, loss" line cut off) has Train net outputs with no
step yet: they take the step of the next "Iteration N, lr" line.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, canonical_name, clean_name

LOSS_RE = re.compile(r"\] Iteration (\d+)(?: \([^)]*\))?, loss = (" + NUM + ")")
LR_RE = re.compile(r"\] Iteration (\d+), lr = (" + NUM + ")")
TESTING_RE = re.compile(r"\] Iteration (\d+), Testing net")
OUTPUT_RE = re.compile(r"\] +(Train|Test) net output #\d+: (\S+) = (" + NUM + ")")
GLOG_RE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ (\w+)\.cpp:\d+\]")
CAFFE_FILES = frozenset(("solver", "sgd_solver", "net", "caffe", "layer_factory", "data_layer", "upgrade_proto"))


class CaffeFormat(FormatParser):
    name = "caffe"
    description = "Caffe glog solver lines: 'Iteration N, loss = X', 'Train/Test net output', lr"
    priority = 10

    def __init__(self) -> None:
        self.step: float | None = None
        self.test_step: float | None = None
        self.pending: list[tuple[str, str, float, int]] = []  # train outputs waiting for a step
        self.val_loss_name: str | None = None

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        caffe = 0
        for ln in lines[:2000]:
            if "] Iteration " in ln and (LOSS_RE.search(ln) or LR_RE.search(ln)):
                return 1.0
            if " net output #" in ln and OUTPUT_RE.search(ln):
                return 1.0
            m = GLOG_RE.match(ln)
            if m and m.group(1) in CAFFE_FILES:
                caffe += 1
        return 0.6 if caffe >= 3 else 0.0

    def _train_metric(self, raw: str) -> str:
        c = canonical_name(raw)
        return "loss_raw" if c == "loss" else c

    def _val_metric(self, raw: str) -> str:
        if "loss" in raw.lower():
            if self.val_loss_name is None:
                self.val_loss_name = raw
            if raw == self.val_loss_name:
                return "val_loss"
        c = canonical_name(raw)
        if c == "acc":
            return "val_acc"
        return "val." + clean_name(raw)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "] " not in block:
            return
        for i, line in enumerate(block.split("\n")):
            if " net output #" in line:
                m = OUTPUT_RE.search(line)
                if not m:
                    continue
                kind, raw, val = m.groups()
                v = num(val)
                if v is None:
                    continue
                if kind == "Train":
                    metric = self._train_metric(raw)
                    if self.step is None:
                        self.pending.append((metric, raw, v, first_line + i))
                        continue
                    step = self.step
                else:
                    metric = self._val_metric(raw)
                    step = self.test_step if self.test_step is not None else (self.step or 0.0)
                out.name(metric, raw)
                out.add(metric, step, v, first_line + i)
            elif "] Iteration " in line:
                m = LOSS_RE.search(line)
                if m:
                    self.step = float(m.group(1))
                    v = num(m.group(2))
                    if v is not None:
                        out.name("loss", "loss")
                        out.add("loss", self.step, v, first_line + i)
                    continue
                m = LR_RE.search(line)
                if m:
                    step = float(m.group(1))
                    self._flush(step, out)
                    self.step = step
                    v = num(m.group(2))
                    if v is not None:
                        out.name("lr", "lr")
                        out.add("lr", step, v, first_line + i)
                    continue
                m = TESTING_RE.search(line)
                if m:
                    self.test_step = float(m.group(1))

    def _flush(self, step: float, out: SampleBatch) -> None:
        for metric, raw, v, line in self.pending:
            out.name(metric, raw)
            out.add(metric, step, v, line)
        self.pending.clear()
