"""Ultralytics YOLOv5 / YOLOv8 train.py console output.

A header `Epoch gpu_mem box obj cls labels img_size` (v8: `Epoch GPU_mem box_loss cls_loss dfl_loss
Instances Size`), then per epoch the final tqdm state `0/299  5.05G  0.06359  0.03304  0  0  1280:
100%|███| 213/213 [...]`, then `Class Images Labels P R mAP@.5 mAP@.5:.95` and an `all ...` row.

Step = epoch as printed (0-based). Columns are read by the header, so any loss set works. The
primary loss is ambiguous (only components are printed): each component is `train.<name>_loss`,
and `loss` is their sum (raw name `box+obj+cls`). `labels`/`img_size`/`Instances`/`Size` and
gpu_mem are not metrics. A bar short of 100% that got a line of its own is not an epoch result.
The `all` row after each epoch gives metrics.precision, .recall, .map_0.5, .map_0.5_0.95; a
final re-validation of best.pt (no epoch line before it) is not an epoch's point.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, parse_number

HEADER_RE = re.compile(r"^\s*Epoch\s+gpu_mem\s+(.*?)\s*$", re.IGNORECASE)
HEADER_DETECT_RE = re.compile(r"^[ \t]*Epoch[ \t]+(?:gpu_mem|GPU_mem|GPU_MEM)[ \t]", re.MULTILINE)
EPOCH_RE = re.compile(r"^\s*(\d+)/(\d+)\s+\S+\s+(.*)$")
PCT_RE = re.compile(r"(\d+)%\|")
ALL_RE = re.compile(r"^\s*all\s+\d+\s+\d+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
NOT_METRIC = {"labels", "img_size", "instances", "size"}
VAL_NAMES = (("metrics.precision", "P"), ("metrics.recall", "R"), ("metrics.map_0.5", "mAP@.5"),
             ("metrics.map_0.5_0.95", "mAP@.5:.95"))


class Yolov5ConsoleFormat(FormatParser):
    name = "yolov5_console"
    description = "Ultralytics YOLOv5/v8 train.py console (e/N gpu_mem box obj cls …: 100%|…; all P R mAP rows)"
    priority = 10

    def __init__(self) -> None:
        self.columns: list[tuple[str, str] | None] = []  # (metric, raw) per value column
        self.loss_raw = ""
        self.epoch: float | None = None
        self.val_pending = False

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        return 0.95 if "Epoch" in text and HEADER_DETECT_RE.search(text) else 0.0

    def _header(self, text: str) -> None:
        cols: list[tuple[str, str] | None] = []
        for raw in text.split():
            low = raw.lower()
            if low in NOT_METRIC:
                cols.append(None)
            else:
                cols.append(("train." + (low if low.endswith("_loss") else low + "_loss"), raw))
        self.columns = cols
        self.loss_raw = "+".join(c[1] for c in cols if c is not None)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "Epoch" in line:
                m = HEADER_RE.match(line)
                if m:
                    self._header(m.group(1))
                    continue
            if "/" in line and self.columns:
                m = EPOCH_RE.match(line)
                if m:
                    self._epoch(m, line, first_line + i, out)
                    continue
            if self.val_pending and "all" in line:
                m = ALL_RE.match(line)
                if m:
                    self.val_pending = False
                    for (metric, raw), tok in zip(VAL_NAMES, m.groups(), strict=True):
                        v = parse_number(tok)
                        if v is not None:
                            out.name(metric, raw)
                            out.add(metric, self.epoch, v, first_line + i)  # type: ignore[arg-type]

    def _epoch(self, m: re.Match, line: str, line_no: int, out: SampleBatch) -> None:
        rest = m.group(3)
        pct = PCT_RE.search(rest)
        if pct:
            if pct.group(1) != "100":
                return
            rest = rest[: pct.start()].rstrip().rstrip(":")
        values = [parse_number(t) for t in rest.split()]
        if len(values) < len(self.columns) or any(v is None for v in values[: len(self.columns)]):
            return
        step = float(m.group(1))
        self.epoch = step
        self.val_pending = True
        total = 0.0
        for col, v in zip(self.columns, values, strict=False):
            if col is None:
                continue
            out.name(col[0], col[1])
            out.add(col[0], step, v, line_no)  # type: ignore[arg-type]
            total += v  # type: ignore[operator]
        out.name("loss", self.loss_raw)
        out.add("loss", step, total, line_no)
