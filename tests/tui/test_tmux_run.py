"""`losswatch run -- CMD` on a real terminal (tmux): the same screen, the job's output in the log pane,
the rules stop the diverging job, and losswatch exits with the job's status."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, require_tool
from tests.tui.test_tmux_e2e import _until


@pytest.mark.timeout(90)
def test_run_shows_the_screen_and_the_rules_stop_the_job(tmp_path):
    tmux_bin = require_tool("tmux")
    log = tmp_path / "job.log"
    status = tmp_path / "status"
    tmux = [tmux_bin, "-L", f"losswatch-run-{os.getpid()}", "-f", "/dev/null"]
    job = f"{sys.executable} -m losswatch.examples.simulated_job --interval 0.02"
    cmd = (f"cd {tmp_path} && PYTHONPATH={ROOT} {sys.executable} -m losswatch run --no-gpu --log {log} -- {job}; "
           f"echo $? > {status}; sleep 30")
    try:
        subprocess.run([*tmux, "new-session", "-d", "-s", "lw", "-x", "110", "-y", "32", cmd], check=True,
                       env={**os.environ, "TERM": "xterm-256color", "LOSSWATCH_NOTIFY": "none"})
        screen = _until(tmux, "lw", lambda t: "hf_trainer" in t and "grad_norm" in t)
        assert re.search(r"pid \d+ running", screen)  # the job losswatch started
        row = next(ln for ln in screen.splitlines() if ln.strip().startswith("loss "))
        assert any(c in row for c in "▁▂▃▄▅▆▇█")
        _until(tmux, "lw", lambda t: "diverging" in t)
        # the rule's stop reached the job: it saved its checkpoint on SIGINT and exited
        deadline = time.monotonic() + 30
        while "checkpoint saved" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "checkpoint saved" in log.read_text()
        subprocess.run([*tmux, "send-keys", "-t", "lw", "q"], check=True)  # close the screen
        deadline = time.monotonic() + 30
        while not status.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status.read_text().strip() == "130"  # the job's own status (SIGINT handler exit 130)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
