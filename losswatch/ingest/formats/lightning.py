"""PyTorch Lightning console output: the tqdm bar postfix `Epoch N: 100%|…| n/n [… , train_loss=…, val_loss=…]`
(or the RichProgressBar's `Epoch N/M ━━━━ n/n … train_loss: … val_loss: …`).

Only a bar in its final state (100%, n == N) is a point, at step N (the epoch as printed). A bar
without a total (training data without a length, e.g. an IterableDataset: Lightning's
`Epoch N: |          | n/? [`, older Lightning's plain tqdm `Epoch N: : nit [`) shows no final state;
the frames of it that reach the parser are its end states (a physical line's last frame, drawn just
before the validation bar or at the end, and the completed bars the line splitter hands over), so
each with n > 0 is a point. (Known limit: validation inside an epoch, `val_check_interval` < 1, ends
the physical line mid-epoch, and that frame is read as the epoch's.) The epoch's
final bar may be printed again (after "`Trainer.fit` stopped"): a second final bar of the same epoch
adds nothing. A value is read only when it is complete, i.e. followed by ',' or ']': the last field
of a bar cut off at the terminal width ("val_loss=0.417, val_ac" glued to the next message) is not a
value. The results table of `trainer.test()`/`validate()` ("Test metric  DataLoader 0" then
"test_loss  0.424…" rows) gives one point per metric at the last epoch.
Bar names: `train_loss` → `loss`; the bar's own running `loss` becomes `loss_running` when
`train_loss` is also shown; `train_loss_epoch` is the loss when neither is; `v_num` is not a metric.

Validation values are read at the epoch they belong to. The bar's postfix keeps showing the last
validation's values while the next epoch trains. Where the log shows the validation bar ("Validation
DataLoader 0: …" lines: tqdm in a file or a terminal capture of every frame), epoch N+1's first final
frame is drawn before its validation and still carries epoch N's val_*: a val_* value there equal to
what the previous epoch's bar showed is carried over, not a point, and the redraw after epoch N+1's
validation gives its own (even when equal). Where the log shows no validation bar (a terminal that
kept only each epoch's last state), the first final frame is already the one after validation. tqdm redraws
the bar after validation and then resets it for the next epoch on the same physical line; that
end state is a middle '\r' frame, which the line splitter hands over as a completed bar
(`LineSplitter.bar_ends`), so it reaches `parse` as a line of its own.
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._text import NUM, num
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, canonical_name

BAR_RE = re.compile(r"^Epoch (\d+):\s+(\d+)%\|")
# a bar without a total: "Epoch 0: |   | 12/? [" (Lightning 2), "Epoch 0: 12it [" (tqdm's own; "Epoch 1: : 12it ["
# after set_description, as Lightning 1.x names each epoch: tqdm adds ': ' twice when there is no total)
NO_TOTAL_RE = re.compile(r"^Epoch (\d+):(?: :)? (?:\|[^|]*\| )?(\d+)(?:/\?|it) \[")
PAIR_RE = re.compile(r"(?:, |\[)([A-Za-z_][\w/.\-]*)=(" + NUM + r")(?=[,\]])")
BANNER_RE = re.compile(r"^(?:LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES|GPU available: |`Trainer\.fit` stopped"
                       r"|\s*\| Name\s+\| Type)")
SKIP = frozenset(("v_num",))
VAL_BAR_RE = re.compile(r"Validation(?: DataLoader \d+)?: ")
# RichProgressBar (the default where `rich` is installed): "Epoch 3/9 ━━━━ 8/8 0:00:00 • 0:00:00 51.2it/s
# v_num: 0 train_loss: 0.291 val_loss: 0.233"; a file gets only its last state. In a narrow terminal
# the metrics wrap onto the next line, indented ("      val_loss: 0.036 val_acc: 0.984"): read as the bar's.
# (Known limit: the wrap of the final bar drawn before the last validation still shows the previous
# validation's val_*; with no validation bar in the log to tell, it is read at the bar's epoch.)
RICH_RE = re.compile(r"^Epoch (\d+)/\d+ +[━╸╺─ ]+ (\d+)/(\d+) [^a-zA-Z]*?(?:[\d.]+(?:it/s|s/it))?(?= |$)")
RICH_PAIR_RE = re.compile(r" ([A-Za-z_][\w/.\-]*): (" + NUM + r")(?= |$)")
TABLE_HEAD_RE = re.compile(r"^[\s│┃|]*(?:Test|Validate) metric\b")
TABLE_ROW_RE = re.compile(r"^[\s│┃|]*([A-Za-z_][\w/.\-]*)[\s│┃|]+(" + NUM + r")[\s│┃|]*$")


class LightningFormat(FormatParser):
    name = "lightning"
    description = "PyTorch Lightning tqdm console: 'Epoch N: 100%|…| […, train_loss=…, val_loss=…]'"
    priority = 10

    def __init__(self) -> None:
        self.last_epoch: float | None = None
        self.epoch_values: dict[str, float] = {}  # what the last epoch's final bar already gave
        self.carried: set[str] = set()  # val_* shown at this epoch's first final frame: the previous epoch's
        self.in_table = False
        self.val_bars = False  # the log shows validation bars: first final frames predate validation
        self.rich_final: tuple[float, frozenset[str]] | None = None  # the last line: a final Rich bar (epoch, keys)

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        banner = 0
        for ln in lines[:2000]:
            if ln.startswith("Epoch ") and (BAR_RE.match(ln) or RICH_RE.match(ln) or NO_TOTAL_RE.match(ln)):
                return 1.0
            if BANNER_RE.match(ln):
                banner += 1
        return 0.45 if banner >= 2 else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        if "Epoch " not in block and " metric" not in block and not self.in_table and self.rich_final is None and (
                self.val_bars or "Validation" not in block):
            return
        for i, line in enumerate(block.split("\n")):
            rich_final, self.rich_final = self.rich_final, None
            if not line.startswith("Epoch "):
                if rich_final is not None and line.startswith("    "):
                    self._rich_continuation(line, rich_final, first_line + i, out)
                    continue
                if not self.val_bars and VAL_BAR_RE.match(line):
                    self.val_bars = True
                if self.in_table or " metric" in line:
                    self._table(line, first_line + i, out)
                continue
            m = BAR_RE.match(line)
            if m is not None:
                if m.group(2) != "100":
                    continue
                start = line.find("[", m.end())
                pairs = PAIR_RE.findall(line, start) if start >= 0 else []
            elif (m := NO_TOTAL_RE.match(line)) is not None:
                if m.group(2) == "0":
                    continue
                pairs = PAIR_RE.findall(line, m.end() - 1)
            else:
                m = RICH_RE.match(line)
                if m is None or m.group(2) != m.group(3):
                    continue
                pairs = RICH_PAIR_RE.findall(line, m.end())
                self.rich_final = (float(m.group(1)), frozenset(k for k, _ in pairs))
            if pairs:
                self._emit(float(m.group(1)), pairs, {k for k, _ in pairs}, first_line + i, out)

    def _rich_continuation(self, line: str, bar: tuple[float, frozenset[str]], line_no: int,
                           out: SampleBatch) -> None:
        """The metrics of a final Rich bar wrapped at the terminal width onto the next line (indented)."""
        pairs = RICH_PAIR_RE.findall(line)
        if pairs and line[:line.find(pairs[0][0])].strip() == "":  # only pairs start the line
            epoch, keys = bar
            self._emit(epoch, pairs, keys | {k for k, _ in pairs}, line_no, out)

    def _emit(self, epoch: float, pairs: list[tuple[str, str]], keys: set[str] | frozenset[str], line_no: int,
              out: SampleBatch) -> None:
        # The same epoch's final bar printed again adds only what is new in it: a repeat after
        # `Trainer.fit stopped` adds nothing, a redraw after the last validation adds val_*.
        repeat = epoch == self.last_epoch
        previous = self.epoch_values
        if not repeat:
            self.last_epoch = epoch
            self.epoch_values, self.carried = {}, set()
        has_train = "train_loss" in keys or "loss" in keys
        for key, val in pairs:
            if key in SKIP:
                continue
            v = num(val)
            if v is None:
                continue
            if key == "loss" and "train_loss" in keys:
                metric = "loss_running"
            elif key == "train_loss_epoch" and not has_train:
                metric = "loss"
            else:
                metric = canonical_name(key)
            if repeat:
                if metric in self.carried:
                    self.carried.discard(metric)  # redrawn after this epoch's validation: its own value
                elif metric in self.epoch_values and _same(self.epoch_values[metric], v):
                    continue
            elif self.val_bars and metric.startswith("val") and metric in previous and _same(previous[metric], v):
                self.epoch_values[metric] = v
                self.carried.add(metric)  # still the previous validation's value
                continue
            self.epoch_values[metric] = v
            out.name(metric, key)
            out.add(metric, epoch, v, line_no)

    def _table(self, line: str, line_no: int, out: SampleBatch) -> None:
        """A row of the results table printed by trainer.test()/validate()."""
        if TABLE_HEAD_RE.match(line):
            self.in_table = True
            return
        if not line.strip():
            self.in_table = False
            return
        m = TABLE_ROW_RE.match(line)
        if m:
            v = num(m.group(2))
            if v is not None:
                metric = canonical_name(m.group(1))
                out.name(metric, m.group(1))
                out.add(metric, self.last_epoch if self.last_epoch is not None else 0.0, v, line_no)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)
