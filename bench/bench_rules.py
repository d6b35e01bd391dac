"""Benchmark: `check` with the default rule packs against ingest alone (target: at most 2x).

Usage: python3 bench/bench_rules.py [LOG] [--lines N] [--formats] [--runs K]
Without LOG it writes a `step=N loss=X lr=Y grad_norm=Z` log of N lines (default 1,000,000) to a
temporary directory; with --formats also the HF/darknet/Keras logs of bench/gen_logs.py.
Prints CPU seconds and lines/s for ingest alone and ingest + rules, the ratio and the engine's cost
per line. CPU time (not wall time), so that other load on the machine does not skew the ratio;
each figure is the best of --runs runs (default 3). "engine only" feeds the sample batches, parsed
once beforehand, to a fresh engine: the rule engine's own cost, without ingest, scaled to 1 M lines.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from losswatch.commands.common import read_whole  # noqa: E402
from losswatch.engine import build_engine  # noqa: E402
from losswatch.monitor import Monitor, SamplesAdded  # noqa: E402


def write_log(path: str, n: int, seed: int = 0) -> None:
    """A healthy-looking run: warm-up, exponential decay, per-step noise, a cosine lr."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            loss = 0.5 + 4.5 * math.exp(-i / (n / 8)) * (1 + 0.08 * rng.gauss(0, 1))
            lr = 3e-4 * min(1.0, i / 2000) * (0.5 + 0.5 * math.cos(math.pi * i / n))
            g = 1.0 + 0.2 * abs(rng.gauss(0, 1))
            f.write(f"step={i} loss={loss:.5f} lr={lr:.6g} grad_norm={g:.4f}\n")


def timed(path: str, engine) -> tuple[float, int, int]:
    m = Monitor(engine=engine)
    alerts: list = []
    m.subscribe(lambda ev: alerts.append(ev) if type(ev).__name__ == "AlertChanged" else None)
    run = m.add_run(path)
    t0 = time.process_time()
    read_whole(m, run, path)
    return time.process_time() - t0, run.reader.lines_read, len(alerts)


def engine_only(path: str) -> float:
    """CPU seconds of the default packs' engine over the log's sample batches (parsed beforehand)."""
    m = Monitor(engine=None)
    batches: list = []
    m.subscribe(lambda ev: batches.append(ev.batch) if isinstance(ev, SamplesAdded) else None)
    run = m.add_run(path)
    read_whole(m, run, path)
    engine = build_engine([], [], True)
    t0 = time.process_time()
    for b in batches:
        engine.process(path, run.store, b)
    return time.process_time() - t0


def report(label: str, path: str, runs: int = 3) -> None:
    base, lines, _ = min(timed(path, None) for _ in range(runs))
    full, _, nalerts = min(timed(path, build_engine([], [], True)) for _ in range(runs))
    eng = min(engine_only(path) for _ in range(runs))
    print(f"{label}: {lines} lines")
    print(f"  ingest alone:      {base:7.2f} s CPU  {lines / base:10.0f} lines/s")
    print(f"  ingest + rules:    {full:7.2f} s CPU  {lines / full:10.0f} lines/s  ({nalerts} alert changes)")
    print(f"  ratio:             {full / base:7.2f}x  (target <= 2x)")
    print(f"  engine per line:   {(full - base) / lines * 1e6:7.2f} us")
    print(f"  engine only:       {eng:7.2f} s CPU  = {eng / lines * 1e6:.2f} us/line; "
          f"ingest + engine only / ingest = {(base + eng) / base:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("log", nargs="?")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3, help="best of this many runs of each measurement")
    ap.add_argument("--formats", action="store_true",
                    help="also the format generators of bench/gen_logs.py (hf_stdout, darknet, keras)")
    args = ap.parse_args()
    if args.log is not None:
        report(args.log, args.log, args.runs)
        return 0
    with tempfile.TemporaryDirectory(prefix="losswatch-bench-") as tmp:
        path = os.path.join(tmp, "kv.log")
        write_log(path, args.lines)
        report("kv `step= loss= lr= grad_norm=` (generated)", path, args.runs)
        if args.formats:
            try:
                from bench import gen_logs
            except ImportError:
                print("bench/gen_logs.py is not here: only the kv log was measured")
                return 0
            for name in ("hf_stdout", "darknet", "keras"):
                gen = getattr(gen_logs, name, None)
                if gen is None:
                    continue
                p = os.path.join(tmp, f"{name}.log")
                with open(p, "wb") as f:
                    f.write(gen(args.lines))
                report(f"{name} (bench/gen_logs.py)", p, args.runs)
                os.unlink(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
