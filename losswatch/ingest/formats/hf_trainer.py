"""HuggingFace Trainer console output: the `{'loss': …, 'learning_rate': …, 'epoch': …}` dict lines.

The dicts sit between tqdm bars (often CRLF, sometimes glued after a bar fragment). Train dicts give
loss/lr/grad_norm/…; eval dicts (`eval_*`) give the val series (`eval_loss` → `val_loss`, other
`eval_x` → `val.x`). The step is the dict's 'step' where it has one, else its 'epoch' (the console
prints no global step). The final summary dict (`train_runtime`, `train_loss` = run mean) and the
'***** train metrics *****' block are not points; neither are timing keys (`*_runtime`,
`*_per_second`) nor config dicts printed by other code (no known training key).

Speed (a 1M-line log is mostly dicts of one shape): a dict's key sequence is parsed once into a
`_Plan` with a regex for exactly that sequence. In a block, the lines of the usual shape (`main`)
are matched by one `findall` over them all and converted column-wise; only dicts of other shapes
(eval, glued after a bar) are read one by one, and merged back in line order.
"""

from __future__ import annotations

import re
from itertools import chain, compress, repeat
from operator import add, contains, not_

from losswatch.ingest import rowscan
from losswatch.ingest.formats._text import (
    NUM,
    column_floats,
    drop_columns,
    emit_rows,
    floats,
    interleave,
    merge_rows,
)
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, clean_name

PAIR_RE = re.compile(r"'([^'\n]+)': ([^,}]+)")
DETECT_RE = re.compile(r"\{'(?:loss|eval_loss|eval_\w+|train_runtime|learning_rate|grad_norm)': '?" + NUM)
BANNER_RE = re.compile(r"\*\*\*\*\* Running (?:training|Evaluation) \*\*\*\*\*")
SKIP_SUFFIX = ("_runtime", "_per_second", "total_flos")
KNOWN = frozenset(("loss", "learning_rate", "grad_norm", "epoch", "step"))
VALUE = r"'?([^,}'\n]*)'?"


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

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.skip = "train_runtime" in keys or not (KNOWN.intersection(keys) or any(
            k.startswith("eval_") for k in keys))
        self.width = len(keys)
        self.step_idx = keys.index("step") if "step" in keys else (keys.index("epoch") if "epoch" in keys else -1)
        cols, metrics, raws = [], [], []
        for i, k in enumerate(keys):
            m = "epoch" if k == "epoch" and "step" in keys else hf_metric(k)
            if m is not None:
                cols.append(i)
                metrics.append(m)
                raws.append(k)
        self.cols = cols
        self.drop_desc = [i for i in reversed(range(len(keys))) if i not in cols]
        self.metrics = tuple(metrics)
        self.raws = raws
        body = r"\{" + ", ".join("'" + re.escape(k) + "': " + VALUE for k in keys) + r"\}"
        self.rx = re.compile(body)
        self.rx_lines = re.compile("^" + body + "$", re.MULTILINE)
        self.prefix = "{'" + keys[0] + "': "
        # for the native scanner: the dict with every value a plain number (what rx reads the same way)
        self.template: rowscan.Template | None = None
        if all(k.isascii() for k in keys):
            items: list[str | int] = []
            for i, k in enumerate(keys):
                items += [("{'" if i == 0 else ", '") + k + "': ", rowscan.NUM]
            self.template = (*items, "}")


def _samples(plan: _Plan, steps: list[float], vals: list[float], idx: list[int],
             first_line: int) -> tuple[list, list, list, list]:
    """(metrics, steps, values, lines) of rows of `plan` at block lines `idx`, row by row as `_emit`
    adds them; `vals` holds the rows' sample values row-major."""
    k = len(plan.cols)
    line_nos = list(map(add, idx, repeat(first_line)))
    if k == 1:
        return list(plan.metrics) * len(idx), steps, vals, line_nos
    return list(plan.metrics) * len(idx), interleave([steps] * k), vals, interleave([line_nos] * k)


class HFTrainerFormat(FormatParser):
    name = "hf_trainer"
    description = "HuggingFace Trainer stdout: {'loss': …, 'learning_rate': …, 'epoch': …} dict lines"
    priority = 10

    def __init__(self) -> None:
        self.plans: dict[tuple[str, ...], _Plan] = {}
        self.main: _Plan | None = None  # the shape most dicts have: matched all at once
        self.second: _Plan | None = None  # the next most common (eval dicts): matched all at once too
        self.seen: dict[_Plan, int] = {}  # dicts read, per shape
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
        if self.main is None or not self._scan(block, first_line, out):
            self._parse_python(block, first_line, out)
        ranked = sorted(self.seen, key=self.seen.__getitem__, reverse=True)  # stable: ties keep first seen
        if ranked and ranked[0] is not self.main:
            self.main = ranked[0]
        self.second = next((p for p in ranked if p is not self.main and not p.skip), None)

    def _scan(self, block: str, first_line: int, out: SampleBatch) -> bool:
        """The block in one native pass over the usual dicts (what `_columns` makes of them); the
        other dicts as in `_parse_python`. False when that cannot be had (see rowscan)."""
        main = self.main
        assert main is not None
        if main.template is None or main.skip or not main.cols or main.step_idx < 0:
            return False
        rows = rowscan.scan(block, main.prefix, main.template, marker="{'")
        if rows is None:
            return False
        good_idx = rows.lines
        self.seen[main] = self.seen.get(main, 0) + len(good_idx)
        vals = rows.values
        steps = vals[main.step_idx::main.width]
        drop_columns(vals, main.width, main.drop_desc)
        cols = _samples(main, steps, vals, good_idx, first_line)
        other_idx, other_texts = rows.other_lines, rows.other_texts
        self._merge_rows(cols, main, good_idx, other_idx, other_texts,
                         self._second_rows(other_idx, other_texts, first_line), first_line, out)
        return True

    def _parse_python(self, block: str, first_line: int, out: SampleBatch) -> None:
        lines = block.split("\n")
        cand = list(compress(range(len(lines)), map(contains, lines, repeat("{'"))))
        if not cand:
            return
        texts = [lines[i] for i in cand]
        if self.main is None:  # take the first dict's shape as the usual one until another wins
            for text in texts[:100]:
                plan = self._plan(text, text.find("{'"))
                if plan is not None and not plan.skip and plan.rx.match(text, text.find("{'")):
                    self.main = plan
                    break
        main = self.main
        good_idx: list[int] = []
        rows: list = []
        if main is not None:
            ok = list(map(str.startswith, texts, repeat(main.prefix)))
            good_texts = list(compress(texts, ok))
            rows = main.rx_lines.findall("\n".join(good_texts))
            if len(rows) != len(good_texts):  # some line of that prefix has another shape: one by one
                ok = list(map(bool, map(main.rx.fullmatch, texts)))
                good_texts = list(compress(texts, ok))
                rows = main.rx_lines.findall("\n".join(good_texts))
            good_idx = list(compress(cand, ok))
            self.seen[main] = self.seen.get(main, 0) + len(good_idx)
        else:
            ok = [False] * len(cand)
        others = list(compress(range(len(cand)), map(not_, ok)))
        cols = self._columns(main, rows, good_idx, first_line) if rows else None
        if cols is None:  # the general way: rows between the other dicts, segment by segment
            self._parse_rows(main, rows, good_idx, cand, texts, others, first_line, out)
        else:
            assert main is not None
            other_idx = [cand[a] for a in others]
            other_texts = [texts[a] for a in others]
            self._merge_rows(cols, main, good_idx, other_idx, other_texts,
                             self._second_rows(other_idx, other_texts, first_line), first_line, out)

    def _second_rows(self, other_idx: list[int], other_texts: list[str],
                     first_line: int) -> tuple[_Plan, dict[int, int], tuple[list, list, list, list]] | None:
        """The dicts of the second most common shape (eval) among the other dicts, read column-wise
        like the usual ones.

        (plan, {position among the other dicts: row}, samples) or None (too few, or not all plain
        floats: one by one).
        """
        plan = self.second
        if plan is None or len(other_idx) < 8:
            return None
        ok = list(map(str.startswith, other_texts, repeat(plan.prefix)))
        stexts = list(compress(other_texts, ok))
        rows = plan.rx_lines.findall("\n".join(stexts))
        if len(rows) != len(stexts):
            ok = list(map(bool, map(plan.rx.fullmatch, other_texts)))
            rows = plan.rx_lines.findall("\n".join(compress(other_texts, ok)))
        at = list(compress(range(len(other_idx)), ok))
        if not rows:
            return None
        cols = self._columns(plan, rows, [other_idx[a] for a in at], first_line)
        if cols is None:
            return None
        self.seen[plan] = self.seen.get(plan, 0) + len(rows)
        return plan, dict(zip(at, range(len(at)), strict=True)), cols

    def _columns(self, plan: _Plan, rows: list, idx: list[int], first_line: int) -> tuple[list, list, list, list] | None:
        """The samples of all `rows` of the usual shape at once, interleaved as `_emit` adds them.

        None where that cannot be done column-wise (a kept value or the step not a plain float, a
        skipped shape): the caller then reads the rows segment by segment.
        """
        if plan.skip or not plan.cols or plan.step_idx < 0:
            return None
        n = plan.width
        flat = list(chain.from_iterable(rows)) if n > 1 else list(rows)
        try:
            steps = column_floats(flat[plan.step_idx::n])
            drop_columns(flat, plan.width, plan.drop_desc)  # columns that are not samples are never converted
            vals = list(map(float, flat))
        except ValueError:
            return None
        return _samples(plan, steps, vals, idx, first_line)

    def _merge_rows(self, cols: tuple[list, list, list, list], main: _Plan, good_idx: list[int],
                    other_idx: list[int], other_texts: list[str],
                    second: tuple[_Plan, dict[int, int], tuple[list, list, list, list]] | None,
                    first_line: int, out: SampleBatch) -> None:
        """Add the usual rows' samples (`cols`) with the other dicts' samples in line order.

        Names are recorded where `_emit` would record them (first use wins: the same order).
        """
        k = len(main.cols)
        sec_plan, sec_row, sec_cols = second if second is not None else (None, {}, cols)
        k2 = len(sec_plan.cols) if sec_plan is not None else 0

        def extend(c: tuple[list, list, list, list], a: int, b: int) -> None:
            whole = a == 0 and b == len(c[0])  # no copy of a block's million samples
            for dst, src in zip((out.metrics, out.steps, out.values, out.lines), c, strict=True):
                dst.extend(src if whole else src[a:b])

        def emit(a: int, b: int) -> None:
            self._name(main, out)
            extend(cols, a * k, b * k)

        def read(i: int, at: int) -> None:
            r = sec_row.get(at)
            if r is None:
                self._other(other_texts[at], i, first_line, out)
            else:
                self._name(sec_plan, out)
                extend(sec_cols, r * k2, (r + 1) * k2)

        merge_rows(good_idx, zip(other_idx, range(len(other_idx)), strict=True), emit, read)

    @staticmethod
    def _name(plan: _Plan | None, out: SampleBatch) -> None:
        if plan is not None:
            for metric, raw in zip(plan.metrics, plan.raws, strict=True):
                out.name(metric, raw)

    def _parse_rows(self, main: _Plan | None, rows: list, good_idx: list[int], cand: list[int], texts: list[str],
                    others: list[int], first_line: int, out: SampleBatch) -> None:
        flat = list(chain.from_iterable(rows)) if main is not None and main.width > 1 else rows
        merge_rows(good_idx, ((cand[at], texts[at]) for at in others),
                   lambda a, b: self._emit(main, flat, a, b, good_idx, first_line, out),
                   lambda i, text: self._other(text, i, first_line, out))

    def _other(self, line: str, i: int, first_line: int, out: SampleBatch) -> None:
        """A dict of another shape than the usual one (eval, glued after a bar fragment)."""
        pos = 0 if line[:2] == "{'" else line.find("{'")
        plan = self._plan(line, pos)
        m = plan.rx.match(line, pos) if plan is not None else None
        if m is not None:
            self.seen[plan] = self.seen.get(plan, 0) + 1
            self._emit(plan, list(m.groups()), 0, 1, [i], first_line, out)

    def _plan(self, line: str, pos: int) -> _Plan | None:
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

    def _emit(self, plan: _Plan | None, flat: list[str], a: int, b: int, idx: list[int], first_line: int,
              out: SampleBatch) -> None:
        """Samples of rows a..b of `flat` (row-major value texts of `plan`), rows at lines idx[a..b]."""
        if plan is None or b <= a or plan.skip or not plan.cols:
            return
        n = plan.width
        nrows = b - a
        vals = floats(flat[a * n:b * n])
        line_nos = list(map(add, idx[a:b], repeat(first_line)))
        if plan.step_idx >= 0:
            steps = vals[plan.step_idx::n]
        else:
            steps = [None] * nrows
        if None in steps:
            steps = [s if s is not None else float(self.counter(plan.metrics[0])) for s in steps]
        for metric, raw in zip(plan.metrics, plan.raws, strict=True):
            out.name(metric, raw)
        if None in vals:
            emit_rows(out, plan.metrics, steps, [vals[c::n] for c in plan.cols], line_nos)
            return
        drop_columns(vals, n, plan.drop_desc)
        emit_rows(out, plan.metrics, steps, [], line_nos, values=vals)
