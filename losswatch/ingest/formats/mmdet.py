"""mmdetection 2.x / mmcv `TextLoggerHook` logs: the text `.log` and the `.log.json` JSON lines.

Text: `Epoch [e][i/N]\\tlr: 1.0e-02, eta: 9:34:17, time: 0.767, data_time: 0.419, memory: 3718,
loss_rpn_cls: 0.3487, ..., acc: 94.1870, loss_bbox: 0.0593, loss: 0.8263` and, after each epoch,
`Epoch(val) [e][N]\\tbbox_mAP: 0.0870, ...` (empty after the tab when the evaluation found nothing).
`IterBasedRunner` prints `Iter [i/N]` and `Iter(val) [i]` instead.

Step = the global iteration (e-1)·N + i; an `Epoch(val) [e][…]` result goes at the end of epoch e
(e·N; its bracket holds N, or the val loader's length in a ('val', 1) workflow).
eta, time, data_time and memory are not metrics.
The JSON lines (`{"mode": "train", "epoch": 1, "iter": 50, ...}`) do not carry N: there the
epoch length is learnt from the previous epoch (its `val` record's iter, else its last train iter),
which is exact whenever the logging interval divides the epoch length.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._names import add_pairs as _add_pairs
from losswatch.ingest.formats._names import is_timing, json_object, json_value, train_name, val_name
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

TRAIN_RE = re.compile(r"\bEpoch \[(\d+)\]\[(\d+)/(\d+)\]\s*(.*)")
VAL_RE = re.compile(r"\bEpoch\((?:val|test)\) \[(\d+)\]\[(\d+)\]\s*(.*)")
ITER_RE = re.compile(r"\bIter \[(\d+)/(\d+)\]\s*(.*)")
ITER_VAL_RE = re.compile(r"\bIter\((?:val|test)\) \[(\d+)\]\s*(.*)")
PAIR_RE = re.compile(r"([A-Za-z_][\w./-]*): ([^,]+)")
DETECT_RES = (re.compile(r"Epoch \[\d+\]\[\d+/\d+\]\s*lr: "), re.compile(r"Iter \[\d+/\d+\]\s*lr: "),
              re.compile(r"Epoch\(val\) \[\d+\]\[\d+\]"))


def add_pairs(text: str, step: float, line_no: int, out: SampleBatch, val: bool) -> None:
    """mmcv's `key: value, key: value` pairs → samples."""
    _add_pairs(PAIR_RE, text, step, line_no, out, val)


class MmdetFormat(FormatParser):
    name = "mmdet"
    description = "mmdetection 2.x / mmcv TextLoggerHook text log (Epoch [e][i/N] lr: …, loss: …)"
    priority = 10

    def __init__(self) -> None:
        self.epoch_len = 0
        self.last_step = 0.0

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        hits = 0
        if "Epoch" in text or "Iter" in text:
            for rx in DETECT_RES:
                hits += len(rx.findall(text)[:2])
        if hits >= 2:
            return 0.95
        if hits:
            return 0.7
        return 0.3 if " - mmdet - " in text else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "Epoch" in line:
                m = TRAIN_RE.search(line)
                if m:
                    e, it, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
                    self.epoch_len = n
                    self.last_step = step = float((e - 1) * n + it)
                    add_pairs(m.group(4), step, first_line + i, out, val=False)
                    continue
                m = VAL_RE.search(line)
                if m:
                    e, it = int(m.group(1)), int(m.group(2))
                    step = float(e * (self.epoch_len or it))  # the end of epoch e
                    add_pairs(m.group(3), step, first_line + i, out, val=True)
                    continue
            if "Iter" in line:
                m = ITER_RE.search(line)
                if m:
                    self.last_step = float(m.group(1))
                    add_pairs(m.group(3), self.last_step, first_line + i, out, val=False)
                    continue
                m = ITER_VAL_RE.search(line)
                if m:
                    add_pairs(m.group(2), float(m.group(1)), first_line + i, out, val=True)


JSON_SKIP = {"mode", "epoch", "iter", "env_info", "config", "seed", "exp_name", "hook_msgs"}


class MmdetJsonFormat(FormatParser):
    name = "mmdet_json"
    description = "mmdetection 2.x / mmcv TextLoggerHook .log.json JSON lines ({\"mode\": \"train\", …})"
    priority = 10

    def __init__(self) -> None:
        self.offset = 0  # iterations in the epochs before the current one
        self.epoch = 0
        self.epoch_end = 0  # iters of the current epoch known so far (val iter, else last train iter)
        self.iter_based = False

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = 0
        for ln in lines[:200]:
            if '"mode"' in ln and '"iter"' in ln:
                d = json_object(ln)
                if d is not None and d.get("mode") in ("train", "val") and "iter" in d:
                    hits += 1
                    if hits >= 2:
                        return 0.95
        return 0.7 if hits else 0.0

    def _step(self, d: dict) -> float:
        it = json_value(d.get("iter"))
        e = json_value(d.get("epoch"))
        if it is None:
            return float(self.offset + self.epoch_end)
        if e is None:  # IterBasedRunner: iter is global
            return it
        e = int(e)
        if e != self.epoch:
            if self.epoch and e > self.epoch:
                self.offset += self.epoch_end
            self.epoch = e
            self.epoch_end = 0
        # a val record's iter is the train epoch's length (EvalHook) or the val loader's length
        # (a ('val', 1) workflow): either way the evaluation belongs at the end of the epoch so far
        self.epoch_end = max(self.epoch_end, int(it))
        return float(self.offset + (self.epoch_end if d.get("mode") != "train" else it))

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if '"mode"' not in line:
                continue
            d = json_object(line)
            if d is None or d.get("mode") not in ("train", "val", "test"):
                continue
            val = d["mode"] != "train"
            step = self._step(d)
            for key, raw in d.items():
                if key in JSON_SKIP or is_timing(key):
                    continue
                if val and key == "lr":
                    continue  # the val record repeats the lr of the last train record
                v = json_value(raw)
                if v is None:
                    continue
                metric = val_name(key) if val else train_name(key)
                out.name(metric, key)
                out.add(metric, step, v, first_line + i)
