"""Shared fixtures: the real-log corpus in ../shared (skipped cleanly when absent), and tool checks.

A test that needs a system tool (tmux, dbus-daemon, ...) calls `require_tool`: it skips with the
reason when the tool is missing, except under CI (CI=true), where a missing tool fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if under_ci():
            pytest.fail(f"{name} is required under CI but is not installed")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not here")
    return CORPUS


@pytest.fixture(scope="session")
def truth(corpus: Path) -> dict:
    return json.loads((corpus / "truth.json").read_text())
