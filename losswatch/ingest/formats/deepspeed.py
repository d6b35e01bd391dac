"""DeepSpeed engine logs plus the application's own loss lines (HelloDeepSpeed, DeepSpeedExamples).

Engine: `[Rank 0] step=10, skipped=10, lr=[0.0001], mom=[(0.9, 0.999)]` → lr (first group; other
groups `lr_pg1`, ...) and `skipped_steps` (DeepSpeed's cumulative counter) at step N;
timer: `global_step=10, RunningAvgSamplesPerSec=…, CurrSamplesPerSec=…` → throughput;
overflow: `OVERFLOW! Rank 0 Skipping step. Attempted loss scale: X, reducing to Y` → `loss_scale` = Y
(the `event.overflow` sample comes from the shared event scan). Application lines such as the
loguru `[Rank 0] Loss: 10.8719` carry no step: they get the last engine step.
The ds_config dump (`loss_scale ................... 0`) is configuration, not metrics.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._names import NUM
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.ingest.formats.megatron import has_iteration_lines
from losswatch.model import SampleBatch, parse_number

ENGINE_RE = re.compile(r"\[Rank -?\d+\] step=(\d+), skipped=(\d+), lr=\[([^\]]*)\]")
TIMER_RE = re.compile(r"global_step=(\d+), RunningAvgSamplesPerSec=(" + NUM + r"), CurrSamplesPerSec=(" + NUM + ")")
SCALE_RE = re.compile(r"Attempted loss scale: (" + NUM + r"), reducing to (" + NUM + ")")
_SEP = r"(?:\s*[:=]\s*|\s+)"
VAL_LOSS_RE = re.compile(r"(?<![\w/.])(?:val|valid|validation|eval|test)[ _]loss" + _SEP + "(" + NUM + r")(?![\w.])",
                         re.IGNORECASE)
LOSS_RE = re.compile(r"(?<![\w/.])(?:train[ _]|training[ _]|avg[ _])?loss" + _SEP + "(" + NUM + r")(?![\w.])",
                     re.IGNORECASE)
STEP_RE = re.compile(r"(?<![\w/.])(?:global_step|steps?|iteration|iter)\s*[:=]?\s*(\d+)(?![\w.])", re.IGNORECASE)
DETECT_STRONG = re.compile(r"\[Rank -?\d+\] step=\d+, skipped=\d+|OVERFLOW! Rank \d+ Skipping step")
WEAK_MARKERS = ("DeepSpeed info: version=", ":log_dist] ", "[deepspeed]")


class DeepSpeedFormat(FormatParser):
    name = "deepspeed"
    description = "DeepSpeed engine log (step=N, skipped=K, lr=[…]; OVERFLOW! …) + app 'Loss: X' lines"
    priority = 15

    def __init__(self) -> None:
        self.step: float | None = None
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        if has_iteration_lines(text):
            return 0.0  # Megatron-DeepSpeed: the Megatron lines carry the metrics
        if ("skipped=" in text or "OVERFLOW!" in text) and DETECT_STRONG.search(text):
            return 0.9
        return 0.3 if any(m in text for m in WEAK_MARKERS) else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            line_no = first_line + i
            if "step=" in line:
                m = ENGINE_RE.search(line)
                if m:
                    self.step = step = float(m.group(1))
                    self._add(out, "skipped_steps", "skipped", step, float(m.group(2)), line_no)
                    for k, tok in enumerate(m.group(3).split(",")):
                        v = parse_number(tok.strip())
                        if v is not None:
                            self._add(out, "lr" if k == 0 else f"lr_pg{k}", "lr", step, v, line_no)
                    continue
                m = TIMER_RE.search(line)
                if m:
                    self.step = step = float(m.group(1))
                    v = parse_number(m.group(3))
                    if v is not None:
                        self._add(out, "throughput", "CurrSamplesPerSec", step, v, line_no)
                    continue
            if "loss" not in line and "Loss" not in line and "LOSS" not in line:
                continue
            m = SCALE_RE.search(line)
            if m:
                v = parse_number(m.group(2))
                if v is not None:
                    self._add(out, "loss_scale", "loss scale", self._step("loss_scale"), v, line_no)
                continue
            if "....." in line or "[config.py" in line:
                continue
            m = VAL_LOSS_RE.search(line)
            metric = "val_loss"
            if not m:
                m = LOSS_RE.search(line)
                metric = "loss"
            if not m:
                continue
            v = parse_number(m.group(1))
            if v is None:
                continue
            s = STEP_RE.search(line)
            step = float(s.group(1)) if s else self._step(metric)
            self._add(out, metric, m.group(0)[: m.start(1) - m.start(0)].rstrip(" :="), step, v, line_no)

    def _step(self, metric: str) -> float:
        return self.step if self.step is not None else float(self.counter(metric))

    @staticmethod
    def _add(out: SampleBatch, metric: str, raw: str, step: float, v: float, line_no: int) -> None:
        out.name(metric, raw)
        out.add(metric, step, v, line_no)
