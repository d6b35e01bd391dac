"""Facts about the run that a log states once, in words: how many classes the model predicts.

They become samples like the text events (`meta.classes` = 10 at the line that said it), so a rule
reads them as any metric: `initial_loss_off` compares the first loss with ln C, and stays inactive
where the log never says C. Only statements whose class count is the one the logged loss is a
cross-entropy over are taken:

- Keras/TF `image_dataset_from_directory` / `flow_from_directory`: "Found 2000 files belonging to 10 classes."
- nanoGPT: "found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)" and "defaulting to
  vocab_size of GPT-2 to 50304" (a language model's loss is a cross-entropy over the vocabulary);
- a script's own statement on a line of its own: "Number of classes: 10", "num_classes = 10",
  "n_classes: 10", "num_labels=3" (lower case, the number ends the line).

Left out on purpose: detection configs echoed by mmdet (`num_classes=80,` inside a dict), detectron2
(`NUM_CLASSES: 80`), darknet cfg (`classes=80`) and YOLOv5 (`nc=80`): a detector's logged loss sums box,
objectness and class terms (YOLOv4 starts near 1000), so ln C says nothing about it; and Hugging Face
config dumps (`"vocab_size": 30522` of a model fine-tuned on 3 labels).

Only the first `HEAD_LINES` lines of a log are scanned: a script says what it trains on before the
training loop, and a million-line log should not pay a substring search per block for it (~5% of
ingest). The limit is on line numbers, not blocks, so `check` and `tail` agree whatever the chunking.
"""

from __future__ import annotations

import re

from losswatch.ingest.textscan import line_numbers, trigger_lines

# (metric, pattern with the count as its first group)
META_PATTERNS: list[tuple[str, str]] = [
    ("meta.classes", r"\bFound \d+ (?:files|images) belonging to (\d+) classes"),
    ("meta.classes", r"\bfound vocab_size = (\d+)"),
    ("meta.classes", r"\bdefaulting to vocab_size of GPT-2 to (\d+)"),
    ("meta.classes", r"(?:^|[\s\]:|>])(?:[Nn]umber of classes|num_classes|n_classes|nb_classes|num_labels)"
                     r"\s*[:=]\s*(\d+)\s*\.?\s*$"),
]

# Every match contains one of these (a block is searched with str.find first, as in events.py).
TRIGGERS: tuple[str, ...] = ("classes", "vocab_size", "num_labels")

_PATTERNS = [(m, re.compile(p)) for m, p in META_PATTERNS]

HEAD_LINES = 100_000


def scan_meta(block: str, first_line: int) -> list[tuple[int, str, float]]:
    """(line_no, metric, value) for each stated class count in a block of logical lines, in line order
    (lines after HEAD_LINES are not looked at)."""
    if first_line > HEAD_LINES:
        return []
    starts = {start for trigger in TRIGGERS for start, _ in trigger_lines(block, trigger)}
    found: list[tuple[int, str, float]] = []
    ordered = sorted(starts)
    for start, line_no in zip(ordered, line_numbers(block, first_line, ordered), strict=True):
        if line_no > HEAD_LINES:
            break
        end = block.find("\n", start)
        text = block[start:] if end < 0 else block[start:end]
        for metric, pat in _PATTERNS:
            m = pat.search(text)
            if m:
                found.append((line_no, metric, float(m.group(1))))
                break
    return found
