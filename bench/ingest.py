"""Backlog ingest: `losswatch check` on a finished ~1 M-line log vs `LC_ALL=C grep -oE <loss pattern>`.

Prints, per log kind, the best wall time of each (several runs), the ratio (target ≤ 2×), the
number of samples read and an in-process breakdown (lines → parse → store). Logs are generated
into a temporary directory by `bench/gen_logs.py`, never committed.

    python3 bench/ingest.py [--lines 1000000] [--runs 3] [--kinds hf,darknet,keras,nanogpt,kv] [--no-default-rules]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import gen_logs  # noqa: E402  (the generators mirroring the real corpus)

# What people run by hand today to pull the loss out of each kind of log.
GREP = {
    "hf": r"'loss': [0-9.]+",
    "darknet": r"[0-9.]+ avg loss",
    "keras": r" loss: [0-9.]+",
    "nanogpt": r": loss [0-9.]+",
    "kv": r"loss=[0-9.]+",
}


def generate(kind: str, n: int) -> bytes:
    return {"hf": gen_logs.hf_stdout, "darknet": gen_logs.darknet, "keras": gen_logs.keras,
            "nanogpt": gen_logs.nanogpt, "kv": gen_logs.kv}[kind](n)


# -- timing ----------------------------------------------------------------------------------------

def best_of(runs: int, fn) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system of the child processes) of `runs` calls.

    CPU time is reported too because this machine is shared: under load wall time mostly measures
    the other users, CPU time what the command itself needed.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        fn()
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_wall = min(best_wall, wall)
        best_cpu = min(best_cpu, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime))
    return best_wall, best_cpu


def grep_time(path: str, pattern: str, runs: int) -> tuple[tuple[float, float], int]:
    # Output goes to a pipe that is read: GNU grep stops at the first match when stdout is /dev/null.
    env = {**os.environ, "LC_ALL": "C"}
    out: list[bytes] = []
    t = best_of(runs, lambda: out.append(subprocess.run(["grep", "-oE", pattern, path], capture_output=True,
                                                        env=env).stdout))
    return t, out[-1].count(b"\n")


def check_time(path: str, runs: int, extra: tuple[str, ...] = ()) -> tuple[tuple[float, float], dict]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    cmd = [sys.executable, "-m", "losswatch", "check", "--json", "--fail-on", "critical", *extra, path]
    out = subprocess.run(cmd, capture_output=True, env=env, text=True)
    t = best_of(runs, lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env))
    return t, json.loads(out.stdout.splitlines()[0])


def breakdown(path: str) -> dict[str, float]:
    """In-process seconds spent splitting lines, parsing (format + events) and storing."""
    from losswatch.ingest.lines import LineSplitter
    from losswatch.ingest.reader import LogReader
    from losswatch.model import SampleBatch
    from losswatch.store import Store

    with open(path, "rb") as f:
        chunks = iter(lambda: f.read(1 << 20), b"")
        chunks = list(chunks)
    t = time.perf_counter()
    sp = LineSplitter()
    for c in chunks:
        sp.feed(c)
    t_lines = time.perf_counter() - t
    reader = LogReader()
    batches: list[SampleBatch] = []
    t = time.perf_counter()
    for c in chunks:
        batches.append(reader.feed(c))
    batches.append(reader.finish())
    t_read = time.perf_counter() - t
    store = Store()
    t = time.perf_counter()
    for b in batches:
        store.add_batch(b)
    t_store = time.perf_counter() - t
    return {"lines": t_lines, "parse": t_read - t_lines, "store": t_store, "format": reader.format_name,
            "samples": store.samples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kinds", default="hf,darknet,keras",
                    help="comma-separated: hf, darknet, keras (the target's three), nanogpt, kv")
    ap.add_argument("--no-default-rules", action="store_true",
                    help="time `check --no-default-rules` (ingest alone: no rule engine)")
    args = ap.parse_args()
    extra = ("--no-default-rules",) if args.no_default_rules else ()
    # As installed (pip compiles the .pyc files): with PYTHONDONTWRITEBYTECODE set (this machine)
    # every start would otherwise compile every module from source again (~0.1 s of CPU).
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "losswatch")], check=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}, "
          f"check {' '.join(extra) or 'with the default rules'}")
    with tempfile.TemporaryDirectory(prefix="losswatch-bench-") as tmp:
        for kind in args.kinds.split(","):
            path = os.path.join(tmp, f"{kind}.log")
            with open(path, "wb") as f:
                f.write(generate(kind, args.lines))
            size = os.path.getsize(path) / 1e6
            g, nloss = grep_time(path, GREP[kind], args.runs)
            c, summary = check_time(path, args.runs, extra)
            b = breakdown(path)
            metrics = summary["metrics"]
            print(f"{kind:8s} {args.lines} lines {size:6.1f} MB  format={summary['format']}  "
                  f"samples={sum(m['count'] for m in metrics.values())} loss={metrics.get('loss', {}).get('count')} "
                  f"(grep: {nloss})")
            print(f"         wall: grep {g[0]:6.2f}s  check {c[0]:6.2f}s  ratio {c[0] / g[0]:5.2f}x   "
                  f"cpu: grep {g[1]:6.2f}s  check {c[1]:6.2f}s  ratio {c[1] / g[1]:5.2f}x")
            print(f"         in-process: lines {b['lines']:.2f}s  parse+events {b['parse']:.2f}s  "
                  f"store {b['store']:.2f}s")


if __name__ == "__main__":
    main()
