"""Benchmark: the TUI's CPU use while nothing happens, and how soon a 1 M-line backlog is usable.

Runs the real TUI in a real terminal (a tmux pane) and measures its process with psutil:
1. idle: `losswatch tail` on a log nobody writes to (follower, live loop, rules, GPU sampler and
   screen all up), CPU time over `--idle-seconds` → % of one core (target ≤ 2 %);
2. backlog: a generated log of `--lines` lines replayed as fast as possible; seconds until the
   metric rows are on screen (usable) and until the last step is shown (fully read), next to the
   seconds `losswatch check` needs for the same file.

Prints figures; asserts nothing. Needs tmux. Usage: python3 bench/bench_tui_idle.py [--lines N]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}


def write_log(path: Path, lines: int) -> None:
    with open(path, "w") as f:
        for s in range(1, lines + 1):
            f.write(f"step={s} loss={0.3 + 2.0 * math.exp(-s / (lines / 5)):.5f} lr={3e-4:.3e}\n")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def start(session: str, cmd: list[str]) -> psutil.Process:
    tmux("kill-session", "-t", session)
    shell = " ".join(cmd)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36",
                    f"cd {ROOT} && PYTHONPATH={ROOT} {shell}; sleep 600"], check=True, env=ENV)
    pid = int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for c in psutil.Process(pid).children(recursive=True):
            if "losswatch" in " ".join(c.cmdline()):
                return c
        time.sleep(0.05)
    raise SystemExit("the TUI did not start")


def wait_for(session: str, text: str, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.monotonic() - t0
        time.sleep(0.02)
    raise SystemExit(f"{text!r} never appeared")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed")
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.log"
        write_log(small, 2000)
        big = Path(tmp) / "big.log"
        write_log(big, args.lines)
        py = sys.executable

        proc = start("lw-bench-idle", [py, "-m", "losswatch", "tail", str(small)])
        wait_for("lw-bench-idle", "step 2000", 30)
        time.sleep(2)  # let the last refresh and the toasts settle
        c0 = sum(proc.cpu_times()[:2])
        t0 = time.monotonic()
        time.sleep(args.idle_seconds)
        c1 = sum(proc.cpu_times()[:2])
        idle = 100 * (c1 - c0) / (time.monotonic() - t0)
        tmux("kill-session", "-t", "lw-bench-idle")
        print(f"idle CPU, `losswatch tail` TUI on a log nobody writes to: {idle:.2f}% of one core (target <= 2%)")

        t = time.monotonic()
        subprocess.run([py, "-m", "losswatch", "check", str(big)], env=ENV, capture_output=True, check=False)
        check_s = time.monotonic() - t
        t = time.monotonic()
        start("lw-bench-big", [py, "-m", "losswatch", "replay", str(big), "--speed", "0"])
        wait_for("lw-bench-big", "loss ", 120)
        usable = time.monotonic() - t
        wait_for("lw-bench-big", f"step {args.lines}", 600)
        full = time.monotonic() - t
        tmux("kill-session", "-t", "lw-bench-big")
        print(f"{args.lines} line backlog: metric rows on screen after {usable:.2f}s, fully read after "
              f"{full:.2f}s; `losswatch check` on the same file: {check_s:.2f}s")


if __name__ == "__main__":
    main()
