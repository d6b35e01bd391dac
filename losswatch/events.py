"""What the core tells its faces (TUI, headless printer): small immutable event values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from losswatch.model import ActionResult, Alert, SampleBatch


@dataclass(frozen=True)
class SamplesAdded:
    run: str
    batch: SampleBatch


@dataclass(frozen=True)
class AlertChanged:
    alert: Alert


@dataclass(frozen=True)
class ActionDone:
    result: ActionResult


@dataclass(frozen=True)
class RunChanged:
    """Something about a run's source: format detected, file rotated/truncated, waiting for the file, ..."""

    run: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


Event = SamplesAdded | AlertChanged | ActionDone | RunChanged
