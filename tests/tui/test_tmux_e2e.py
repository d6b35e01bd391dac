"""End to end in a real terminal: tmux runs `losswatch tail` on a log that a writer process appends to.

The screen shows the metric values, a sparkline and the alert text; `s` opens the stop dialog, `y`
confirms; the action layer stops the writer (found as the process writing the log) with SIGINT.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, require_tool

WRITER = r"""
import math, sys, time
path = sys.argv[1]
with open(path, "a", buffering=1) as f:
    step = 0
    while True:
        step += 1
        loss = 0.4 + 2.0 * math.exp(-step / 40) + 0.01 * math.sin(step)
        if step == 120:
            loss *= 6  # one bad batch: a loss spike (a warning; no rule stops the job for it)
        f.write(f"{{'loss': {loss:.4f}, 'grad_norm': 1.1, 'learning_rate': 1e-4, 'epoch': {step / 1000:.3f}, "
                f"'step': {step}}}\n")
        time.sleep(0.005 if step < 140 else 0.2)
"""


def _capture(tmux: list[str], target: str) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", target], capture_output=True, text=True).stdout


def _until(tmux, target, cond, timeout=30.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _capture(tmux, target)
        if cond(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"screen never matched; last screen:\n{text}")


@pytest.mark.timeout(90)
def test_tail_in_tmux_shows_the_run_and_stops_the_writer(tmp_path):
    tmux_bin = require_tool("tmux")
    log = tmp_path / "train.log"
    log.write_text("")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log)])
    tmux = [tmux_bin, "-L", f"losswatch-test-{os.getpid()}", "-f", "/dev/null"]
    session = "lw"
    try:
        deadline = time.monotonic() + 10
        while log.stat().st_size == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        cmd = f"cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m losswatch tail {log}; sleep 30"
        subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "100", "-y", "30", cmd], check=True,
                       env={**os.environ, "TERM": "xterm-256color"})
        screen = _until(tmux, session, lambda t: "loss spike at step 120" in t and "grad_norm" in t)
        row = next(ln for ln in screen.splitlines() if ln.strip().startswith("loss "))
        assert any(c in row for c in "▁▂▃▄▅▆▇█")  # the sparkline
        assert any(ch.isdigit() for ch in row.split()[1])  # the last value
        assert "loss_spike" in screen and "hf_trainer" in screen
        assert f"pid {writer.pid} running" in screen  # the job: the process writing the log

        subprocess.run([*tmux, "send-keys", "-t", session, "s"], check=True)
        screen = _until(tmux, session, lambda t: "Stop the training job?" in t)
        assert f"pid        {writer.pid}" in screen and "SIGINT" in screen
        subprocess.run([*tmux, "send-keys", "-t", session, "y"], check=True)
        rc = writer.wait(timeout=30)
        assert rc != 0  # KeyboardInterrupt from the SIGINT of the stop escalation
        _until(tmux, session, lambda t: f"pid {writer.pid} exited" in t)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        subprocess.run([*tmux, "kill-server"], capture_output=True)
