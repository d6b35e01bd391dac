"""Keras `model.fit` console output (Keras 1/2 `[====]` bars and Keras 3 `━━━━` bars).

"Epoch k/N" headers set the step (k, as printed); a bar line "n/N [====] - 9s - loss: … - val_loss: …"
is a point only in its final state (n == N): intermediate bars with an ETA are progress, not data
(a ModelCheckpoint message may be glued right after them: "acc: 0.6800Epoch 02815: val_acc did not
improve", whose '02815' is Keras' 0-based epoch, not a new epoch). Timing fields ("1s 1ms/step") and
the ETA are not metrics. Keras 3 may print an epoch's final bar twice: before validation, then again
with the val_* metrics after a ModelCheckpoint message broke the line; the second adds only what is
new. A final bar in the same epoch with other values (model.evaluate after fit) is kept under
`test.<name>`. The current epoch carries across blocks.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import chain, compress, repeat
from operator import add, contains, eq, itemgetter, not_

from losswatch.ingest.formats._text import NUM, emit_rows, floats, num
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name

HEADER_RE = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
HEADER_LINES_RE = re.compile(HEADER_RE.pattern, re.MULTILINE)
BAR_RE = re.compile(r"^\s*(\d+)/(\d+) (?:\[[=>.]*\]|[━─\s]+)")
PAIR_RE = re.compile(r"(?:^| - )([A-Za-z_][\w/.\-]*): (" + NUM + r")(?![\d.])")
SKIP = frozenset(("ETA", "eta"))
TIMING = r"(?: -)? ?[\d.]+\w*(?: [\d.]+\w*/step)?"


def _same(a: float | None, b: float) -> bool:
    return a == b or (a is not None and a != a and b != b)


class _BarPlan:
    """A final bar of one key sequence, as one regex (group 1, 2: n/N; then one group per key)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = tuple(k for k in keys if k not in SKIP)
        self.metrics = tuple(canonical_name(k) for k in self.keys)
        self.value_cols = tuple(range(2, 2 + len(self.keys)))
        self.seen = 0
        pairs = "".join(" - " + re.escape(k) + ": (" + NUM + ")" for k in keys)
        self.rx_lines = re.compile(r"^\s*(\d+)/(\d+) (?:\[[=>.]*\]|[━─]+)" + TIMING + pairs + r"\s*$",
                                   re.MULTILINE)
        if len(self.keys) != len(keys):
            self.rx_lines = re.compile(r"(?!)")  # a shape with an ETA field is never read column-wise


class KerasFormat(FormatParser):
    name = "keras"
    description = "Keras fit(): 'Epoch k/N' headers and 'n/N [====] - loss: … - val_loss: …' bars"
    priority = 10

    def __init__(self) -> None:
        self.epoch: float | None = None
        self.done_epoch: float | None = None  # epoch whose final bar was read
        self.done_values: dict[str, float] = {}  # what that bar said
        self.counter = StepCounter()
        self._names: dict[tuple[str, bool], str] = {}
        self.plans: dict[tuple[str, ...], _BarPlan] = {}
        self.main: _BarPlan | None = None

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        header = bar = 0
        for ln in lines[:2000]:
            if ln.startswith("Epoch ") and HEADER_RE.match(ln):
                header += 1
            elif " - " in ln and BAR_RE.match(ln) and PAIR_RE.search(ln):
                bar += 1
            if header and bar:
                return 1.0
        return 0.3 if header else (0.2 if bar else 0.0)

    def _learn(self, keys: tuple[str, ...]) -> None:
        """Count bar shapes; the most common one is read column-wise from then on."""
        plan = self.plans.get(keys)
        if plan is None:
            plan = self.plans[keys] = _BarPlan(keys)
        plan.seen += 1
        if self.main is None or (plan is not self.main and plan.seen > self.main.seen):
            self.main = plan

    def _metric(self, key: str, test: bool, out: SampleBatch) -> str:
        got = self._names.get((key, test))
        if got is None:
            got = canonical_name(key)
            if test:
                got = "test." + got
            self._names[(key, test)] = got
            out.name(got, key)
        elif got not in out.raw_names:
            out.name(got, key)
        return got

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "Epoch " not in block and ": " not in block:
            return
        lines = block.split("\n")
        if self.main is None or not self._parse_fast(lines, first_line, out):
            self._parse_lines(lines, first_line, out)

    def _parse_fast(self, lines: list[str], first_line: int, out: SampleBatch) -> bool:
        """The usual block (headers, final bars of the usual shape) column-wise; False to go line by line."""
        main = self.main
        assert main is not None
        n = len(lines)
        head_idx = list(compress(range(n), map(str.startswith, lines, repeat("Epoch "))))
        head_texts = [lines[i] for i in head_idx]
        found = HEADER_LINES_RE.findall("\n".join(head_texts))
        if len(found) == len(head_texts):  # every one a header: one findall (lines start "Epoch ": one each)
            epochs = list(map(itemgetter(0), found))
        else:  # some are not ("Epoch 1: val_loss improved…")
            heads = list(map(HEADER_RE.match, head_texts))
            is_head = list(map(bool, heads))
            head_idx = list(compress(head_idx, is_head))
            epochs = list(map(itemgetter(1), compress(heads, is_head)))
        bar_idx = list(compress(range(n), map(contains, lines, repeat(" - "))))
        bar_idx = list(compress(bar_idx, map(not_, map(contains, [lines[i] for i in bar_idx], repeat("ETA")))))
        rows = main.rx_lines.findall("\n".join([lines[i] for i in bar_idx]))
        if len(rows) != len(bar_idx):
            return False
        final = list(map(eq, map(itemgetter(0), rows), map(itemgetter(1), rows)))
        rows = list(compress(rows, final))
        bar_idx = list(compress(bar_idx, final))
        js = list(map(bisect_right, repeat(head_idx), bar_idx))  # 0: the epoch of an earlier block
        if len(set(js)) != len(js) or (js and js[0] == 0 and self.done_epoch == self.epoch):
            return False  # a second final bar in an epoch (evaluate): line by line
        epoch_values = [self.epoch, *map(float, epochs)]
        if rows:
            steps = list(map(epoch_values.__getitem__, js))
            if None in steps:
                return False
            k = len(main.metrics)
            vals = floats(list(chain.from_iterable(map(itemgetter(*main.value_cols), rows))) if k > 1
                          else list(map(itemgetter(main.value_cols[0]), rows)))
            line_nos = list(map(add, bar_idx, repeat(first_line)))
            if None in vals:
                emit_rows(out, main.metrics, steps, [vals[j::k] for j in range(k)], line_nos)
            else:  # `vals` is already row by row, as the samples go out
                emit_rows(out, main.metrics, steps, [], line_nos, values=vals)
            for metric, raw in zip(main.metrics, main.keys, strict=True):
                out.name(metric, raw)
            self.done_epoch = steps[-1]
            self.done_values = dict(zip(main.keys, vals[-k:], strict=True))
        self.epoch = epoch_values[-1]
        return True

    def _parse_lines(self, lines: list[str], first_line: int, out: SampleBatch) -> None:
        ms, ss, vs, ls = out.metrics, out.steps, out.values, out.lines
        for i, line in enumerate(lines):
            if line.startswith("Epoch "):
                m = HEADER_RE.match(line)
                if m:
                    self.epoch = float(m.group(1))
                    continue
            if " - " not in line:
                continue
            m = BAR_RE.match(line)
            if m is None or m.group(1) != m.group(2):
                continue  # not a bar, or an intermediate (ETA) state
            pairs = PAIR_RE.findall(line, m.end())
            if not pairs:
                continue
            test = False
            if self.epoch is not None and self.done_epoch == self.epoch:
                # Another final bar in the epoch: Keras 3 redraws the bar with the val_* metrics after
                # a message (ModelCheckpoint) broke the line; the same train values then. Different
                # values: model.evaluate() after fit.
                done = self.done_values
                if all(_same(num(v), done[k]) for k, v in pairs if k in done):
                    pairs = [(k, v) for k, v in pairs if k not in done]
                else:
                    test = True
            else:
                self.done_values = {}
                self._learn(tuple([k for k, _ in pairs]))
            self.done_epoch = self.epoch
            ln = first_line + i
            for key, val in pairs:
                if key in SKIP:
                    continue
                v = num(val)
                if v is None:
                    continue
                if not test:
                    self.done_values[key] = v
                metric = self._metric(key, test, out)
                ms.append(metric)
                ss.append(self.epoch if self.epoch is not None else float(self.counter(metric)))
                vs.append(v)
                ls.append(ln)
