"""Benchmark: from the NaN line being written to SIGINT delivered to the job (target: median ≤ 200 ms).

Usage: python3 bench/bench_stop_latency.py [--runs N] [--mode tail|run|both] [--poll SECONDS]

A small job writes healthy nanoGPT-style lines, then waits for a trigger; the benchmark triggers it
once losswatch has read those lines, the job stamps the time and writes a NaN line, and its SIGINT
handler stamps the time the signal arrived. Both stamps come from the job itself (one clock).
- tail: the job writes the log file itself, `losswatch tail --headless LOG` follows it (inotify unless
  --poll) and finds the job as the log's writer;
- run: `losswatch run -- JOB` reads the job's stdout through a pipe.
Prints each run's latency and the median / p90 / max per mode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

JOB = textwrap.dedent(r'''
    import os, signal, sys, time
    mark, trigger, log = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else None)
    def on_int(sig, frame):
        t = time.time()
        with open(mark, "a") as f:
            f.write(f"sigint {t:.6f}\n")
        sys.exit(0)
    signal.signal(signal.SIGINT, on_int)
    out = open(log, "a") if log else sys.stdout
    for i in range(1, 51):
        out.write(f"iter {i}: loss {3.0 - i * 0.01:.4f}, time 10.00ms, mfu 5.00%\n")
    out.flush()
    while not os.path.exists(trigger):
        time.sleep(0.002)
    t = time.time()
    out.write("iter 51: loss nan, time 10.00ms, mfu 5.00%\n")
    out.flush()
    with open(mark, "a") as f:
        f.write(f"nan {t:.6f}\n")
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.01)
''')


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def one(mode: str, tmp: Path, i: int, poll: float | None) -> float | None:
    d = tmp / f"{mode}{i}"
    d.mkdir()
    job, mark, trigger, log = d / "job.py", d / "mark", d / "go", d / "train.log"
    job.write_text(JOB)
    (d / "rules.yaml").write_text(f"actions:\n  audit_log: {d / 'audit.jsonl'}\n  notify: {{via: none}}\n"
                                  "  stop: {grace: 5s}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "losswatch"]
    procs = []
    ready = threading.Event()
    try:
        if mode == "tail":
            log.write_text("")
            jp = subprocess.Popen([sys.executable, str(job), str(mark), str(trigger), str(log)],
                                  start_new_session=True)
            procs.append(jp)
            extra = ["--poll", "--poll-interval", str(poll)] if poll else []
            lw = subprocess.Popen(base + ["tail", "--headless", str(log), "--rules", str(d / "rules.yaml"), *extra],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            procs.append(lw)

            def read() -> None:  # losswatch has read the healthy lines once it has named their format
                for line in lw.stdout:
                    ev = json.loads(line)
                    if ev.get("event") == "run" and ev.get("kind") == "format":
                        ready.set()

            threading.Thread(target=read, daemon=True).start()
            ok = ready.wait(30)
        else:
            lw = subprocess.Popen(base + ["run", "--log", str(log), "--rules", str(d / "rules.yaml"), "--",
                                          sys.executable, str(job), str(mark), str(trigger)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(lw)
            ok = wait_for(lambda: log.exists() and log.stat().st_size > 0, 30)
            time.sleep(0.3)  # the monitor has fed what the pump logged (no event marks it in run mode)
        if not ok:
            return None
        trigger.write_text("")
        if not wait_for(lambda: mark.exists() and "sigint" in mark.read_text(), 15):
            return None
        stamps = dict(line.split() for line in mark.read_text().splitlines())
        return float(stamps["sigint"]) - float(stamps["nan"])
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mode", choices=["tail", "run", "both"], default="both")
    ap.add_argument("--poll", type=float, default=None, help="tail with polling at this interval, not inotify")
    args = ap.parse_args()
    modes = ["tail", "run"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="losswatch-bench-") as tmp:
        for mode in modes:
            lat = []
            for i in range(args.runs):
                x = one(mode, Path(tmp), i, args.poll)
                print(f"{mode} run {i + 1}: " + ("no SIGINT (failed)" if x is None else f"{x * 1000:.1f} ms"),
                      flush=True)
                if x is not None:
                    lat.append(x * 1000)
            if lat:
                lat.sort()
                p90 = lat[min(len(lat) - 1, int(round(0.9 * (len(lat) - 1))))]
                how = f"poll {args.poll}s" if (mode == "tail" and args.poll) else ("inotify" if mode == "tail" else "pipe")
                print(f"{mode} ({how}): NaN line written -> SIGINT delivered: median {statistics.median(lat):.1f} ms, "
                      f"p90 {p90:.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} runs (target: median <= 200 ms)")


if __name__ == "__main__":
    main()
