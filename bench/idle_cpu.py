"""Idle CPU of `losswatch tail --headless` on a quiet log (target ≈ 0: no busy polling with inotify).

Starts the real command on a log that stops growing, lets it read the backlog, then measures the
CPU time the process uses over `--seconds` of silence (psutil), with inotify and with `--poll`.

    python3 bench/idle_cpu.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wakeups(pid: int) -> int:
    """Context switches of all the process's threads (psutil counts only the main thread's)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def idle_cpu(path: str, seconds: float, extra: list[str]) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "losswatch", "tail", "--headless", *extra, path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        p = psutil.Process(proc.pid)
        time.sleep(3.0)  # start-up and backlog
        c0, w0 = p.cpu_times(), wakeups(proc.pid)
        time.sleep(seconds)
        c1, w1 = p.cpu_times(), wakeups(proc.pid)
        if proc.poll() is not None:
            raise SystemExit(f"tail exited early: {proc.stderr.read().decode()}")
        cpu = (c1.user + c1.system) - (c0.user + c0.system)
        switches = w1 - w0
        return 100.0 * cpu / seconds, switches
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="losswatch-idle-") as tmp:
        path = os.path.join(tmp, "train.log")
        with open(path, "w") as f:
            f.write("".join(f"step={i} loss={1 / (i + 1)}\n" for i in range(10000)))
        for name, extra in (("inotify", []), ("--poll 0.25", ["--poll"])):
            pct, switches = idle_cpu(path, args.seconds, extra)
            print(f"{name:12s} idle CPU {pct:5.2f}% over {args.seconds:.0f}s "
                  f"({switches / args.seconds:.1f} thread wake-ups/s)")


if __name__ == "__main__":
    main()
