"""Generic CSV metric tables: a header row, then one row per logging event (Lightning CSVLogger...).

Rows may be sparse (Lightning writes lr rows, train rows and val rows separately): an empty cell
is no sample. Step = the `step` / `global_step` / `iteration` / `iter` column, else `epoch`, else
a per-metric counter. Column names:
- a column that is a known synonym (`train_loss`, `val_loss`, `lr`, ...) gets its canonical name;
- otherwise, the only train loss column (`train/nll_loss`) is `loss`, the only validation loss
  column (`val/rmse_loss`) is `val_loss` (of `train_loss_step`/`train_loss_epoch` the `_step` one
  is the train loss), the first `lr-*` / `lr/*` column (`lr-Adam`) is `lr`;
- every other column keeps its cleaned name. Timing columns are not metrics.
A row of non-numbers after the header is a new header (a resumed run appending its own table).
"""

from __future__ import annotations

import re

from losswatch.ingest.formats._names import is_timing
from losswatch.ingest.formats.base import FormatParser, StepCounter
from losswatch.model import SampleBatch, canonical_name, clean_name, parse_number

STEP_COLUMNS = ("step", "global_step", "trainer/global_step", "iteration", "iter", "num_updates", "epoch")
HEADER_FIELD = re.compile(r"^[A-Za-z_][\w/\-.:() @\[\]]*$")
TRAIN_PREFIX = re.compile(r"^(?:train|training)[/_.\-]", re.IGNORECASE)
VAL_PREFIX = re.compile(r"^(?:val|valid|validation|eval|test)[/_.\-]", re.IGNORECASE)
LR_PREFIX = re.compile(r"^(?:lr|learning_rate)[-/_]", re.IGNORECASE)


def is_header(fields: list[str]) -> bool:
    return len(fields) >= 2 and all(HEADER_FIELD.match(f) for f in fields)


def is_data(fields: list[str], width: int) -> bool:
    return len(fields) == width and all(f == "" or parse_number(f) is not None for f in fields)


def _unique(names: list[str], drop_suffix: str) -> list[str]:
    """The candidates, or those without `drop_suffix` when that leaves exactly one."""
    kept = [n for n in names if not n.endswith(drop_suffix)]
    return kept if len(kept) == 1 else names


def split_row(line: str) -> list[str]:
    return [f.strip() for f in line.split(",")]


class CsvFormat(FormatParser):
    name = "csv"
    description = "CSV metric table: header row + rows, sparse rows allowed (Lightning CSVLogger metrics.csv)"
    priority = -10

    def __init__(self) -> None:
        self.columns: list[str | None] = []
        self.raw: list[str] = []
        self.step_col = -1
        self.counter = StepCounter()

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        rows = [ln for ln in lines[:50] if ln.strip()]
        if not rows or "," not in rows[0]:
            return 0.0
        header = split_row(rows[0])
        if not is_header(header):
            return 0.0
        data = rows[1:6]
        if not data:
            return 0.3
        if all(is_data(split_row(r), len(header)) for r in data):
            return 0.6
        return 0.0

    def map_columns(self, header: list[str]) -> list[str | None]:
        """Metric name per column (None: not a metric, e.g. the step column or a timing)."""
        names: list[str | None] = []
        # Lightning's on_step+on_epoch logging gives `train_loss_step` and `train_loss_epoch`:
        # the per-step one is the train curve, the per-epoch one the validation curve.
        train_losses = _unique([h for h in header if TRAIN_PREFIX.match(h) and "loss" in h.lower()], "_epoch")
        val_losses = _unique([h for h in header if VAL_PREFIX.match(h) and "loss" in h.lower()], "_step")
        canon = {canonical_name(h) for h in header}
        lr_done = "lr" in canon
        for i, h in enumerate(header):
            c = canonical_name(h)
            if i == self.step_col or is_timing(h):
                names.append(None)
            elif c in ("loss", "val_loss", "lr", "acc", "val_acc", "grad_norm"):
                names.append(c)
            elif "loss" not in canon and train_losses == [h]:
                names.append("loss")
            elif "val_loss" not in canon and val_losses == [h]:
                names.append("val_loss")
            elif not lr_done and LR_PREFIX.match(h):
                names.append("lr")
                lr_done = True
            else:
                names.append(clean_name(h) if c == clean_name(h) else c)
        return names

    def _header(self, fields: list[str]) -> None:
        self.raw = fields
        lower = [f.lower() for f in fields]
        self.step_col = next((lower.index(k) for k in STEP_COLUMNS if k in lower), -1)
        self.columns = self.map_columns(fields)

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if "," not in line:
                continue
            fields = split_row(line)
            if not self.columns or (len(fields) != len(self.columns) or parse_number(fields[0] or "0") is None):
                if is_header(fields):
                    self._header(fields)
                    continue
            if len(fields) != len(self.columns):
                continue
            self.row(fields, first_line + i, out)

    def row(self, fields: list[str], line_no: int, out: SampleBatch) -> None:
        step = None
        if self.step_col >= 0 and fields[self.step_col]:
            step = parse_number(fields[self.step_col])
        for j, metric in enumerate(self.columns):
            if metric is None or not fields[j]:
                continue
            v = parse_number(fields[j])
            if v is None:
                continue
            out.name(metric, self.raw[j])
            out.add(metric, step if step is not None else float(self.counter(metric)), v, line_no)
