"""fairseq training logs: legacy `simple` text, the newer logging-prefixed text, and `json` format.

- train: `| epoch 001:    200 / 1374 loss=14.351, ppl=…, wps=…, num_updates=190, lr=…, gnorm=3.9,
  clip=0.000, oom=0.000, loss_scale=0.062, wall=1061` (also after `| INFO | train_inner | `);
- valid: `| epoch 046 | valid on 'valid' subset | loss 5.99 | nll_loss 4.25 | … | num_updates 12854`;
- epoch summary: `| epoch 001 | loss 13.2 | … | num_updates 1374` → `train_epoch.*` (an epoch mean,
  kept apart from the per-update `loss`);
- json: `{"epoch": 1, "update": 0.05, "loss": "9.1", …, "num_updates": "100"}`, valid records with
  `valid_` keys, epoch summaries with `train_` keys (bare or after `| INFO | train_inner | `);
- `| WARNING: overflow detected, setting loss scale to: X` → `overflow_loss_scale` X (the event
  itself comes from the shared event scan). Kept apart from `loss_scale`, which is the train
  lines' own `loss_scale=` field, so that one series has one source and one precision.

Step = num_updates (not the batch counter, not the epoch: an epoch can be validated twice).
`oom=0.000` is fairseq's OOM counter (kept as `oom_count`), not an OOM event.
"""

from __future__ import annotations

import json
import re

from losswatch.ingest.formats._names import NUM, json_value, train_name, val_name
from losswatch.ingest.formats.base import FormatParser
from losswatch.model import SampleBatch, clean_name, parse_number

INNER_RE = re.compile(r"\bepoch \d+:\s+\d+\s*/\s*\d+\s+(.*)")
VALID_RE = re.compile(r"\bepoch \d+ \| valid on '([^']*)' subset \|(.*)")
EPOCH_RE = re.compile(r"\bepoch \d+ \| (?!valid on)(.*)")
KV_RE = re.compile(r"([A-Za-z_][\w.]*)=([^,\s]+)")
SCALE_RE = re.compile(r"overflow detected, (?:ignoring gradient, )?setting loss scale to:?\s*(" + NUM + ")")
DETECT_RE = re.compile(r"\| epoch \d+:\s+\d+\s*/\s*\d+ |\| epoch \d+ \| valid on '|\| epoch \d+ \| loss "
                       r"|overflow detected, (?:ignoring gradient, )?setting loss scale to|fairseq_cli\.train|fairseq\.trainer")
SKIP = {"epoch", "update", "num_updates", "ups", "wpb", "bsz", "wall", "train_wall", "gb_free", "cuda_gb_free",
        "best_loss_epoch"}
NAMES = {"oom": "oom_count", "wps": "throughput"}
VAL_SUBSETS = {"valid", "val", "validation", "dev"}


class FairseqFormat(FormatParser):
    name = "fairseq"
    description = "fairseq train log (| epoch 001: N / M loss=…, num_updates=…; valid on 'valid' subset; json)"
    priority = 10

    def __init__(self) -> None:
        self.step = 0.0

    @classmethod
    def detect(cls, lines: list[str]) -> float:
        text = "\n".join(lines)
        if '"num_updates"' in text or '"valid_num_updates"' in text:
            return 0.9
        if "| epoch" not in text and "overflow detected" not in text and "fairseq" not in text:
            return 0.0
        found = DETECT_RE.findall(text)
        if len(found) >= 2 or any("valid on '" in f or ":" in f for f in found):
            return 0.9
        return 0.6 if found else 0.0

    def parse(self, block: str, first_line: int, out: SampleBatch) -> None:
        for i, line in enumerate(block.split("\n")):
            line_no = first_line + i
            brace = line.find("{")
            if brace >= 0 and "num_updates" in line:
                self._json(line[brace:], line_no, out)
                continue
            if "epoch " in line:
                m = INNER_RE.search(line)
                if m:
                    pairs = KV_RE.findall(m.group(1))
                    self._pairs(pairs, line_no, out, prefix="")
                    continue
                m = VALID_RE.search(line)
                if m:
                    subset = m.group(1)
                    prefix = "val" if subset in VAL_SUBSETS else clean_name(subset)
                    self._pairs(_bar_pairs(m.group(2)), line_no, out, prefix=prefix)
                    continue
                m = EPOCH_RE.search(line)
                if m:
                    self._pairs(_bar_pairs(m.group(1)), line_no, out, prefix="train_epoch")
                    continue
            if "overflow detected" in line:
                m = SCALE_RE.search(line)
                if m:
                    v = parse_number(m.group(1))
                    if v is not None:
                        out.name("overflow_loss_scale", "setting loss scale to")
                        out.add("overflow_loss_scale", self.step, v, line_no)

    def _pairs(self, pairs: list[tuple[str, str]], line_no: int, out: SampleBatch, prefix: str) -> None:
        for key, raw in pairs:
            if key in ("num_updates", f"{prefix}_num_updates"):
                v = parse_number(raw)
                if v is not None:
                    self.step = v
        for key, raw in pairs:
            if key in SKIP or key.endswith("num_updates"):
                continue
            v = parse_number(raw)
            if v is None:
                continue
            if prefix == "":
                metric = NAMES.get(key) or train_name(key)
            elif prefix == "val":
                metric = val_name(key)
            else:
                metric = f"{prefix}.{clean_name(key)}"
            out.name(metric, key)
            out.add(metric, self.step, v, line_no)

    def _json(self, text: str, line_no: int, out: SampleBatch) -> None:
        try:
            d = json.loads(text)
        except ValueError:
            return
        if not isinstance(d, dict):
            return
        keys = list(d)
        if any(k.startswith("valid_") for k in keys):
            prefix, strip = "val", "valid_"
        elif "train_loss" in d or "train_num_updates" in d:
            prefix, strip = "train_epoch", "train_"
        else:
            prefix, strip = "", ""
        pairs = []
        for k, raw in d.items():
            v = json_value(raw)
            if v is None:
                continue
            pairs.append((k[len(strip):] if strip and k.startswith(strip) else k, repr(v)))
        self._pairs(pairs, line_no, out, prefix)


def _bar_pairs(text: str) -> list[tuple[str, str]]:
    """`| loss 5.99 | nll_loss 4.25 |` → [("loss", "5.99"), ("nll_loss", "4.25")]."""
    pairs = []
    for field in text.split("|"):
        key, _, raw = field.strip().rpartition(" ")
        if key and raw:
            pairs.append((key.strip(), raw))
    return pairs
