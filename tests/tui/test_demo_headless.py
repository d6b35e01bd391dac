"""`losswatch demo` and `losswatch replay` without a terminal: events printed, exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_demo_without_a_terminal_runs_the_job_and_exits_0():
    p = subprocess.run([sys.executable, "-m", "losswatch", "demo"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env=ENV, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "demo: started the simulated job, pid" in out
    # the shipped rules see the divergence, the stop action stops the real job (its SIGINT handler ran)
    assert "[critical] diverging firing" in out
    assert "-> stop (diverging): stopping" in out and "-> stop (diverging): done" in out
    assert "demo: the job was stopped (exit 130)" in out
    assert "Traceback" not in p.stderr


def test_replay_headless_prints_json_events(kv_log):
    p = subprocess.run([sys.executable, "-m", "losswatch", "replay", str(kv_log), "--speed", "0"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert {"event": "run", "run": str(kv_log), "kind": "format", "format": "kv"} in events


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path):
    p = subprocess.run([sys.executable, "-m", "losswatch", "replay", str(tmp_path / "nope.log")],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert p.returncode == 2 and "nope.log" in p.stderr and "Traceback" not in p.stderr
