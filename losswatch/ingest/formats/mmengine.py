"""mmengine runner logs (mmdetection 3.x, mmpose 1.x, ...): the text log and vis_data/scalars.json.

Text: `Epoch(train)  [e][i/N]  lr: 4.0e-08  eta: 3:57:54  time: 11.9  data_time: 11.1  memory: 8725
loss: 0.3891  loss_cls: 0.2491` (or `Iter(train) [i/N]` for iteration-based loops), and
`Epoch(val) [e][i/M]  coco/bbox_mAP: 0.0  ...` after an evaluation. Train step = the global
iteration (e-1)·N + i. The `Epoch(val)` progress lines carry only eta/time/memory (no samples).
A validation result goes on the iteration axis at the end of epoch e: e·N.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._names import (
    add_pairs,
    is_timing,
    json_object,
    json_value,
    train_name,
    val_name,
)
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

EPOCH_RE = re.compile(r"\bEpoch\((train|val|test)\)\s*\[\s*(\d+)\]\s*\[\s*(\d+)/\s*(\d+)\]\s*(.*)")
ITER_RE = re.compile(r"\bIter\((train|val|test)\)\s*\[\s*(\d+)/\s*(\d+)\]\s*(.*)")
PAIR_RE = re.compile(r"(\S+): (\S+)")
# mmengine writes [e][i/N] where mmcv's "Epoch(val) [e][i]" has no "/": that tells them apart.
DETECT_RE = re.compile(r"\bEpoch\((?:train|val|test)\)\s*\[\s*\d+\]\s*\[\s*\d+/\s*\d+\]"
                       r"|\bIter\((?:train|val|test)\)\s*\[\s*\d+/\s*\d+\]")
HEADER_RE = re.compile(r" - mmengine - (?:INFO|WARNING) - ")


class MmengineFormat(FormatParser):
    name = "mmengine"
    description = "mmengine runner text log (Epoch(train) [e][i/N] lr: … loss: …; Epoch(val) … coco/bbox_mAP: …)"
    priority = 10

    def __init__(self) -> None:
        self.epoch_len = 0
        self.last_step = 0.0

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        hits = len(DETECT_RE.findall(text)) if ("(train)" in text or "(val)" in text or "(test)" in text) else 0
        if hits >= 2:
            return 0.95
        if hits:
            return 0.75
        return 0.45 if "mmengine" in text and HEADER_RE.search(text) else 0.0

    def _pairs(self, text: str, step: float, line_no: int, out: SampleBatch, val: bool) -> None:
        add_pairs(PAIR_RE, text, step, line_no, out, val)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "Epoch(" in line:
                m = EPOCH_RE.search(line)
                if not m:
                    continue
                kind, e, it, n, rest = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5)
                if kind == "train":
                    self.epoch_len = n
                    self.last_step = step = float((e - 1) * n + it)
                    self._pairs(rest, step, first_line + i, out, val=False)
                else:
                    step = float(e * self.epoch_len) if self.epoch_len else self.last_step
                    self._pairs(rest, step, first_line + i, out, val=True)
            elif "Iter(" in line:
                m = ITER_RE.search(line)
                if not m:
                    continue
                if m.group(1) == "train":
                    self.last_step = float(m.group(2))
                    self._pairs(m.group(4), self.last_step, first_line + i, out, val=False)
                else:
                    self._pairs(m.group(4), self.last_step, first_line + i, out, val=True)


SCALAR_SKIP = {"step", "epoch", "iter"}


class MmengineScalarsFormat(FormatParser):
    """mmengine `vis_data/scalars.json`: one JSON object per line, each with a `step`.

    TRAP: `step` is the global iteration in train records but, with the default
    `log_metric_by_epoch=True`, the EPOCH in validation records. Choice made here: a validation
    record (one without `iter`/`lr`/`loss`) whose `step` equals the epoch of the last train record
    is put at that train record's global iteration (the iteration at which validation ran), so val
    points share the iteration axis with the train curve. Otherwise (no epoch-based train record
    yet, or an iteration-based loop) its `step` is used as it is.
    """

    name = "mmengine_scalars"
    description = "mmengine vis_data/scalars.json JSON lines (train step = iteration, val step = epoch)"
    priority = 10

    def __init__(self) -> None:
        self.last_step: float | None = None
        self.last_epoch: float | None = None

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = 0
        for ln in lines[:200]:
            if '"step"' not in ln:
                continue
            d = json_object(ln)
            if d is None or "step" not in d:
                continue
            keys = d.keys()
            if ("data_time" in keys and "time" in keys) or any("/" in k and "mAP" in k for k in keys):
                hits += 1
                if hits >= 2:
                    return 0.9
        return 0.6 if hits else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if '"step"' not in line:
                continue
            d = json_object(line)
            if d is None:
                continue
            s = json_value(d.get("step"))
            if s is None:
                continue
            train = "iter" in d or "lr" in d or "loss" in d
            if train:
                step = s
                self.last_step = s
                e = json_value(d.get("epoch"))
                self.last_epoch = e
            elif self.last_epoch is not None and self.last_step is not None and s == self.last_epoch:
                step = self.last_step
            else:
                step = s
            for key, raw in d.items():
                if key in SCALAR_SKIP or is_timing(key):
                    continue
                v = json_value(raw)
                if v is None:
                    continue
                metric = train_name(key) if train else val_name(key)
                out.name(metric, key)
                out.add(metric, step, v, first_line + i)
