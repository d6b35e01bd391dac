"""Value types shared by every layer, and the canonical metric names.

Data flows one way: ingest produces `SampleBatch`es, the store keeps them, the engine turns them into
`Alert`s, actions produce `ActionResult`s, and the faces print or draw `Event`s. Nothing here imports
anything else from losswatch.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# --- canonical names ------------------------------------------------------------------------------

CANONICAL = (
    "loss", "val_loss", "acc", "val_acc", "lr", "grad_norm", "loss_scale", "epoch", "step_time",
    "throughput",
)

# Raw names (already passed through `clean_name`) that mean a canonical metric in every format.
# Format parsers may map more names themselves where the meaning depends on the format
# (darknet's "rate" is the lr, llm.c's "trl" is the train loss).
SYNONYMS: dict[str, str] = {
    "loss": "loss", "train_loss": "loss", "train.loss": "loss", "training_loss": "loss",
    "total_loss": "loss", "lm_loss": "loss", "train.total_loss": "loss",
    "val_loss": "val_loss", "eval_loss": "val_loss", "valid_loss": "val_loss", "val.loss": "val_loss",
    "validation_loss": "val_loss", "valid.loss": "val_loss", "eval.loss": "val_loss",
    "acc": "acc", "accuracy": "acc", "train_acc": "acc", "train_accuracy": "acc", "train.acc": "acc",
    "val_acc": "val_acc", "val_accuracy": "val_acc", "eval_accuracy": "val_acc", "eval_acc": "val_acc",
    "valid_acc": "val_acc", "val.acc": "val_acc", "validation_accuracy": "val_acc",
    "lr": "lr", "learning_rate": "lr", "train.lr": "lr", "train_lr": "lr",
    "grad_norm": "grad_norm", "gnorm": "grad_norm", "gradient_norm": "grad_norm", "train.grad_norm": "grad_norm",
    "loss_scale": "loss_scale", "scale": "loss_scale",
    "epoch": "epoch",
    "step_time": "step_time", "iter_time": "step_time", "time_per_step": "step_time",
    "throughput": "throughput", "samples_per_second": "throughput", "tokens_per_second": "throughput",
    "tok.sec": "throughput", "tok_sec": "throughput",
}

_CLEAN_RE = re.compile(r"[^0-9a-z_.]+")


def clean_name(raw: str) -> str:
    """The name a metric gets when it has no canonical meaning: lower case, '/' → '.', other runs → '_'.

    `train/box_loss` → `train.box_loss`, `eval_rouge-1` → `eval_rouge_1`, `lm loss` → `lm_loss`.
    The result is a valid dotted name in the rule language.
    """
    name = raw.strip().lower().replace("/", ".")
    name = _CLEAN_RE.sub("_", name).strip("_.")
    if not name:
        return "unnamed"
    if name[0].isdigit():
        name = "m_" + name
    return name


@functools.lru_cache(maxsize=8192)
def canonical_name(raw: str) -> str:
    """Canonical name for a raw metric name: a known synonym, else the cleaned raw name.

    Cached: parsers call it for every value of every line, with a handful of distinct names.
    """
    cleaned = clean_name(raw)
    return SYNONYMS.get(cleaned, cleaned)


# --- samples --------------------------------------------------------------------------------------


class Sample(NamedTuple):
    """One data point: a value of a metric at a step, with where it came from.

    `step` is the step as the log counts it (global step where the log gives one, else a per-metric
    counter). `line_no` is the 1-based physical line of the log (ended by '\\n') that carried it.
    NaN and ±Inf are values like any other.
    """

    metric: str
    step: float
    value: float
    wall_time: float
    line_no: int


class SampleBatch:
    """Columnar samples produced from one block of lines, in the order the log wrote them.

    Columnar rather than a list of `Sample`s: a backlog of millions of lines must not mean millions
    of small objects. `raw_names` maps a canonical metric to the name the log used for it.
    """

    __slots__ = ("metrics", "steps", "values", "lines", "raw_names", "wall_time")

    def __init__(self, wall_time: float = math.nan) -> None:
        self.metrics: list[str] = []
        self.steps: list[float] = []
        self.values: list[float] = []
        self.lines: list[int] = []
        self.raw_names: dict[str, str] = {}
        self.wall_time = wall_time

    def add(self, metric: str, step: float, value: float, line_no: int) -> None:
        self.metrics.append(metric)
        self.steps.append(step)
        self.values.append(value)
        self.lines.append(line_no)

    def name(self, metric: str, raw: str) -> None:
        """Record the original name of `metric` (shown next to the canonical one)."""
        if metric not in self.raw_names:
            self.raw_names[metric] = raw

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        t = self.wall_time
        for m, s, v, ln in zip(self.metrics, self.steps, self.values, self.lines, strict=True):
            yield Sample(m, s, v, t, ln)

    def extend(self, other: SampleBatch) -> None:
        self.metrics += other.metrics
        self.steps += other.steps
        self.values += other.values
        self.lines += other.lines
        for k, v in other.raw_names.items():
            self.raw_names.setdefault(k, v)


# --- numbers --------------------------------------------------------------------------------------


def parse_number(text: str) -> float | None:
    """A float from a log token, keeping NaN/Inf ('nan', '-nan', 'inf', 'Infinity', '1.#INF').

    Returns None for something that is not a number.
    """
    try:
        return float(text)
    except ValueError:
        pass
    t = text.strip().lower().lstrip("+")
    neg = t.startswith("-")
    t = t.lstrip("-")
    if t in ("nan", "nan(ind)", "1.#qnan", "1.#ind", "-1.#ind", "nan%"):
        return math.nan
    if t in ("inf", "infinity", "1.#inf"):
        return -math.inf if neg else math.inf
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def json_number(x: float) -> float | int | str:
    """A number for JSON output: non-finite as the strings "nan", "inf", "-inf" (contract)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 2**53:
        return int(x)
    return x


# --- alerts and actions ---------------------------------------------------------------------------

SEVERITIES = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass
class Alert:
    """A rule's alert for one run, as it changes state (pending → firing → resolved)."""

    rule: str
    severity: str
    run: str
    state: str  # "pending" | "firing" | "resolved"
    step: float
    line: int
    value: float
    message: str
    advice: str = ""
    actions: list[str] = field(default_factory=list)
    wall_time: float = math.nan
    resolved_step: float | None = None


@dataclass
class ActionResult:
    """What an action did (or would do under --dry-run), for the audit log and the faces."""

    action: str
    rule: str
    run: str
    target: Any
    result: str
    detail: dict[str, Any] = field(default_factory=dict)
    wall_time: float = math.nan
