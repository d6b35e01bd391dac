"""detectron2 logs: the text log (console / output/log.txt) and output/metrics.json JSON lines.

Text: CommonMetricPrinter lines `eta: 3:30:43  iter: 19  total_loss: 156.1  loss_cls: 144.7 ...
time: 0.6774  data_time: 0.3745  lr: 2.5373e-05  max_mem: 11810M` (step = iter; total_loss is the
loss; time/eta/max_mem are not metrics), and the evaluator's `copypaste:` lines
(`Task: bbox`, `AP,AP50,...`, `0.0103,0.0457,...`) → `val.bbox.ap`, `val.bbox.ap50`, ... at the last
iter. Per-category AP tables are not read (a category called 'banana' is not a NaN).

Hard-wrapped metric lines (a terminal or a log shipper breaking long lines at a fixed width, e.g.
`… total_loss: 11.3` / `2  loss_cls: 9.551 …`): a metric line is complete when it ends with its
last field, `max_mem: NM` (or `lr: x` in a log that never shows max_mem). An incomplete one is held;
the lines after it that start no new record (not `[` nor blank) are its continuation, joined back
as they were cut (no separator), and the record is read when complete or when a new record starts,
at the line where it began. So a value cut in two is never read as its first half.
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
from losswatch.model import SampleBatch, parse_number

ITER_RE = re.compile(r"\biter: (\d+)\s+(.*)")
PAIR_RE = re.compile(r"(\S+): (\S+)")
COPYPASTE_RE = re.compile(r"copypaste: (.*?)\s*$")
PREFIX_RE = re.compile(r"^\[\d\d/\d\d \d\d:\d\d:\d\d[^\]\n]*\]\s*(?:d2|detectron2|fvcore)\b"
                       r"|^\[\d\d/\d\d \d\d:\d\d:\d\d (?:d2|detectron2|fvcore)[\w.]*\]:", re.MULTILINE)
DETECT_RE = re.compile(r"\biter: \d+\s+total_loss: ")
MEM_END_RE = re.compile(r"max_mem: \d+M\s*$")
LR_END_RE = re.compile(r"\blr: [-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)\s*$")
RECORD_RE = re.compile(r"(?:^|\s)(?:eta: |iter: )")
EVAL_TASKS = ("bbox/", "segm/", "keypoints/", "sem_seg/", "panoptic_seg/")


class Detectron2Format(FormatParser):
    name = "detectron2"
    description = "detectron2 text log (iter: N  total_loss: …  lr: …; copypaste AP lines)"
    priority = 10

    def __init__(self) -> None:
        self.step = 0.0
        self.task = ""
        self.header: list[str] = []
        self.has_mem = False  # the log's metric lines end with max_mem (not lr)
        self.partial: tuple[str, int] | None = None  # a hard-wrapped metric line waiting for its rest

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        if "total_loss: " in text and DETECT_RE.search(text):
            return 0.95
        prefix = 0
        for ln in lines:
            if ln.startswith("[") and PREFIX_RE.match(ln):
                prefix += 1
                if prefix >= 2:
                    return 0.8
        return 0.4 if prefix else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if self.partial is not None:
                if line.strip() and not line.startswith("["):  # the rest of a wrapped metric line
                    text, at = self.partial
                    self.partial = None
                    self._record(text + line, at, out)
                    continue
                text, at = self.partial
                self.partial = None
                self._metrics(text, at, out)  # a new record starts: read what there is
            if "eta: " in line or "iter: " in line:
                if RECORD_RE.search(line) and not MEM_END_RE.search(line):
                    self._record(line, first_line + i, out)
                    continue
                self._metrics(line, first_line + i, out)
                continue
            if "copypaste: " in line:
                self._copypaste(line, first_line + i, out)

    def finish(self, out: SampleBatch) -> None:
        """End of a finished log: a metric line still waiting for its rest is read as it is."""
        if self.partial is not None:
            text, at = self.partial
            self.partial = None
            self._metrics(text, at, out)

    def _record(self, text: str, line_no: int, out: SampleBatch) -> None:
        """A metric line that may be cut: read it if complete, else hold it for its continuation."""
        if MEM_END_RE.search(text) or (not self.has_mem and "max_mem" not in text and LR_END_RE.search(text)):
            self._metrics(text, line_no, out)
        else:
            self.partial = (text, line_no)

    def _metrics(self, line: str, line_no: int, out: SampleBatch) -> None:
        m = ITER_RE.search(line)
        if m and "loss" in line:
            if not self.has_mem and "max_mem: " in line:
                self.has_mem = True
            self.step = float(m.group(1))
            add_pairs(PAIR_RE, m.group(2), self.step, line_no, out, val=False)

    def _copypaste(self, line: str, line_no: int, out: SampleBatch) -> None:
        m = COPYPASTE_RE.search(line)
        if not m:
            return
        text = m.group(1)
        if text.startswith("Task: "):
            self.task = text[6:].strip()
            self.header = []
            return
        fields = text.split(",")
        values = [parse_number(f) for f in fields]
        if any(v is None for v in values):
            self.header = [f.strip() for f in fields]
            return
        if len(values) != len(self.header):
            return
        for key, v in zip(self.header, values, strict=True):
            raw = f"{self.task}/{key}" if self.task else key
            metric = val_name(raw)
            out.name(metric, raw)
            out.add(metric, self.step, v, line_no)  # type: ignore[arg-type]


class Detectron2MetricsFormat(FormatParser):
    """detectron2 JSONWriter `metrics.json`: one object per line, `iteration` is the step.

    Evaluation records (`bbox/AP`, `segm/AP50`, ...) are validation metrics (`val.bbox.ap`).
    """

    name = "detectron2_metrics"
    description = "detectron2 output/metrics.json JSON lines ({\"iteration\": N, \"total_loss\": …})"
    priority = 10

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        hits = 0
        for ln in lines[:200]:
            if '"iteration"' not in ln:
                continue
            d = json_object(ln)
            if d is None or "iteration" not in d:
                continue
            if "total_loss" in d or any(k.startswith(EVAL_TASKS) for k in d):
                hits += 1
                if hits >= 2:
                    return 0.95
        return 0.7 if hits else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if '"iteration"' not in line:
                continue
            d = json_object(line)
            if d is None:
                continue
            step = json_value(d.get("iteration"))
            if step is None:
                continue
            for key, raw in d.items():
                if key == "iteration" or is_timing(key):
                    continue
                v = json_value(raw)
                if v is None:
                    continue
                metric = val_name(key) if key.startswith(EVAL_TASKS) else train_name(key)
                out.name(metric, key)
                out.add(metric, step, v, first_line + i)
