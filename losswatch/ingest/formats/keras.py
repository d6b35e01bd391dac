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

from losswatch.ingest import rowscan
from losswatch.ingest.formats._text import NUM, emit_rows, floats, num
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name

HEADER_RE = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
HEADER_LINES_RE = re.compile(HEADER_RE.pattern, re.MULTILINE)
BAR_RE = re.compile(r"^\s*(\d+)/(\d+) (?:\[[=>.]*\]|[━─\s]+)")
PAIR_RE = re.compile(r"(?:^| - )([A-Za-z_][\w/.\-]*): (" + NUM + r")(?![\d.])")
SKIP = frozenset(("ETA", "eta"))
TIMING = r"(?: -)? ?[\d.]+\w*(?: [\d.]+\w*/step)?"
# The same for the native scanner (rowscan): HEADER_RE, and a Keras 2 final bar's start and TIMING.
_R = rowscan
HEADER_TEMPLATE = ("Epoch ", _R.INT, "/", _R.INT, _R.WS)
_DIGITS = "0123456789."
_WORD = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
BAR_TEMPLATE = (_R.WS, _R.INT, "/", _R.INT, " [", (_R.STAR, "=>."), "]", (_R.OPT, " -"), (_R.OPT, " "),
                (_R.PLUS, _DIGITS), (_R.STAR, _WORD), (_R.GROUP, (" ", (_R.PLUS, _DIGITS), (_R.STAR, _WORD), "/step")))


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
        # for the native scanner: the same line with every value a plain number (Keras 2 bars)
        self.template: rowscan.Template | None = None
        if all(k.isascii() and "ETA" not in k for k in keys):
            items: list = list(BAR_TEMPLATE)
            for k in keys:
                items += [" - " + k + ": ", rowscan.NUM]
            self.template = (*items, rowscan.WS)
        if len(self.keys) != len(keys):
            self.rx_lines = re.compile(r"(?!)")  # a shape with an ETA field is never read column-wise
            self.template = None


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
        if self.main is not None:
            got = self._scan(block)
            if got is not None and self._emit_fast(*got, first_line, out):
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
        values = floats(list(chain.from_iterable(map(itemgetter(*main.value_cols), rows))) if len(main.metrics) > 1
                        else list(map(itemgetter(main.value_cols[0]), rows)))
        return self._emit_fast(head_idx, list(map(float, epochs)), bar_idx, values, first_line, out)

    def _scan(self, block: str) -> tuple[list[int], list[float], list[int], list[float]] | None:
        """What `_parse_fast` reads of the block (header lines, their epochs, final bar lines, their
        values row by row), in two native passes; None where that cannot be had (see rowscan) or
        `_parse_fast` might read a line otherwise."""
        main = self.main
        assert main is not None
        if main.template is None:
            return None
        heads = rowscan.scan(block, "Epoch ", HEADER_TEMPLATE, strict=False)
        if heads is None or any(map(HEADER_RE.match, heads.other_texts)):
            return None
        bars = rowscan.scan(block, " - ", main.template, by_prefix=False, strict=False)
        if bars is None or not all(map(contains, bars.other_texts, repeat("ETA"))):
            return None  # a bar line of another shape: `_parse_fast` decides
        if "ETA" in block and block.count("ETA") != sum(map(str.count, bars.other_texts, repeat("ETA"))):
            return None  # "ETA" in a line the scan took (a key's name), which `_parse_fast` leaves out
        w = 2 + len(main.keys)
        vals = bars.values
        bar_idx = bars.lines
        final = list(map(eq, vals[0::w], vals[1::w]))  # n == N (INT has no leading zero: same as the texts)
        if all(final):
            del vals[0::w]
            del vals[0::w - 1]
        else:
            bar_idx = list(compress(bar_idx, final))
            vals = list(chain.from_iterable(vals[r * w + 2:(r + 1) * w] for r in compress(range(len(final)), final)))
        return heads.lines, heads.values[0::2], bar_idx, vals

    def _emit_fast(self, head_idx: list[int], epochs: list[float], bar_idx: list[int], vals: list[float | None],
                   first_line: int, out: SampleBatch) -> bool:
        """Samples of the final bars (`vals`: their values row by row) at their epochs; False
        (nothing done) where the block needs reading line by line."""
        main = self.main
        assert main is not None
        js = list(map(bisect_right, repeat(head_idx), bar_idx))  # 0: the epoch of an earlier block
        if len(set(js)) != len(js) or (js and js[0] == 0 and self.done_epoch == self.epoch):
            return False  # a second final bar in an epoch (evaluate): line by line
        epoch_values = [self.epoch, *epochs]
        if bar_idx:
            steps = list(map(epoch_values.__getitem__, js))
            if None in steps:
                return False
            k = len(main.metrics)
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
