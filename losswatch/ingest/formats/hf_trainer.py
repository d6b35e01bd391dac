"""HuggingFace Trainer console output: the `{'loss': …, 'learning_rate': …, 'epoch': …}` dict lines.

The dicts sit between tqdm bars (often CRLF, sometimes glued after a bar fragment). Train dicts give
loss/lr/grad_norm/…; eval dicts (`eval_*`) give the val series (`eval_loss` → `val_loss`, other
`eval_x` → `val.x`). The step is the dict's 'step' where it has one, else its 'epoch' (the console
prints no global step). The final summary dict (`train_runtime`, `train_loss` = run mean) and the
'***** train metrics *****' block are not points; neither are timing keys (`*_runtime`,
`*_per_second`) nor config dicts printed by other code (no known training key).

Speed: a dict's key sequence is parsed once into a `_Plan` with a compiled regex for exactly that
sequence; later dicts of the same shape are one regex match each, and runs of them are turned into
samples column-wise.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, emit_rows, floats
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, clean_name

PAIR_RE = re.compile(r"'([^'\n]+)': ([^,}]+)")
DETECT_RE = re.compile(r"\{'(?:loss|eval_loss|eval_\w+|train_runtime|learning_rate|grad_norm)': " + NUM)
BANNER_RE = re.compile(r"\*\*\*\*\* Running (?:training|Evaluation) \*\*\*\*\*")
SKIP_SUFFIX = ("_runtime", "_per_second", "total_flos")
KNOWN = frozenset(("loss", "learning_rate", "grad_norm", "epoch", "step"))


def hf_metric(key: str) -> str | None:
    """Canonical name of a Trainer log key, None for keys that are not series (timings, counters)."""
    if key.endswith(SKIP_SUFFIX) or key in ("step", "epoch"):
        return None
    if key.startswith("eval_"):
        c = canonical_name(key)
        if c in ("val_loss", "val_acc"):
            return c
        return "val." + clean_name(key[5:])
    return canonical_name(key)


class _Plan:
    """How to turn a dict with a given key sequence into samples (computed once per key sequence)."""

    __slots__ = ("skip", "step_idx", "epoch_idx", "cols", "metrics", "raws", "rx")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.skip = "train_runtime" in keys or not (KNOWN.intersection(keys) or any(
            k.startswith("eval_") for k in keys))
        self.step_idx = keys.index("step") if "step" in keys else -1
        self.epoch_idx = keys.index("epoch") if "epoch" in keys else -1
        cols, metrics, raws = [], [], []
        for i, k in enumerate(keys):
            m = hf_metric(k)
            if m is not None:
                cols.append(i)
                metrics.append(m)
                raws.append(k)
        if self.step_idx >= 0 and self.epoch_idx >= 0:
            cols.append(self.epoch_idx)
            metrics.append("epoch")
            raws.append("epoch")
        self.cols = cols
        self.metrics = tuple(metrics)
        self.raws = raws
        self.rx = re.compile(r"\{" + ", ".join("'" + re.escape(k) + r"': '?([^,}']*)'?" for k in keys) + r"\}")


class HFTrainerFormat(FormatParser):
    name = "hf_trainer"
    description = "HuggingFace Trainer stdout: {'loss': …, 'learning_rate': …, 'epoch': …} dict lines"
    priority = 10

    def __init__(self) -> None:
        self.plans: dict[tuple[str, ...], _Plan] = {}
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        banner = False
        for ln in lines[:2000]:
            if "{'" in ln and DETECT_RE.search(ln):
                return 1.0
            if not banner and "*****" in ln and BANNER_RE.search(ln):
                banner = True
        return 0.4 if banner else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "{'" not in block:
            return
        plan: _Plan | None = None
        rows: list[tuple] = []
        row_lines: list[int] = []
        for i, line in enumerate(block.split("\n")):
            if "{'" not in line:
                continue
            pos = 0 if line[:2] == "{'" else line.find("{'")
            m = plan.rx.match(line, pos) if plan is not None else None
            if m is None:
                new = self._plan(line, pos, out)
                if new is None:
                    continue
                m = new.rx.match(line, pos)
                if m is None:
                    continue
                if new is not plan:
                    self._flush(plan, rows, row_lines, out)
                    plan, rows, row_lines = new, [], []
            if not plan.skip:
                rows.append(m.groups())
                row_lines.append(first_line + i)
        self._flush(plan, rows, row_lines, out)

    def _plan(self, line: str, pos: int, out: SampleBatch) -> _Plan | None:
        end = line.find("}", pos)
        if end < 0:
            return None
        pairs = PAIR_RE.findall(line, pos, end + 1)
        if not pairs:
            return None
        keys = tuple([k for k, _ in pairs])
        plan = self.plans.get(keys)
        if plan is None:
            plan = self.plans[keys] = _Plan(keys)
        return plan

    def _flush(self, plan: _Plan | None, rows: list[tuple], row_lines: list[int], out: SampleBatch) -> None:
        if plan is None or not rows or not plan.cols:
            return
        cols = list(zip(*rows, strict=True))
        if plan.step_idx >= 0:
            steps = floats(cols[plan.step_idx])
        elif plan.epoch_idx >= 0:
            steps = floats(cols[plan.epoch_idx])
        else:
            steps = None
        if steps is None or None in steps:
            base = steps or [None] * len(rows)
            steps = [s if s is not None else float(self.counter(plan.metrics[0])) for s in base]
        values = [floats(cols[c]) for c in plan.cols]
        emit_rows(out, plan.metrics, steps, values, row_lines)
        for metric, raw in zip(plan.metrics, plan.raws, strict=True):
            out.name(metric, raw)
