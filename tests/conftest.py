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


def require_native(module, what: str) -> None:
    """A test of an optional C extension: skip where it is not built, except under CI (which builds it)."""
    if module is None:
        if under_ci():
            pytest.fail(f"{what} was not built by pip install")
        pytest.skip(f"{what} is not built (no C compiler at install time)")


def require_module(name: str):
    """Import a Python module a test needs; skip without it, except under CI, where it fails the run."""
    if under_ci():
        import importlib

        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not here")
    return CORPUS


@pytest.fixture(scope="session")
def truth(corpus: Path) -> dict:
    return json.loads((corpus / "truth.json").read_text())


@pytest.fixture(autouse=True, scope="session")
def _actions_stay_in_the_sandbox(tmp_path_factory):
    """Audit logs of every losswatch started by a test go to a temp dir, not ~/.local/state, and no
    notification reaches the developer's terminal or desktop (tests that check them opt back in)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    mp.setenv("LOSSWATCH_NOTIFY", "none")
    yield
    mp.undo()
