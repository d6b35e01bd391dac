"""Run the real command line, as a user would: `python -m losswatch ...` in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def losswatch(*args: str, cwd: Path | str | None = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """`losswatch ARGS` in a child process (text output captured)."""
    return subprocess.run([sys.executable, "-m", "losswatch", *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=timeout)
