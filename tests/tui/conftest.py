"""Fixtures for the TUI tests: small logs written the way a training script writes them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest


def kv_log_lines(steps: int = 120, nan_from: int | None = None, val_every: int = 20) -> list[str]:
    """`step=N loss=X lr=Y` lines of a run whose loss falls (and turns NaN from `nan_from`)."""
    out = []
    for s in range(1, steps + 1):
        loss = 0.3 + 2.0 * math.exp(-s / 30)
        if nan_from is not None and s >= nan_from:
            loss = math.nan
        out.append(f"step={s} loss={loss:.4f} lr={3e-4 * min(1, s / 10):.3e}")
        if s % val_every == 0:
            out.append(f"step={s} val_loss={loss * 1.1 + s / 400:.4f}")
    return out


@pytest.fixture
def kv_log(tmp_path: Path) -> Path:
    p = tmp_path / "train.log"
    p.write_text("\n".join(kv_log_lines()) + "\n")
    return p


@pytest.fixture
def nan_log(tmp_path: Path) -> Path:
    p = tmp_path / "nan" / "train.log"
    p.parent.mkdir()
    p.write_text("\n".join(kv_log_lines(nan_from=100)) + "\n")
    return p
