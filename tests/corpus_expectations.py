"""What losswatch must read from each real corpus log, checked against ../shared/corpus/truth.json.

One entry per corpus file: the format it must be detected as, and for each truth series
(train_loss, val_loss, lr, grad_norm, or an EXTRA key such as loss_scale) the losswatch metric
that must carry it. `steps` is an optional function mapping a truth step (int, float, or a dict
like {"epoch": 1, "iter": 50}) to the step losswatch reports; `skip` lists truth fields not to
compare for that series, with the reason in a comment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Series:
    metric: str
    steps: Callable[[Any], float] | None = None
    skip: tuple[str, ...] = ()


@dataclass
class Expect:
    format: str
    series: dict[str, Series] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=lambda: {
        "oom": "event.oom", "traceback": "event.traceback", "fp16_overflow": "event.overflow"})
