"""Ultralytics YOLOv5 / YOLOv8 `results.csv` (space-padded header and values, one row per epoch).

The primary loss is ambiguous: only the components are logged (`train/box_loss`, `train/obj_loss`,
`train/cls_loss` or `.../dfl_loss`). Each component keeps its cleaned name (`train.box_loss`), and
`loss` / `val_loss` are the sum of that split's components (raw name `train/box_loss+...`), so loss
rules work. lr = `x/lr0` (v5) or `lr/pg0` (v8); other groups keep their own names. Step = epoch.
"""

from __future__ import annotations

from losswatch.ingest.formats.csv_table import CsvFormat, split_row
from losswatch.model import SampleBatch, clean_name, parse_number

LR0 = {"x/lr0", "lr/pg0"}


class UltralyticsCsvFormat(CsvFormat):
    name = "ultralytics_csv"
    description = "Ultralytics YOLOv5/v8 results.csv (epoch, train/box_loss, …, metrics/mAP…, x/lr0)"
    priority = 10

    def __init__(self) -> None:
        super().__init__()
        self.train_cols: list[int] = []
        self.val_cols: list[int] = []

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        for ln in lines[:5]:
            if not ln.strip():
                continue
            header = split_row(ln)
            if header and header[0] == "epoch" and (
                "train/box_loss" in header
                or (any(h.startswith("metrics/mAP") for h in header) and any(h in LR0 for h in header))
            ):
                return 0.95
            return 0.0
        return 0.0

    def map_columns(self, header: list[str]) -> list[str | None]:
        names: list[str | None] = []
        for i, h in enumerate(header):
            if i == self.step_col:
                names.append(None)
            elif h in LR0:
                names.append("lr")
            else:
                names.append(clean_name(h))
        self.train_cols = [i for i, h in enumerate(header) if h.startswith("train/") and h.endswith("_loss")]
        self.val_cols = [i for i, h in enumerate(header) if h.startswith("val/") and h.endswith("_loss")]
        return names

    def row(self, fields: list[str], line_no: int, out: SampleBatch) -> None:
        super().row(fields, line_no, out)
        step = parse_number(fields[self.step_col]) if self.step_col >= 0 else None
        if step is None:
            return
        for metric, cols in (("loss", self.train_cols), ("val_loss", self.val_cols)):
            values = [parse_number(fields[j]) for j in cols]
            if not cols or any(v is None for v in values):
                continue
            out.name(metric, "+".join(self.raw[j] for j in cols))
            out.add(metric, step, sum(values), line_no)  # type: ignore[arg-type]
