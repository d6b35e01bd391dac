"""Megatron-LM (and Megatron-DeepSpeed) training stdout.

`iteration 20/ 1000 | consumed samples: 80 | elapsed time per iteration (ms): 1572.7 | learning
rate: 3.750E-05 | global batch size: 4 | lm loss: 1.210588E+01 | loss scale: 32768.0 | grad norm:
3.7 | number of skipped iterations: 8 | number of nan iterations: 0 |` and
`validation loss at iteration 100 | lm loss value: 8.095942E+00 | lm loss PPL: 3.28E+03 |`.

Step = iteration. An iteration line whose steps were all skipped prints no `lm loss`: it gives no
loss point (never a made-up one). `number of skipped iterations` > 0 is the fp16 overflow
evidence (Megatron prints no overflow message): it is kept as the `skipped_iterations` series and
each such line also gives an `event.overflow` sample — unless the log prints its own overflow
messages (Megatron-DeepSpeed's `OVERFLOW! ... Skipping step`), which the shared event scan counts.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._names import val_name
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, canonical_name, clean_name, parse_number

ITER_RE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?iteration\s+(\d+)\s*/\s*(\d+)\s*\|(.*)")
VAL_RE = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?validation loss (?:at iteration (\d+))?([^|]*)\|(.*)")
ITER_DETECT_RE = re.compile(r"iteration\s+\d+\s*/\s*\d+\s*\|")
MARKERS = ("------ arguments ------", "> building ", "using world size:", "megatron", "Megatron")
SKIP_WORDS = ("time", "consumed", "batch size")
NAMES = {"number of skipped iterations": "skipped_iterations", "number of nan iterations": "nan_iterations"}


def has_iteration_lines(text: str) -> bool:
    """True when a Megatron `iteration N/ M |` line is among these '\\n'-joined lines."""
    return "iteration" in text and ITER_DETECT_RE.search(text) is not None


class MegatronFormat(FormatParser):
    name = "megatron"
    description = "Megatron-LM stdout (iteration N/ M | learning rate: … | lm loss: … | loss scale: …)"
    priority = 20

    def __init__(self) -> None:
        self.step = 0.0
        self.explicit_overflow = False

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        if "iteration" in text and ITER_DETECT_RE.search(text):
            return 0.95
        return 0.4 if any(m in text for m in MARKERS) else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if not self.explicit_overflow and ("OVERFLOW!" in block or "Gradient overflow" in block):
            self.explicit_overflow = True
        for i, line in enumerate(block.split("\n")):
            if "iteration" not in line:
                continue
            m = ITER_RE.match(line)
            if m:
                self.step = step = float(m.group(1))
                self._fields(m.group(3), step, first_line + i, out, None)
                continue
            m = VAL_RE.match(line)
            if m:
                if m.group(1):
                    self.step = float(m.group(1))
                kind = "test" if "test" in m.group(2) else "val"
                self._fields(m.group(3), self.step, first_line + i, out, kind)

    def _fields(self, text: str, step: float, line_no: int, out: SampleBatch, kind: str | None) -> None:
        for field in text.split("|"):
            key, sep, raw = field.rpartition(":")
            if not sep:
                continue
            key = key.strip()
            if any(w in key for w in SKIP_WORDS):
                continue
            v = parse_number(raw.strip())
            if v is None:
                continue
            if kind is None:
                metric = NAMES.get(key) or canonical_name(key)
            else:
                base = key[:-6] if key.endswith(" value") else key
                if kind == "val":
                    metric = val_name(base)
                else:
                    c = canonical_name(base)
                    metric = "test_loss" if c == "loss" else "test." + clean_name(base)
            out.name(metric, key)
            out.add(metric, step, v, line_no)
            if metric == "skipped_iterations" and v > 0 and not self.explicit_overflow:
                out.name("event.overflow", "event.overflow")
                out.add("event.overflow", step, 1.0, line_no)
