"""HuggingFace Trainer console output: the `{'loss': …, 'learning_rate': …, 'epoch': …}` dict lines.

The dicts sit between tqdm bars (often CRLF, sometimes glued after a bar fragment). Train dicts give
loss/lr/grad_norm/…; eval dicts (`eval_*`) give the val series (`eval_loss` → `val_loss`, other
`eval_x` → `val.x`). The step is the dict's 'step' where it has one, else its 'epoch' (the console
prints no global step). The final summary dict (`train_runtime`, `train_loss` = run mean) and the
'***** train metrics *****' block are not points; neither are timing keys (`*_runtime`,
`*_per_second`) nor config dicts printed by other code (no known training key).
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, clean_name

DICT_RE = re.compile(r"\{'[^{}\n]*\}")
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

    __slots__ = ("skip", "step_idx", "epoch_idx", "cols", "metrics", "raws")

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
        self.metrics = metrics
        self.raws = raws


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
        ms, ss, vs, ls = out.metrics, out.steps, out.values, out.lines
        plans = self.plans
        pos = 0
        line = first_line
        for m in DICT_RE.finditer(block):
            pairs = PAIR_RE.findall(m.group())
            if not pairs:
                continue
            keys = tuple([p[0] for p in pairs])
            plan = plans.get(keys)
            if plan is None:
                plan = plans[keys] = _Plan(keys)
                if not plan.skip:
                    for metric, raw in zip(plan.metrics, plan.raws, strict=True):
                        out.name(metric, raw)
            if plan.skip or not plan.cols:
                continue
            start = m.start()
            line += block.count("\n", pos, start)
            pos = start
            vals = [num(v.strip("' ")) for _, v in pairs]
            if plan.step_idx >= 0 and vals[plan.step_idx] is not None:
                step = vals[plan.step_idx]
            elif plan.epoch_idx >= 0 and vals[plan.epoch_idx] is not None:
                step = vals[plan.epoch_idx]
            else:
                step = None
            for c, metric in zip(plan.cols, plan.metrics, strict=True):
                v = vals[c]
                if v is None:
                    continue
                ms.append(metric)
                ss.append(step if step is not None else float(self.counter(metric)))
                vs.append(v)
                ls.append(line)
