"""HuggingFace `trainer_state.json`: the `log_history` list of the Trainer's logged dicts.

The file is one pretty-printed JSON document (`json.dump(indent=2)`), fed in blocks of lines while
it is written, so it is read line by line: each `log_history` entry `{ … }` is collected, then
turned into samples when its closing brace arrives. A sample's line is the line of its key. Steps
are the entry's 'step'; `eval_*` entries give the val series; `predict_*` entries have no step and
take the last step seen; the final summary entry (`train_runtime`, `train_loss` = run mean) is not
a point. The Trainer rewrites the whole file at each checkpoint: entries already read (by position
in `log_history`) are not read again when the parser is rewound (`rewind`). A compact document
(written without indent) is buffered until it parses, and its entries get the line where it ends.
"""

from __future__ import annotations

import json
import re

from losswatch.ingest.formats._text import num
from losswatch.ingest.formats.base import FormatParser
from losswatch.ingest.formats.hf_trainer import hf_metric
from losswatch.model import SampleBatch

KEY_RE = re.compile(r'^\s*"([^"]+)":\s*(.*?),?\s*$')


class HFTrainerStateFormat(FormatParser):
    name = "hf_trainer_state"
    description = "HuggingFace trainer_state.json (log_history entries)"
    priority = 20

    def __init__(self) -> None:
        self.in_history = False
        self.entry: list[tuple[str, str, int]] | None = None
        self.index = 0  # position in log_history of the next entry
        self.done = 0  # entries already turned into samples (kept across a rewrite)
        self.step: float | None = None
        self.compact: list[str] | None = None  # a document without indent, until it parses

    def rewind(self) -> None:
        """The file was rewritten from the start: read it again without repeating entries."""
        self.in_history = False
        self.entry = None
        self.index = 0
        self.compact = None

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        head = lines[:200]
        if any('"log_history": [' in ln for ln in head):
            return 1.0
        keys = sum(1 for ln in head if ln.lstrip().startswith(
            ('"best_metric"', '"best_model_checkpoint"', '"global_step"', '"is_world_process_zero"')))
        return 0.9 if keys >= 2 else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if not self.in_history and self.compact is None and '"log_history"' not in block:
            return
        for i, line in enumerate(block.split("\n")):
            s = line.strip()
            if self.compact is not None or ('"log_history": [{' in s or '"log_history":[{' in s):
                self._compact(line, first_line + i, out)
            elif self.entry is not None:
                if s.startswith("}"):
                    self._entry(self.entry, out)
                    self.entry = None
                    continue
                m = KEY_RE.match(line)
                if m:
                    self.entry.append((m.group(1), m.group(2), first_line + i))
            elif self.in_history:
                if s == "{":
                    self.entry = []
                elif s.startswith("]"):
                    self.in_history = False
            elif s.startswith('"log_history": ['):
                self.in_history = not s.endswith("]") and not s.endswith("],")

    def _compact(self, line: str, line_no: int, out: SampleBatch) -> None:
        buf = self.compact = (self.compact or []) + [line]
        if sum(map(len, buf)) > 64 << 20:  # not JSON after all: give up on this document
            self.compact = None
            return
        try:
            doc = json.loads("\n".join(buf))
        except ValueError:
            return
        self.compact = None
        history = doc.get("log_history") if isinstance(doc, dict) else None
        for item in history if isinstance(history, list) else []:
            if isinstance(item, dict):
                self._entry([(str(k), json.dumps(v), line_no) for k, v in item.items()], out)

    def _entry(self, entry: list[tuple[str, str, int]], out: SampleBatch) -> None:
        index = self.index
        self.index += 1
        keys = {k: v for k, v, _ in entry}
        step = num(keys["step"]) if "step" in keys else None
        if step is not None:
            self.step = step
        if index < self.done:
            return
        self.done = index + 1
        if "train_runtime" in keys:
            return  # the run summary: train_loss there is the mean of the run
        if step is None:
            step = self.step if self.step is not None else num(keys.get("epoch", "nan"))
        is_train = "loss" in keys
        for key, val, line in entry:
            if key == "epoch":
                if not is_train:
                    continue
                metric: str | None = "epoch"
            else:
                metric = hf_metric(key)
            if metric is None:
                continue
            v = num(val)
            if v is None:
                continue
            out.name(metric, key)
            out.add(metric, step, v, line)
