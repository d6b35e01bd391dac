"""Karpathy's build-nanogpt: its `log.txt` ("<step> train|val|hella <value>") and its stdout
("step N | loss: X | lr Y | norm: Z | dt: …ms | tok/sec: …", "validation loss: X",
"HellaSwag accuracy: a/b=X").

The stdout's validation and HellaSwag lines carry no step: they are printed at the start of step N,
before step N's own line, so they take the step after the last step line (0 before any).
Sample generations ("rank 0 sample 1: Hello, I'm a language model, …") are text, not data.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

TXT_RE = re.compile(r"^(\d+) (train|val|hella) (" + NUM + r")\s*$")
STEP_RE = re.compile(
    r"^step\s+(\d+) \| loss: (" + NUM + r") \| lr (" + NUM + r") \| norm: (" + NUM + r")"
    r"(?: \| dt: (" + NUM + r")ms)?(?: \| tok/sec: (" + NUM + r"))?"
)
VAL_RE = re.compile(r"^validation loss: (" + NUM + r")\s*$")
HELLA_RE = re.compile(r"^HellaSwag accuracy: \d+/\d+=(" + NUM + r")\s*$")
BANNER_RE = re.compile(r"^(?:total desired batch size: \d+|=> calculated gradient accumulation steps: \d+)")
TXT_NAMES = {"train": "loss", "val": "val_loss", "hella": "hellaswag"}
STEP_METRICS = (("loss", "loss"), ("lr", "lr"), ("grad_norm", "norm"), ("dt_ms", "dt"), ("throughput", "tok/sec"))


class BuildNanoGPTFormat(FormatParser):
    name = "build_nanogpt"
    description = "build-nanogpt log.txt '<step> train|val|hella <v>' and stdout 'step N | loss: … | lr …'"
    priority = 10

    def __init__(self) -> None:
        self.step: float | None = None

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        txt = banner = 0
        for ln in lines[:2000]:
            if ln.startswith("step ") and STEP_RE.match(ln):
                return 1.0
            if TXT_RE.match(ln):
                txt += 1
                if txt >= 3:
                    return 0.9
            elif BANNER_RE.match(ln) or HELLA_RE.match(ln):
                banner += 1
        return 0.45 if banner >= 2 else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            c = line[:1]
            if c.isdigit():
                m = TXT_RE.match(line)
                if m:
                    v = num(m.group(3))
                    if v is not None:
                        metric = TXT_NAMES[m.group(2)]
                        out.name(metric, m.group(2))
                        out.add(metric, float(m.group(1)), v, first_line + i)
            elif c == "s":
                m = STEP_RE.match(line)
                if m:
                    self.step = step = float(m.group(1))
                    for (metric, raw), val in zip(STEP_METRICS, m.groups()[1:], strict=True):
                        v = num(val) if val is not None else None
                        if v is not None:
                            out.name(metric, raw)
                            out.add(metric, step, v, first_line + i)
            elif c in ("v", "H"):
                m = VAL_RE.match(line) or HELLA_RE.match(line)
                if m:
                    v = num(m.group(1))
                    if v is not None:
                        metric = "val_loss" if c == "v" else "hellaswag"
                        out.name(metric, "validation loss" if c == "v" else "HellaSwag accuracy")
                        out.add(metric, 0.0 if self.step is None else self.step + 1, v, first_line + i)
