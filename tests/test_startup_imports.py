"""`check`, `formats` and `rules lint` start without importing what only other commands need.

The start-up of a `check` is part of its time on every file (the ingest target is 2× grep): the
TUI, D-Bus notifications, NVML, the action dispatcher and numpy (~0.4 s together) must not be
imported for it. Each case runs in a fresh interpreter and lists the modules it ended up with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("textual", "dbus_fast", "asyncio", "numpy", "psutil", "pynvml")
OURS = ("losswatch.act", "losswatch.tui", "losswatch.gpu", "losswatch.live", "losswatch.headless")

PROBE = """
import contextlib, io, json, sys
from losswatch.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main(json.loads(sys.argv[1]))
print(json.dumps([code, sorted(sys.modules)]))
"""


def _modules(argv: list[str]) -> tuple[int, list[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=True)
    code, modules = json.loads(out.stdout)
    return code, modules


@pytest.mark.parametrize("argv", [
    ["check", "--json", os.devnull],
    ["check", "--json", "--no-default-rules", os.devnull],
    ["formats"],
    ["rules", "lint", str(ROOT / "losswatch" / "rules" / "default.yaml")],
], ids=["check", "check-no-rules", "formats", "rules-lint"])
def test_light_commands_import_only_what_they_need(argv):
    code, modules = _modules(argv)
    assert code == 0
    heavy = [m for m in modules if m.split(".")[0] in HEAVY or m.startswith(OURS)]
    assert heavy == []
    others = [m for m in modules if m.startswith("losswatch.commands.") and m != "losswatch.commands.common"]
    assert others == [f"losswatch.commands.{argv[0]}"]


def test_help_still_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "losswatch", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0
    for name in ("tail", "run", "check", "replay", "demo", "rules", "formats", "gpu"):
        assert f"    {name}" in out.stdout
