"""Real child processes for the action tests: small Python "training jobs" with known signal behaviour.

Each job prints `ready <pid>...` on stdout once its signal handlers are installed (and its workers are
up), so a test waits for that line instead of sleeping.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

# A job that handles SIGINT like a training loop that saves a checkpoint, or ignores the signals
# named in IGNORE, with WORKERS child processes that behave the same way.
JOB = textwrap.dedent(r'''
    import os, signal, sys, time
    ignore = [s for s in os.environ.get("IGNORE", "").split(",") if s]
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        ignore += [s for s in os.environ.get("WORKER_IGNORE", "").split(",") if s]
    workers = int(os.environ.get("WORKERS", "0"))
    mark = os.environ.get("MARK")
    def on_int(sig, frame):
        print("checkpoint saved", flush=True)
        if mark:
            with open(mark, "a") as f:
                f.write(f"{os.getpid()} SIGINT {time.time():.6f}\n")
        sys.exit(3)
    for name in ignore:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    if "SIGINT" not in ignore:
        signal.signal(signal.SIGINT, on_int)
    kids = []
    if len(sys.argv) < 2 or sys.argv[1] != "worker":
        for _ in range(workers):
            kids.append(__import__("subprocess").Popen([sys.executable, __file__, "worker"],
                                                       stdout=__import__("subprocess").PIPE))
        pids = [str(os.getpid())]
        for k in kids:
            pids.append(k.stdout.readline().split()[1].decode())
        print("ready " + " ".join(pids), flush=True)
    else:
        print(f"ready {os.getpid()}", flush=True)
    while True:
        time.sleep(0.05)
''')


def write_job(tmp: Path) -> Path:
    path = tmp / "job.py"
    path.write_text(JOB)
    return path


def spawn(tmp: Path, new_group: bool = True, **env: str) -> tuple[subprocess.Popen, list[int]]:
    """Start the job; return it and the pids it reported (its own first, then its workers)."""
    script = tmp / "job.py"
    if not script.exists():
        write_job(tmp)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, **env}, process_group=0 if new_group else None)
    line = proc.stdout.readline().decode()
    assert line.startswith("ready"), line
    return proc, [int(p) for p in line.split()[1:]]


def wait_until(cond, timeout: float = 10.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return bool(cond())


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# A "training" script: prints nanoGPT-style `iter N: loss X, ...` (to stdout, or appended to LOG), diverges to NaN at
# NAN_AT, saves a checkpoint on SIGINT (unless IGNORE lists it), runs WORKERS worker processes.
# MARK gets "<pid> nan <time>" when the first NaN line is written and "<pid> SIGINT <time>" on SIGINT.
TRAIN = textwrap.dedent(r'''
    import math, os, signal, subprocess, sys, time
    ignore = [s for s in os.environ.get("IGNORE", "").split(",") if s]
    nan_at = int(os.environ.get("NAN_AT", "30"))
    steps = int(os.environ.get("STEPS", "2000"))
    delay = float(os.environ.get("DELAY", "0.01"))
    mark = os.environ.get("MARK")
    log = os.environ.get("LOG")
    worker = len(sys.argv) > 1 and sys.argv[1] == "worker"
    def note(what):
        if mark:
            with open(mark, "a") as f:
                f.write(f"{os.getpid()} {what} {time.time():.6f}\n")
    def on_int(sig, frame):
        note("SIGINT")
        if not worker:
            print("checkpoint saved", flush=True)
        sys.exit(3)
    for name in ignore:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    if "SIGINT" not in ignore:
        signal.signal(signal.SIGINT, on_int)
    if worker:
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
    kids = [subprocess.Popen([sys.executable, __file__, "worker"], stdout=subprocess.PIPE)
            for _ in range(int(os.environ.get("WORKERS", "0")))]
    for k in kids:
        k.stdout.readline()
    print("workers " + " ".join(str(k.pid) for k in kids), file=sys.stderr, flush=True)
    out = open(log, "a", buffering=1) if log else sys.stdout
    for step in range(1, steps + 1):
        loss = 2.0 / math.sqrt(step) if step < nan_at else float("nan")
        if step == nan_at:
            note("nan")
        out.write(f"iter {step}: loss {loss:.4f}, time 10.00ms, mfu 5.00%\n")
        out.flush()
        time.sleep(delay)
    print("finished", flush=True)
''')


def write_train(tmp: Path) -> Path:
    path = tmp / "train.py"
    path.write_text(TRAIN)
    return path
