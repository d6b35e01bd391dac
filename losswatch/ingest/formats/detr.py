"""DETR (facebookresearch/detr main.py) output/log.txt: one JSON object per epoch.

`{"train_lr": …, "train_loss": …, "train_loss_ce": …, "test_loss": …, "test_coco_eval_bbox": [12
COCO stats], "epoch": 0, "n_parameters": …}`. Step = epoch. train_loss → loss, test_loss →
val_loss, train_lr → lr, other test_* → val.*, test_coco_eval_bbox → val.bbox.ap, val.bbox.ap50, ...
TRAP: two runs appended to one file restart the epoch counter; every record is kept as it is
(the step goes back to 0), none is merged or dropped.
"""

from __future__ import annotations

from losswatch.ingest.formats._names import json_object, json_value, train_name, val_name
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch

COCO_STATS = ("ap", "ap50", "ap75", "aps", "apm", "apl", "ar1", "ar10", "ar100", "ars", "arm", "arl")
SKIP = {"epoch", "n_parameters"}


class DetrFormat(FormatParser):
    name = "detr"
    description = "DETR output/log.txt JSON lines (train_loss, test_loss, train_lr per epoch)"
    priority = 10

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        for ln in lines[:50]:
            if '"train_loss"' in ln and ('"test_loss"' in ln or '"train_lr"' in ln or '"n_parameters"' in ln):
                d = json_object(ln)
                if d is not None and "epoch" in d:
                    return 0.95
        return 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            if '"epoch"' not in line:
                continue
            d = json_object(line)
            if d is None:
                continue
            step = json_value(d.get("epoch"))
            if step is None:
                continue
            line_no = first_line + i
            for key, raw in d.items():
                if key in SKIP:
                    continue
                if key.startswith("test_"):
                    if isinstance(raw, list):
                        self._coco(key, raw, step, line_no, out)
                        continue
                    metric = val_name(key[5:])
                else:
                    metric = train_name(key)
                v = json_value(raw)
                if v is None:
                    continue
                out.name(metric, key)
                out.add(metric, step, v, line_no)

    @staticmethod
    def _coco(key: str, values: list, step: float, line_no: int, out: SampleBatch) -> None:
        task = "bbox" if key.endswith("bbox") else "segm" if key.endswith("masks") else key[5:]
        for name, raw in zip(COCO_STATS, values, strict=False):
            v = json_value(raw)
            if v is None:
                continue
            metric = f"val.{task}.{name}"
            out.name(metric, f"{key}[{COCO_STATS.index(name)}]")
            out.add(metric, step, v, line_no)
