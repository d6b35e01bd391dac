"""Keras `model.fit` console output (Keras 1/2 `[====]` bars and Keras 3 `━━━━` bars).

"Epoch k/N" headers set the step (k, as printed); a bar line "n/N [====] - 9s - loss: … - val_loss: …"
is a point only in its final state (n == N): intermediate bars with an ETA are progress, not data
(a ModelCheckpoint message may be glued right after them: "acc: 0.6800Epoch 02815: val_acc did not
improve", whose '02815' is Keras' 0-based epoch, not a new epoch). Timing fields ("1s 1ms/step") and
the ETA are not metrics. A second final bar in the same epoch (model.evaluate after fit) is kept
under `test.<name>`. The current epoch carries across blocks.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name

HEADER_RE = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
BAR_RE = re.compile(r"^\s*(\d+)/(\d+) (?:\[[=>.]*\]|[━─\s]+)")
PAIR_RE = re.compile(r"(?:^| - )([A-Za-z_][\w/.\-]*): (" + NUM + r")(?![\d.])")
SKIP = frozenset(("ETA", "eta"))


class KerasFormat(FormatParser):
    name = "keras"
    description = "Keras fit(): 'Epoch k/N' headers and 'n/N [====] - loss: … - val_loss: …' bars"
    priority = 10

    def __init__(self) -> None:
        self.epoch: float | None = None
        self.done_epoch: float | None = None  # epoch whose final bar was read
        self.counter = StepCounter()
        self._names: dict[tuple[str, bool], str] = {}

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        header = bar = 0
        for ln in lines[:2000]:
            if ln.startswith("Epoch ") and HEADER_RE.match(ln):
                header += 1
            elif " - " in ln and BAR_RE.match(ln) and PAIR_RE.search(ln):
                bar += 1
            if header and bar:
                return 1.0
        return 0.3 if header else (0.2 if bar else 0.0)

    def _metric(self, key: str, test: bool, out: SampleBatch) -> str:
        got = self._names.get((key, test))
        if got is None:
            got = canonical_name(key)
            if test:
                got = "test." + got
            self._names[(key, test)] = got
            out.name(got, key)
        elif got not in out.raw_names:
            out.name(got, key)
        return got

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "Epoch " not in block and ": " not in block:
            return
        ms, ss, vs, ls = out.metrics, out.steps, out.values, out.lines
        for i, line in enumerate(block.split("\n")):
            if line.startswith("Epoch "):
                m = HEADER_RE.match(line)
                if m:
                    self.epoch = float(m.group(1))
                    continue
            if " - " not in line:
                continue
            m = BAR_RE.match(line)
            if m is None or m.group(1) != m.group(2):
                continue  # not a bar, or an intermediate (ETA) state
            pairs = PAIR_RE.findall(line, m.end())
            if not pairs:
                continue
            test = self.epoch is not None and self.done_epoch == self.epoch
            self.done_epoch = self.epoch
            ln = first_line + i
            for key, val in pairs:
                if key in SKIP:
                    continue
                v = num(val)
                if v is None:
                    continue
                metric = self._metric(key, test, out)
                ms.append(metric)
                ss.append(self.epoch if self.epoch is not None else float(self.counter(metric)))
                vs.append(v)
                ls.append(ln)
