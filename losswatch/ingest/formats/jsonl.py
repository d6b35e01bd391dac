"""Generic JSON lines: one JSON object per line (LLaMA-Factory trainer_log.jsonl, custom loggers).

Step = the first of `step`, `global_step`, `_step` (wandb history), `current_steps`, `iteration`,
`iter`, `num_updates`, `epoch` that the record has; else a per-metric counter. Every other numeric value (numbers or
numeric strings; NaN/Infinity as Python's json reads them) is a metric under its canonical name;
timings, ETAs and progress fields (percentage, total_steps) are not. A record without a loss (the
end-of-training record) simply gives no loss point. A nested object is read one level deep with
dotted names (`{"train": {"loss": 1.2}}` → `train.loss` → `loss`). A JSON *document* spread over many lines
(trainer_state.json) is not JSON lines and is not claimed.
"""

from __future__ import annotations

from losswatch.ingest.formats._names import is_timing, json_object, json_value, train_name
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch

STEP_KEYS = ("step", "global_step", "_step", "current_steps", "iteration", "iter", "num_updates", "epoch")
SKIP = {"total_steps", "percentage", "total_tokens", "n_parameters", "timestamp", "time", "_runtime", "_timestamp",
        "_wandb"}
LOSSY = ("loss", "lr", "learning_rate", "acc", "accuracy") + STEP_KEYS


class JsonLinesFormat(FormatParser):
    name = "jsonl"
    description = "generic JSON lines, one object per line with a step and metrics (LLaMA-Factory trainer_log.jsonl)"
    priority = -10

    def __init__(self) -> None:
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        objects = other = 0
        for ln in lines[:20]:
            if not ln.strip():
                continue
            d = json_object(ln)
            if d is None:
                other += 1
                continue
            if any(k in d for k in LOSSY) and any(json_value(v) is not None for v in d.values()):
                objects += 1
        if objects and objects >= other:
            return 0.55
        return 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "{" not in line:
                continue
            d = json_object(line)
            if d is None:
                continue
            step_key = next((k for k in STEP_KEYS if k in d and json_value(d[k]) is not None), None)
            step = json_value(d[step_key]) if step_key else None
            for key, raw in d.items():
                if key == step_key or key in SKIP or is_timing(key):
                    continue
                if isinstance(raw, dict):
                    for sub, raw2 in raw.items():
                        self._add(f"{key}.{sub}", raw2, step, first_line + i, out)
                else:
                    self._add(key, raw, step, first_line + i, out)

    def _add(self, key: str, raw: object, step: float | None, line_no: int, out: SampleBatch) -> None:
        if is_timing(key):
            return
        v = json_value(raw)
        if v is None:
            return
        metric = train_name(key)
        out.name(metric, key)
        out.add(metric, step if step is not None else float(self.counter(metric)), v, line_no)
